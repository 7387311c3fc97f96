package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// LoadBalancerDestination is one backend of a load balancer.
type LoadBalancerDestination struct {
	// IP is the backend's internal address.
	IP IPAddr `json:"ip"`
	// TargetRef is the backend interface.
	// +optional
	TargetRef *LoadBalancerTargetRef `json:"targetRef,omitempty"`
}

// LoadBalancerTargetRef names a backend interface and its node.
type LoadBalancerTargetRef struct {
	// UID of the interface.
	UID types.UID `json:"uid"`
	// Name of the interface.
	Name string `json:"name"`
	// NodeRef is the interface's node.
	NodeRef corev1.LocalObjectReference `json:"nodeRef"`
}

// LoadBalancerRouting is the backend set of the LoadBalancer of the same name.
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Namespaced,categories=apinet
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type LoadBalancerRouting struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Destinations are the backends.
	// +optional
	Destinations []LoadBalancerDestination `json:"destinations,omitempty"`
}

// LoadBalancerRoutingList is a list of LoadBalancerRoutings.
// +kubebuilder:object:root=true
type LoadBalancerRoutingList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []LoadBalancerRouting `json:"items"`
}

func init() { SchemeBuilder.Register(&LoadBalancerRouting{}, &LoadBalancerRoutingList{}) }
