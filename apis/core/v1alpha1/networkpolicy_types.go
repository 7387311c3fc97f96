package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// PolicyType is a direction a policy applies to.
// +kubebuilder:validation:Enum=Ingress;Egress
type PolicyType string

const (
	PolicyTypeIngress PolicyType = "Ingress"
	PolicyTypeEgress  PolicyType = "Egress"
)

// NetworkPolicySpec is the desired state of a NetworkPolicy.
type NetworkPolicySpec struct {
	// NetworkRef is the Network (same namespace) the policy applies in.
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="spec.networkRef is immutable"
	// +kubebuilder:validation:XValidation:rule="has(self.name) && size(self.name) > 0",message="spec.networkRef.name: must specify a network ref"
	// +kubebuilder:validation:XValidation:rule="!has(self.name) || self.name == '' || (size(self.name) <= 63 && self.name.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$'))",message="spec.networkRef.name must be a DNS-1123 label"
	NetworkRef corev1.LocalObjectReference `json:"networkRef"`
	// NetworkInterfaceSelector selects the target interfaces.
	NetworkInterfaceSelector metav1.LabelSelector `json:"networkInterfaceSelector"`
	// Priority of the policy; lower applies first.
	// +kubebuilder:validation:Minimum=0
	// +optional
	Priority *int32 `json:"priority,omitempty"`
	// Ingress rules; traffic to the targets matching any is allowed.
	// +kubebuilder:validation:MaxItems=32
	// +optional
	Ingress []NetworkPolicyIngressRule `json:"ingress,omitempty"`
	// Egress rules; traffic from the targets matching any is allowed.
	// +kubebuilder:validation:MaxItems=32
	// +optional
	Egress []NetworkPolicyEgressRule `json:"egress,omitempty"`
	// PolicyTypes the policy applies to: Ingress, Egress or both.
	// +listType=set
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=2
	PolicyTypes []PolicyType `json:"policyTypes"`
}

// NetworkPolicyIngressRule allows traffic from peers to ports.
type NetworkPolicyIngressRule struct {
	// From peers; none means all sources.
	// +kubebuilder:validation:MaxItems=32
	// +optional
	From []NetworkPolicyPeer `json:"from,omitempty"`
	// Ports at the target; none means all ports.
	// +kubebuilder:validation:MaxItems=32
	// +optional
	Ports []NetworkPolicyPort `json:"ports,omitempty"`
}

// NetworkPolicyEgressRule allows traffic to peers on ports.
type NetworkPolicyEgressRule struct {
	// Ports at the destination; none means all ports.
	// +kubebuilder:validation:MaxItems=32
	// +optional
	Ports []NetworkPolicyPort `json:"ports,omitempty"`
	// To peers; none means all destinations.
	// +kubebuilder:validation:MaxItems=32
	// +optional
	To []NetworkPolicyPeer `json:"to,omitempty"`
}

// NetworkPolicyPeer is either objects selected by labels or an IP block.
// +kubebuilder:validation:XValidation:rule="!(has(self.objectSelector) && has(self.ipBlock))",message="cannot specify multiple peers: use either objectSelector or ipBlock",fieldPath=".ipBlock"
type NetworkPolicyPeer struct {
	// ObjectSelector selects NetworkInterfaces or LoadBalancers.
	// +optional
	ObjectSelector *ObjectSelector `json:"objectSelector,omitempty"`
	// IPBlock selects addresses.
	// +kubebuilder:validation:XValidation:rule="isCIDR(self.cidr)",message="must be a valid IP prefix in CIDR notation, e.g. 10.0.0.0/24",fieldPath=".cidr"
	// +kubebuilder:validation:XValidation:rule="!has(self.except) || self.except.all(e, isCIDR(e))",message="every except entry must be a valid IP prefix in CIDR notation",fieldPath=".except"
	// +kubebuilder:validation:XValidation:rule="!has(self.except) || !isCIDR(self.cidr) || self.except.all(e, !isCIDR(e) || cidr(self.cidr).masked().containsCIDR(cidr(e).masked()))",message="every except entry must lie inside cidr",fieldPath=".except"
	// +optional
	IPBlock *IPBlock `json:"ipBlock,omitempty"`
}

// NetworkPolicyPort is a port or port range.
// +kubebuilder:validation:XValidation:rule="!has(self.endPort) || (has(self.port) && self.port != 0)",message="must not specify endPort without port",fieldPath=".endPort"
// +kubebuilder:validation:XValidation:rule="!has(self.endPort) || !has(self.port) || self.endPort >= self.port",message="endPort must be greater than or equal to port",fieldPath=".endPort"
type NetworkPolicyPort struct {
	// Protocol: TCP (default), UDP or SCTP.
	// +kubebuilder:validation:Enum=TCP;UDP;SCTP
	// +optional
	Protocol *corev1.Protocol `json:"protocol,omitempty"`
	// Port; 0 or unset means any port.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=65535
	// +optional
	Port int32 `json:"port,omitempty"`
	// EndPort makes the range port..endPort.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	// +optional
	EndPort *int32 `json:"endPort,omitempty"`
}

// NetworkPolicy allows traffic to and from the interfaces it selects.
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Namespaced,categories=apinet,shortName=apnetpol
// +kubebuilder:printcolumn:name="Network",type=string,JSONPath=`.spec.networkRef.name`
// +kubebuilder:printcolumn:name="Nic-Selector",type=string,JSONPath=`.spec.networkInterfaceSelector`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:validation:XValidation:rule="size(self.metadata.name) <= 63 && self.metadata.name.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')",message="metadata.name must be a DNS-1123 label: at most 63 lower-case letters, digits and '-', starting and ending with a letter or digit"
type NetworkPolicy struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec NetworkPolicySpec `json:"spec"`
}

// NetworkPolicyList is a list of NetworkPolicies.
// +kubebuilder:object:root=true
type NetworkPolicyList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []NetworkPolicy `json:"items"`
}

func init() { SchemeBuilder.Register(&NetworkPolicy{}, &NetworkPolicyList{}) }
