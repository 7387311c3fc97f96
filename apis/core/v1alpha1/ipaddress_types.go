package v1alpha1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// IPAddressSpec is the desired state of an IPAddress.
type IPAddressSpec struct {
	// IP is the locked address; it must equal metadata.name.
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="spec.ip is immutable"
	IP IPAddr `json:"ip"`
	// ClaimRef names the object holding the address (normally an IP).
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="spec.claimRef is immutable"
	ClaimRef ClaimRef `json:"claimRef"`
}

// IPAddress is the cluster-wide lock on one address: it is named after the
// canonical address, so the API server's name uniqueness keeps any address
// from being handed out twice. Object names must be DNS subdomains, so an
// IPv6 address is named by its eight groups joined by '-' (2001:db8::1 is
// 2001-db8-0-0-0-0-0-1; see IPAddressName), as in the apinet.ironcore.dev/ip
// label; IPv4 names are the address itself.
// Kubernetes has an IPAddress kind of its own (networking.k8s.io): use
// `kubectl get ipaddr` or `ipaddresses.core.apinet.ironcore.dev`.
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster,categories=apinet,shortName=ipaddr
// +kubebuilder:printcolumn:name="ClaimRef",type=string,JSONPath=`.spec.claimRef.name`
// +kubebuilder:printcolumn:name="ClaimNamespace",type=string,JSONPath=`.spec.claimRef.namespace`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:validation:XValidation:rule="self.metadata.name.contains('-') ? self.metadata.name.matches('^(0|[1-9a-f][0-9a-f]{0,3})(-(0|[1-9a-f][0-9a-f]{0,3})){7}$') : (isIP(self.metadata.name) && ip(self.metadata.name).family() == 4 && ip.isCanonical(self.metadata.name))",message="metadata.name must be an IPv4 address in canonical form, e.g. 10.0.0.5, or an IPv6 address as its eight groups in lower-case hex without leading zeros joined by '-', e.g. 2001-db8-0-0-0-0-0-1 for 2001:db8::1"
// +kubebuilder:validation:XValidation:rule="isIP(self.spec.ip) && ip.isCanonical(self.spec.ip) && isIP(self.metadata.name.replace('-', ':')) && ip(self.spec.ip) == ip(self.metadata.name.replace('-', ':'))",message="spec.ip must be the address of metadata.name, in canonical form"
type IPAddress struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec IPAddressSpec `json:"spec"`
}

// IPAddressList is a list of IPAddresses.
// +kubebuilder:object:root=true
type IPAddressList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []IPAddress `json:"items"`
}

func init() { SchemeBuilder.Register(&IPAddress{}, &IPAddressList{}) }
