package v1alpha1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// NetworkSpec is the desired state of a Network.
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.id) || (has(self.id) && self.id == oldSelf.id)",message="spec.id is immutable once set"
type NetworkSpec struct {
	// ID is the network's VNI as a decimal string; allocated when not given.
	// +kubebuilder:validation:MaxLength=10
	// +kubebuilder:validation:XValidation:rule="self.matches('^(0|[1-9][0-9]*)$') && int(self) <= 2147483647",message="spec.id must be a VNI in canonical decimal form, e.g. 301"
	// +optional
	ID string `json:"id,omitempty"`
	// Peerings are the networks this network peers with.
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=64
	// +optional
	Peerings []NetworkPeering `json:"peerings,omitempty"`
}

// NetworkPeering is a network to peer with.
type NetworkPeering struct {
	// Name of the peering.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Name string `json:"name"`
	// ID is the VNI of the peer network.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=10
	ID string `json:"id"`
	// Prefixes are the only prefixes of this network exposed to the peer;
	// none means no filtering.
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=64
	// +optional
	Prefixes []PeeringPrefix `json:"prefixes,omitempty"`
}

// PeeringPrefix is a prefix exposed over a peering.
type PeeringPrefix struct {
	// Name of the entry.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Name string `json:"name"`
	// Prefix exposed.
	// +kubebuilder:validation:XValidation:rule="isCIDR(self)",message="must be a valid IP prefix in CIDR notation, e.g. 10.0.0.0/24"
	// +optional
	Prefix *IPPrefix `json:"prefix,omitempty"`
}

// NetworkPeeringState is the state of a peering.
// +kubebuilder:validation:Enum=Pending;Ready;Error
type NetworkPeeringState string

const (
	NetworkPeeringStatePending NetworkPeeringState = "Pending"
	NetworkPeeringStateReady   NetworkPeeringState = "Ready"
	NetworkPeeringStateError   NetworkPeeringState = "Error"
)

// NetworkPeeringStatus is the observed state of one peering.
type NetworkPeeringStatus struct {
	// ID is the VNI of the peer network.
	ID int32 `json:"id"`
	// State of the peering.
	// +optional
	State NetworkPeeringState `json:"state,omitempty"`
}

// NetworkStatus is the observed state of a Network.
type NetworkStatus struct {
	// Peerings maps a partition name to the peering states seen there.
	// +optional
	Peerings map[string][]NetworkPeeringStatus `json:"peerings,omitempty"`
	// Conditions: Ready once the network's ID is allocated and its dataplane exists.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// Network is an isolated networking domain; peers inside it reach each other over IP.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Namespaced,categories=apinet
// +kubebuilder:printcolumn:name="ID",type=string,JSONPath=`.spec.id`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`,priority=1
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:validation:XValidation:rule="size(self.metadata.name) <= 63 && self.metadata.name.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')",message="metadata.name must be a DNS-1123 label: at most 63 lower-case letters, digits and '-', starting and ending with a letter or digit"
type Network struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +optional
	Spec NetworkSpec `json:"spec,omitempty"`
	// +optional
	Status NetworkStatus `json:"status,omitempty"`
}

// NetworkList is a list of Networks.
// +kubebuilder:object:root=true
type NetworkList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Network `json:"items"`
}

func init() { SchemeBuilder.Register(&Network{}, &NetworkList{}) }
