package v1alpha1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// NetworkIDSpec is the desired state of a NetworkID.
type NetworkIDSpec struct {
	// ClaimRef names the Network holding the VNI.
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="spec.claimRef is immutable"
	ClaimRef ClaimRef `json:"claimRef"`
}

// NetworkID is the cluster-wide lock on one VNI: it is named after the VNI
// in canonical decimal form.
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster,categories=apinet
// +kubebuilder:printcolumn:name="ClaimRef",type=string,JSONPath=`.spec.claimRef.name`
// +kubebuilder:printcolumn:name="ClaimNamespace",type=string,JSONPath=`.spec.claimRef.namespace`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:validation:XValidation:rule="self.metadata.name.matches('^(0|[1-9][0-9]{0,9})$') && int(self.metadata.name) <= 2147483647",message="metadata.name must be a VNI in canonical decimal format, e.g. 301 (no sign, no leading zeros)"
type NetworkID struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec NetworkIDSpec `json:"spec"`
}

// NetworkIDList is a list of NetworkIDs.
// +kubebuilder:object:root=true
type NetworkIDList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []NetworkID `json:"items"`
}

func init() { SchemeBuilder.Register(&NetworkID{}, &NetworkIDList{}) }
