package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// NetworkPolicyRuleNetworkRef names a Network and pins its UID.
type NetworkPolicyRuleNetworkRef struct {
	// Name of the Network.
	Name string `json:"name"`
	// UID of the Network.
	// +optional
	UID types.UID `json:"uid,omitempty"`
}

// TargetNetworkInterface is one address of a policy's target interface.
type TargetNetworkInterface struct {
	// IP of the interface.
	IP IPAddr `json:"ip"`
	// TargetRef is the interface.
	// +optional
	TargetRef *LocalUIDReference `json:"targetRef,omitempty"`
}

// ObjectIP is an address (as a host prefix) of a selected object.
type ObjectIP struct {
	// IPFamily of the prefix.
	// +optional
	IPFamily IPFamily `json:"ipFamily,omitempty"`
	// Prefix, a host prefix (/32 or /128).
	// +optional
	Prefix IPPrefix `json:"prefix,omitempty"`
}

// Rule is one resolved allow rule of a policy.
type Rule struct {
	// CIDRBlock holds the peers' IP blocks.
	// +optional
	CIDRBlock []IPBlock `json:"ipBlock,omitempty"`
	// ObjectIPs holds the addresses of the selected peer objects.
	// +optional
	ObjectIPs []ObjectIP `json:"ips,omitempty"`
	// NetworkPolicyPorts are the ports allowed.
	// +optional
	NetworkPolicyPorts []NetworkPolicyPort `json:"networkPolicyPorts,omitempty"`
}

// NetworkPolicyRule is a NetworkPolicy resolved to addresses; it has the
// policy's name and is written by the NetworkPolicy controller.
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Namespaced,categories=apinet
// +kubebuilder:printcolumn:name="Network",type=string,JSONPath=`.networkRef.name`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type NetworkPolicyRule struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// NetworkRef is the policy's Network.
	NetworkRef NetworkPolicyRuleNetworkRef `json:"networkRef"`
	// Targets are the addresses of the Ready interfaces the policy selects.
	// +optional
	Targets []TargetNetworkInterface `json:"targets,omitempty"`
	// Priority of the policy.
	// +optional
	Priority *int32 `json:"priority,omitempty"`
	// IngressRules allowed.
	// +optional
	IngressRules []Rule `json:"ingressRule,omitempty"`
	// EgressRules allowed.
	// +optional
	EgressRules []Rule `json:"egressRule,omitempty"`
}

// NetworkPolicyRuleList is a list of NetworkPolicyRules.
// +kubebuilder:object:root=true
type NetworkPolicyRuleList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []NetworkPolicyRule `json:"items"`
}

func init() { SchemeBuilder.Register(&NetworkPolicyRule{}, &NetworkPolicyRuleList{}) }
