package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// NATGatewaySpec is the desired state of a NATGateway.
// +kubebuilder:validation:XValidation:rule="!has(self.ips) || self.ips.all(e, !has(e.ip) || !isIP(e.ip) || (ip(e.ip).family() == 4) == (self.ipFamily == 'IPv4'))",message="spec.ips: every ip must be of spec.ipFamily",fieldPath=".ips"
// +kubebuilder:validation:XValidation:rule="has(oldSelf.networkRef) == has(self.networkRef) && (!has(self.networkRef) || oldSelf.networkRef == self.networkRef)",message="spec.networkRef is immutable"
type NATGatewaySpec struct {
	// IPFamily of the gateway's NAT IPs.
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="spec.ipFamily is immutable"
	IPFamily IPFamily `json:"ipFamily"`
	// NetworkRef is the Network served (same namespace).
	// +optional
	NetworkRef corev1.LocalObjectReference `json:"networkRef,omitempty"`
	// IPs are the NAT (public) IPs; an entry without ip gets a new IP allocated.
	// +listType=map
	// +listMapKey=name
	// +patchMergeKey=name
	// +patchStrategy=merge,retainKeys
	// +kubebuilder:validation:MaxItems=256
	// +optional
	IPs []NATGatewayIP `json:"ips,omitempty" patchStrategy:"merge,retainKeys" patchMergeKey:"name"`
	// PortsPerNetworkInterface is the size of the source-port block each
	// interface gets on a NAT IP, out of the 64512 ports 1024-65535.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=64512
	// +kubebuilder:default=2048
	// +optional
	PortsPerNetworkInterface int32 `json:"portsPerNetworkInterface,omitempty"`
}

// NATGatewayIP is one NAT IP of a gateway.
type NATGatewayIP struct {
	// Name of the entry, unique within the list.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Name string `json:"name"`
	// IP is the address; filled in by the controller when allocated.
	// +kubebuilder:validation:XValidation:rule="isIP(self)",message="must be a valid IP address"
	// +optional
	IP IPAddr `json:"ip,omitempty"`
}

// NATGatewayStatus is the observed state of a NATGateway.
type NATGatewayStatus struct {
	// UsedNATIPs is the number of port blocks (interfaces) allocated.
	// +optional
	UsedNATIPs int64 `json:"usedNATIPs,omitempty"`
	// RequestedNATIPs is the number of interfaces that want NAT from this gateway.
	// +optional
	RequestedNATIPs int64 `json:"requestedNATIPs,omitempty"`
	// Conditions: Ready, PortsExhausted.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// NATGateway NATs the interfaces of a network that have no public IP of its
// family behind a few public IPs, each interface owning a block of source ports.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Namespaced,categories=apinet
// +kubebuilder:printcolumn:name="Network",type=string,JSONPath=`.spec.networkRef.name`
// +kubebuilder:printcolumn:name="IPs",type=string,JSONPath=`.spec.ips[*].ip`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`,priority=1
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:validation:XValidation:rule="size(self.metadata.name) <= 63 && self.metadata.name.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')",message="metadata.name must be a DNS-1123 label: at most 63 lower-case letters, digits and '-', starting and ending with a letter or digit"
type NATGateway struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec NATGatewaySpec `json:"spec"`
	// +optional
	Status NATGatewayStatus `json:"status,omitempty"`
}

// NATGatewayList is a list of NATGateways.
// +kubebuilder:object:root=true
type NATGatewayList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []NATGateway `json:"items"`
}

func init() { SchemeBuilder.Register(&NATGateway{}, &NATGatewayList{}) }
