package v1alpha1

import (
	"fmt"
	"hash/fnv"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Well-known labels.
const (
	// LabelIPFamily is set on IP objects to the family of spec.ip.
	LabelIPFamily = "apinet.ironcore.dev/ip-family"
	// LabelIP is set on IP objects to spec.ip encoded as IPLabelValue does.
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
	// AnnotationTransitIP on a Network shows the address of its gateway
	// port on the provider network's transit prefix (an IPAddress lock
	// claimed by the Network holds it).
	AnnotationTransitIP = "ovn.apinet.ironcore.dev/transit-ip"
	// AnnotationTransitIP6 is its IPv6 address (when the provider network
	// carries IPv6).
	AnnotationTransitIP6 = "ovn.apinet.ironcore.dev/transit-ip6"
)

// Well-known finalizers.
const (
	// IPAddressProtectionFinalizer keeps an IPAddress while its claimer exists.
	IPAddressProtectionFinalizer = "apinet.ironcore.dev/ipaddress-protection"
	// NodeAgentFinalizer is the node agent's on NetworkInterfaces whose
	// device exists on their node. The controller removes it from a NIC
	// being deleted whose Node is gone or whose agent's Lease has expired
	// (no agent is left to do it).
	NodeAgentFinalizer = "nodeagent.apinet.ironcore.dev/device"
)

// The node agent's heartbeat: a coordination.k8s.io Lease per node that the
// agent renews every NodeAgentLeaseRenewal, valid for NodeAgentLeaseDuration.
const (
	// NodeAgentLeaseNamespace holds the agents' Leases beside the kubelets'.
	NodeAgentLeaseNamespace = "kube-node-lease"
	// NodeAgentLeaseDuration is how long a renewal keeps an agent alive.
	NodeAgentLeaseDuration = 40 * time.Second
	// NodeAgentLeaseRenewal is how often the agent renews its Lease.
	NodeAgentLeaseRenewal = 10 * time.Second
)

// NodeAgentLeaseName is the name of the agent Lease of node (prefixed, so
// that it never is the kubelet's Lease of a node of the same name).
func NodeAgentLeaseName(node string) string { return "ovnet-agent-" + node }

// Condition types and reasons used in status.conditions.
const (
	// ConditionReady: the object is realized (an IP allocated; a Network's
	// or NetworkInterface's OVN rows written).
	ConditionReady = "Ready"
	// ConditionIDAllocated: a Network holds its network ID (VNI): False
	// while it cannot have one, True once it has. A Network that got its
	// ID at once does not carry it (spec.id and its NetworkID say so).
	ConditionIDAllocated = "IDAllocated"
	// ConditionPublicIPsClaimed: a NetworkInterface, LoadBalancer or
	// NATGateway holds the public IPs it asks for: False while a claim
	// fails, True once that is over. An object whose claims never failed
	// does not carry it.
	ConditionPublicIPsClaimed = "PublicIPsClaimed"

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

// IPAddressName is the name of the IPAddress object that locks addr (see
// IPLabelValue for the encoding; ParseIPAddressName reverses it).
func IPAddressName(addr netip.Addr) string { return IPLabelValue(addr) }

// IPLabelValue encodes an address as an object name and label value: an
// IPv4 address as its dotted text; an IPv6 address as its eight groups in
// lower-case hex without leading zeros, joined by '-' and never shortened
// with "::" (fd00:: is fd00-0-0-0-0-0-0-0, 2001:db8::1 is
// 2001-db8-0-0-0-0-0-1). Names and label values must start and end with a
// letter or digit, which "::" at either end would break; the expanded form
// is one name per address and valid for every address.
func IPLabelValue(addr netip.Addr) string {
	addr = addr.WithZone("")
	if addr.Is4() {
		return addr.String()
	}
	b := addr.As16()
	groups := make([]string, 8)
	for i := range groups {
		groups[i] = strconv.FormatUint(uint64(b[2*i])<<8|uint64(b[2*i+1]), 16)
	}
	return strings.Join(groups, "-")
}

// ParseIPAddressName is the address an IPAddress name (or IP label value)
// encodes; it accepts exactly the names IPAddressName makes.
func ParseIPAddressName(name string) (netip.Addr, error) {
	if !strings.Contains(name, "-") {
		a, err := netip.ParseAddr(name)
		if err != nil || !a.Is4() || a.String() != name {
			return netip.Addr{}, fmt.Errorf("%q is not an IPv4 address in canonical form", name)
		}
		return a, nil
	}
	groups := strings.Split(name, "-")
	if len(groups) != 8 {
		return netip.Addr{}, fmt.Errorf("%q: an IPv6 name has 8 groups joined by '-'", name)
	}
	var b [16]byte
	for i, g := range groups {
		v, err := strconv.ParseUint(g, 16, 16)
		if err != nil || strconv.FormatUint(v, 16) != g {
			return netip.Addr{}, fmt.Errorf("%q: group %q is not lower-case hex without leading zeros", name, g)
		}
		b[2*i], b[2*i+1] = byte(v>>8), byte(v)
	}
	return netip.AddrFrom16(b), nil
}

// NetworkInterfacePortName is the NIC's OVN logical switch port: the
// controller names the port so, and the node agent sets it as the OVS
// interface's external_ids:iface-id.
func NetworkInterfacePortName(nic *NetworkInterface) string { return nic.Namespace + "/" + nic.Name }

// NetworkInterfaceMAC is the NIC's MAC address, locally administered and
// derived from its UID: the port's address in OVN and the guest end's on
// the node.
func NetworkInterfaceMAC(nic *NetworkInterface) string {
	h := fnv.New64a()
	_, _ = h.Write([]byte(nic.UID))
	s := h.Sum64()
	return fmt.Sprintf("0a:%02x:%02x:%02x:%02x:%02x", byte(s>>32), byte(s>>24), byte(s>>16), byte(s>>8), byte(s))
}
