package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// IPFamily is the family of an IP address.
// +kubebuilder:validation:Enum=IPv4;IPv6
type IPFamily = corev1.IPFamily

const (
	IPv4 = corev1.IPv4Protocol
	IPv6 = corev1.IPv6Protocol
)

// IPAddr is an IP address in text form, e.g. 10.0.0.1 or 2001:db8::1.
// Fields users write check it with a CEL rule (isIP); fields only
// controllers write are not re-validated.
// +kubebuilder:validation:MaxLength=45
type IPAddr string

// IPPrefix is an IP prefix in CIDR notation; host bits are allowed
// (10.0.0.1/24 is kept as given).
// Fields users write check it with a CEL rule (isCIDR).
// +kubebuilder:validation:MaxLength=49
type IPPrefix string

// LocalUIDReference names an object in the same namespace and pins its UID.
// +structType=atomic
type LocalUIDReference struct {
	// Name of the referenced object.
	// +kubebuilder:validation:MinLength=1
	Name string `json:"name"`
	// UID of the referenced object.
	UID types.UID `json:"uid"`
}

// ObjectSelector selects objects of one kind by labels.
type ObjectSelector struct {
	// Kind of the selected objects: NetworkInterface or LoadBalancer.
	// +kubebuilder:validation:Enum=NetworkInterface;LoadBalancer
	Kind string `json:"kind"`
	// Label selector the objects must match.
	metav1.LabelSelector `json:",inline"`
}

// IPBlock is a CIDR with optional exceptions (validated where users write
// it, in NetworkPolicy peers).
type IPBlock struct {
	// CIDR of the block, e.g. 10.0.0.0/8.
	CIDR IPPrefix `json:"cidr"`
	// Except lists prefixes inside CIDR that are excluded from the block.
	// +kubebuilder:validation:MaxItems=32
	// +optional
	Except []IPPrefix `json:"except,omitempty"`
}

// ClaimRef names the object that claims (uses) an IP, IPAddress or NetworkID.
type ClaimRef struct {
	// Group of the claimer's API.
	// +optional
	Group string `json:"group,omitempty"`
	// Resource (plural) of the claimer's kind.
	// +optional
	Resource string `json:"resource,omitempty"`
	// Namespace of the claimer; empty for cluster-scoped claimers.
	// +optional
	Namespace string `json:"namespace,omitempty"`
	// Name of the claimer.
	// +optional
	Name string `json:"name,omitempty"`
	// UID of the claimer.
	// +optional
	UID types.UID `json:"uid,omitempty"`
}

// IPClaimRef names the object that claims an IP (in the IP's namespace).
type IPClaimRef struct {
	// Group of the claimer's API.
	// +optional
	Group string `json:"group,omitempty"`
	// Resource (plural) of the claimer's kind.
	// +optional
	Resource string `json:"resource,omitempty"`
	// Name of the claimer.
	// +optional
	Name string `json:"name,omitempty"`
	// UID of the claimer.
	// +optional
	UID types.UID `json:"uid,omitempty"`
}

// PublicIPRequest is one public IP a claimer asks for: with ip set, the IP
// object of that address in the namespace is claimed; without, a new IP
// object is created and its address written back into ip.
// +kubebuilder:validation:XValidation:rule="has(self.ipFamily) || has(self.ip)",message="ipFamily is required when ip is not given"
// +kubebuilder:validation:XValidation:rule="!has(self.ipFamily) || !has(self.ip) || !isIP(self.ip) || (self.ipFamily == 'IPv4') == (ip(self.ip).family() == 4)",message="ip does not match ipFamily"
type PublicIPRequest struct {
	// Name of the entry, unique within the list.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Name string `json:"name"`
	// IPFamily of the address; defaults to the family of ip.
	// +optional
	IPFamily IPFamily `json:"ipFamily,omitempty"`
	// IP is the address; filled in by the controller when allocated.
	// +kubebuilder:validation:XValidation:rule="isIP(self)",message="must be a valid IP address"
	// +optional
	IP IPAddr `json:"ip,omitempty"`
}

// Family returns the family of the request: ipFamily, or the family of ip.
func (r PublicIPRequest) Family() IPFamily {
	if r.IPFamily != "" {
		return r.IPFamily
	}
	return FamilyOf(r.IP)
}

// LoadBalancerPort is a port (or range) a load balancer serves.
// +kubebuilder:validation:XValidation:rule="!has(self.endPort) || self.endPort >= self.port",message="endPort must be greater than or equal to port"
type LoadBalancerPort struct {
	// Protocol of the port: TCP (default), UDP or SCTP.
	// +kubebuilder:validation:Enum=TCP;UDP;SCTP
	// +optional
	Protocol *corev1.Protocol `json:"protocol,omitempty"`
	// Port number.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	Port int32 `json:"port"`
	// EndPort, when set, makes this the range port..endPort.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	// +optional
	EndPort *int32 `json:"endPort,omitempty"`
}
