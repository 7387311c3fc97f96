package v1alpha1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// IPType is the type of an IP. Only public IPs exist.
// +kubebuilder:validation:Enum=Public
type IPType string

const IPTypePublic IPType = "Public"

// IPSpec is the desired state of an IP.
// +kubebuilder:validation:XValidation:rule="has(self.ipFamily) || has(self.ip)",message="spec.ipFamily is required when spec.ip is not given"
// +kubebuilder:validation:XValidation:rule="!has(self.ipFamily) || !has(self.ip) || !isIP(self.ip) || (self.ipFamily == 'IPv4') == (ip(self.ip).family() == 4)",message="spec.ip does not match spec.ipFamily"
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.ip) || (has(self.ip) && self.ip == oldSelf.ip)",message="spec.ip is immutable once set"
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.ipFamily) || (has(self.ipFamily) && self.ipFamily == oldSelf.ipFamily)",message="spec.ipFamily is immutable once set"
type IPSpec struct {
	// Type of the IP; only Public.
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="spec.type is immutable"
	Type IPType `json:"type"`
	// IPFamily of the address; defaults to the family of spec.ip.
	// +optional
	IPFamily IPFamily `json:"ipFamily,omitempty"`
	// IP is the address; allocated from the public pools when not given.
	// +kubebuilder:validation:XValidation:rule="isIP(self)",message="must be a valid IP address"
	// +optional
	IP IPAddr `json:"ip,omitempty"`
	// ClaimRef names the object that currently uses this IP.
	// +optional
	ClaimRef *IPClaimRef `json:"claimRef,omitempty"`
}

// IPStatus is the observed state of an IP.
type IPStatus struct {
	// Conditions: Ready once an address is allocated, or the reason it is not.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// IP holds one public IP address.
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Namespaced,categories=apinet
// +kubebuilder:printcolumn:name="Type",type=string,JSONPath=`.spec.type`
// +kubebuilder:printcolumn:name="IP",type=string,JSONPath=`.spec.ip`
// +kubebuilder:printcolumn:name="ClaimRef",type=string,JSONPath=`.spec.claimRef.name`
// +kubebuilder:printcolumn:name="ClaimResource",type=string,JSONPath=`.spec.claimRef.resource`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:validation:XValidation:rule="size(self.metadata.name) <= 63 && self.metadata.name.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')",message="metadata.name must be a DNS-1123 label: at most 63 lower-case letters, digits and '-', starting and ending with a letter or digit"
type IP struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec IPSpec `json:"spec"`
	// +optional
	Status IPStatus `json:"status,omitempty"`
}

// IPList is a list of IPs.
// +kubebuilder:object:root=true
type IPList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []IP `json:"items"`
}

func init() { SchemeBuilder.Register(&IP{}, &IPList{}) }
