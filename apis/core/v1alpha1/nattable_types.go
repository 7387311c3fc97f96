package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// NATIP is one NAT IP and the port blocks handed out on it.
type NATIP struct {
	// IP is the NAT (public) IP.
	IP IPAddr `json:"ip"`
	// Sections are the port blocks on this IP, sorted by port.
	// +optional
	Sections []NATIPSection `json:"sections,omitempty"`
}

// NATIPSection is one interface's block of source ports on a NAT IP.
type NATIPSection struct {
	// IP is the interface's internal address.
	IP IPAddr `json:"ip"`
	// Port is the first port of the block.
	Port int32 `json:"port"`
	// EndPort is the last port of the block.
	EndPort int32 `json:"endPort"`
	// TargetRef is the interface.
	// +optional
	TargetRef *NATTableIPTargetRef `json:"targetRef,omitempty"`
}

// NATTableIPTargetRef names an interface and its node.
type NATTableIPTargetRef struct {
	// UID of the interface.
	UID types.UID `json:"uid"`
	// Name of the interface.
	Name string `json:"name"`
	// NodeRef is the interface's node.
	NodeRef corev1.LocalObjectReference `json:"nodeRef"`
}

// NATTable records a NATGateway's port blocks; it is named after the gateway
// and written only by its controller.
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Namespaced,categories=apinet
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type NATTable struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// IPs are the NAT IPs, sorted, each with its port blocks.
	// +optional
	IPs []NATIP `json:"ips,omitempty"`
}

// NATTableList is a list of NATTables.
// +kubebuilder:object:root=true
type NATTableList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []NATTable `json:"items"`
}

func init() { SchemeBuilder.Register(&NATTable{}, &NATTableList{}) }
