// Package controllers holds ovnet-controller's controllers, one package per
// concern (allocation, nat, loadbalancer, ovntranslate). The permissions of
// each reconciler are kubebuilder markers beside it; `make generate` turns
// them into manifests/rbac/controller/role.yaml. These are the ones of the
// manager itself.
package controllers

// Leader election (--leader-elect) and events.
// +kubebuilder:rbac:groups=coordination.k8s.io,resources=leases,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
// +kubebuilder:rbac:groups=core.apinet.ironcore.dev,resources=networkids;natgatewayautoscalers;nodes;instances,verbs=get;list;watch
