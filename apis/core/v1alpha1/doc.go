// Package v1alpha1 holds the ironcore-net API (group core.apinet.ironcore.dev,
// version v1alpha1) as CustomResourceDefinitions: the types, their validation
// (OpenAPI and CEL markers that controller-gen turns into CRD schemas) and the
// well-known labels, finalizers and condition reasons shared by the controllers.
//
// +kubebuilder:object:generate=true
// +groupName=core.apinet.ironcore.dev
package v1alpha1
