package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// NetworkInterfaceSpec is the desired state of a NetworkInterface.
// +kubebuilder:validation:XValidation:rule="!has(self.ips) || self.ips.filter(i, isIP(i) && ip(i).family() == 4).size() <= 1",message="spec.ips may hold at most one IPv4 address",fieldPath=".ips"
// +kubebuilder:validation:XValidation:rule="!has(self.ips) || self.ips.filter(i, isIP(i) && ip(i).family() == 6).size() <= 1",message="spec.ips may hold at most one IPv6 address",fieldPath=".ips"
// +kubebuilder:validation:XValidation:rule="!has(self.publicIPs) || self.publicIPs.filter(p, has(p.ipFamily) ? p.ipFamily == 'IPv4' : (has(p.ip) && isIP(p.ip) && ip(p.ip).family() == 4)).size() <= 1",message="spec.publicIPs: cannot have multiple external IPs of family IPv4",fieldPath=".publicIPs"
// +kubebuilder:validation:XValidation:rule="!has(self.publicIPs) || self.publicIPs.filter(p, has(p.ipFamily) ? p.ipFamily == 'IPv6' : (has(p.ip) && isIP(p.ip) && ip(p.ip).family() == 6)).size() <= 1",message="spec.publicIPs: cannot have multiple external IPs of family IPv6",fieldPath=".publicIPs"
// +kubebuilder:validation:XValidation:rule="!has(self.natGateways) || !has(self.publicIPs) || self.natGateways.all(n, !self.publicIPs.exists(p, has(p.ipFamily) ? p.ipFamily == n.ipFamily : (has(p.ip) && isIP(p.ip) && (ip(p.ip).family() == 4) == (n.ipFamily == 'IPv4'))))",message="spec.natGateways: cannot have NAT for an IP family that already has a public IP",fieldPath=".natGateways"
// +kubebuilder:validation:XValidation:rule="has(self.nodeRef.name) && size(self.nodeRef.name) > 0",message="spec.nodeRef.name: must specify target node"
// +kubebuilder:validation:XValidation:rule="oldSelf.nodeRef == self.nodeRef",message="spec.nodeRef is immutable"
// +kubebuilder:validation:XValidation:rule="has(oldSelf.networkRef) == has(self.networkRef) && (!has(self.networkRef) || oldSelf.networkRef == self.networkRef)",message="spec.networkRef is immutable"
// +kubebuilder:validation:XValidation:rule="has(oldSelf.ips) == has(self.ips) && (!has(self.ips) || oldSelf.ips == self.ips)",message="spec.ips is immutable"
// +kubebuilder:validation:XValidation:rule="has(oldSelf.hostname) == has(self.hostname) && (!has(self.hostname) || oldSelf.hostname == self.hostname)",message="spec.hostname is immutable"
type NetworkInterfaceSpec struct {
	// NodeRef is the Node hosting the interface.
	NodeRef corev1.LocalObjectReference `json:"nodeRef"`
	// NetworkRef is the Network (same namespace) the interface is in.
	// +optional
	NetworkRef corev1.LocalObjectReference `json:"networkRef,omitempty"`
	// IPs are the internal addresses, at most one per family.
	// +kubebuilder:validation:MaxItems=2
	// +kubebuilder:validation:items:XValidation:rule="isIP(self)",message="must be a valid IP address"
	// +optional
	IPs []IPAddr `json:"ips,omitempty"`
	// Prefixes are further prefixes routed to the interface.
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:XValidation:rule="isCIDR(self)",message="must be a valid IP prefix in CIDR notation, e.g. 10.0.0.0/24"
	// +optional
	Prefixes []IPPrefix `json:"prefixes,omitempty"`
	// NATGateways name the NATGateway that NATs this interface, per family;
	// written by the NATGateway controller.
	// +listType=map
	// +listMapKey=ipFamily
	// +kubebuilder:validation:MaxItems=2
	// +optional
	NATGateways []NetworkInterfaceNAT `json:"natGateways,omitempty"`
	// Hostname of the interface, a DNS-1123 label.
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +optional
	Hostname string `json:"hostname,omitempty"`
	// PublicIPs are the interface's public IPs, at most one per family.
	// +listType=map
	// +listMapKey=name
	// +patchMergeKey=name
	// +patchStrategy=merge,retainKeys
	// +kubebuilder:validation:MaxItems=2
	// +optional
	PublicIPs []PublicIPRequest `json:"publicIPs,omitempty" patchStrategy:"merge,retainKeys" patchMergeKey:"name"`
}

// NetworkInterfaceNAT names the NATGateway that NATs an interface for one family.
type NetworkInterfaceNAT struct {
	// IPFamily NATed.
	IPFamily IPFamily `json:"ipFamily"`
	// ClaimRef is the NATGateway.
	ClaimRef LocalUIDReference `json:"claimRef"`
}

// NetworkInterfaceState is the state of an interface on its node.
// +kubebuilder:validation:Enum=Pending;Ready;Error
type NetworkInterfaceState string

const (
	NetworkInterfaceStatePending NetworkInterfaceState = "Pending"
	NetworkInterfaceStateReady   NetworkInterfaceState = "Ready"
	NetworkInterfaceStateError   NetworkInterfaceState = "Error"
)

// PCIAddress is the address of a PCI device (an SR-IOV VF).
type PCIAddress struct {
	// Domain, e.g. "0000".
	// +optional
	Domain string `json:"domain,omitempty"`
	// Bus, e.g. "06".
	// +optional
	Bus string `json:"bus,omitempty"`
	// Slot, e.g. "00".
	// +optional
	Slot string `json:"slot,omitempty"`
	// Function, e.g. "3".
	// +optional
	Function string `json:"function,omitempty"`
}

// TapDevice is the host device that carries an interface when it has no VF.
type TapDevice struct {
	// Name of the device.
	// +optional
	Name string `json:"name,omitempty"`
}

// NetworkInterfaceStatus is the observed state of a NetworkInterface.
type NetworkInterfaceStatus struct {
	// State of the interface on its node.
	// +optional
	State NetworkInterfaceState `json:"state,omitempty"`
	// PCIAddress of the VF carrying the interface.
	// +optional
	PCIAddress *PCIAddress `json:"pciAddress,omitempty"`
	// TapDevice carrying the interface where it has no VF.
	// +optional
	TapDevice *TapDevice `json:"tapDevice,omitempty"`
	// Prefixes as realized in the dataplane.
	// +kubebuilder:validation:MaxItems=64
	// +optional
	Prefixes []IPPrefix `json:"prefixes,omitempty"`
	// PublicIPs as realized in the dataplane.
	// +kubebuilder:validation:MaxItems=2
	// +optional
	PublicIPs []IPAddr `json:"publicIPs,omitempty"`
	// NATIPs as realized in the dataplane.
	// +kubebuilder:validation:MaxItems=2
	// +optional
	NATIPs []IPAddr `json:"natIPs,omitempty"`
	// Conditions: Ready once the interface's dataplane exists, or the reason it does not.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// NetworkInterface is a peer (a VM's interface) inside a Network.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Namespaced,shortName=nic,categories=apinet
// +kubebuilder:selectablefield:JSONPath=`.spec.nodeRef.name`
// +kubebuilder:printcolumn:name="Network",type=string,JSONPath=`.spec.networkRef.name`
// +kubebuilder:printcolumn:name="IPs",type=string,JSONPath=`.spec.ips[*]`
// +kubebuilder:printcolumn:name="Prefixes",type=string,JSONPath=`.spec.prefixes[*]`
// +kubebuilder:printcolumn:name="PublicIPs",type=string,JSONPath=`.status.publicIPs[*]`
// +kubebuilder:printcolumn:name="State",type=string,JSONPath=`.status.state`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`,priority=1
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:validation:XValidation:rule="size(self.metadata.name) <= 63 && self.metadata.name.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')",message="metadata.name must be a DNS-1123 label: at most 63 lower-case letters, digits and '-', starting and ending with a letter or digit"
type NetworkInterface struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec NetworkInterfaceSpec `json:"spec"`
	// +optional
	Status NetworkInterfaceStatus `json:"status,omitempty"`
}

// NetworkInterfaceList is a list of NetworkInterfaces.
// +kubebuilder:object:root=true
type NetworkInterfaceList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []NetworkInterface `json:"items"`
}

func init() { SchemeBuilder.Register(&NetworkInterface{}, &NetworkInterfaceList{}) }
