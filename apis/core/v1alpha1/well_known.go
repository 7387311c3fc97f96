package v1alpha1

import "net/netip"

// Well-known labels.
const (
	// LabelIPFamily is set on IP objects to the family of spec.ip.
	LabelIPFamily = "apinet.ironcore.dev/ip-family"
	// LabelIP is set on IP objects to spec.ip with ':' replaced by '-'.
	LabelIP = "apinet.ironcore.dev/ip"
	// LabelControllerRevisionHash is set by the DaemonSet controller on Instances.
	LabelControllerRevisionHash = "apinet.ironcore.dev/controller-revision-hash"
	// LabelTopologyPartition names a Node's partition.
	LabelTopologyPartition = "topology.core.apinet.ironcore.dev/partition"
	// LabelTopologyZone names a Node's zone.
	LabelTopologyZone = "topology.core.apinet.ironcore.dev/zone"
	// LabelGateway marks Nodes whose chassis may host gateway ports.
	LabelGateway = "apinet.ironcore.dev/gateway"
)

// Well-known annotations.
const (
	// AnnotationChassis on a Node names its OVN chassis (the Open_vSwitch
	// system-id); the node agent sets it. Without it the Node's name is the
	// chassis name.
	AnnotationChassis = "apinet.ironcore.dev/ovn-chassis"
)

// Well-known finalizers.
const (
	// IPAddressProtectionFinalizer keeps an IPAddress while its claimer exists.
	IPAddressProtectionFinalizer = "apinet.ironcore.dev/ipaddress-protection"
)

// Condition types and reasons used in status.conditions.
const (
	// ConditionReady: the object is realized (an IP allocated; a Network's
	// or NetworkInterface's OVN rows written).
	ConditionReady = "Ready"
	// ConditionIDAllocated: a Network holds its network ID (VNI).
	ConditionIDAllocated = "IDAllocated"

	ReasonAllocated      = "Allocated"
	ReasonPoolExhausted  = "PoolExhausted"
	ReasonIPNotFound     = "IPNotFound"
	ReasonIPInUse        = "IPAlreadyAllocated"
	ReasonOutOfRange     = "OutOfRange"
	ReasonPortsExhausted = "PortsExhausted"
)

// FamilyOf returns the family of ip, or "" when ip is not an address.
func FamilyOf(ip IPAddr) IPFamily {
	addr, err := netip.ParseAddr(string(ip))
	switch {
	case err != nil:
		return ""
	case addr.Is4():
		return IPv4
	default:
		return IPv6
	}
}

// IPAddressName is the name of the IPAddress object that locks addr.
func IPAddressName(addr netip.Addr) string { return IPLabelValue(addr) }

// IPLabelValue encodes an address as a label value (IPv6 ':' becomes '-').
func IPLabelValue(addr netip.Addr) string {
	out := []byte(addr.String())
	for i, c := range out {
		if c == ':' {
			out[i] = '-'
		}
	}
	return string(out)
}
