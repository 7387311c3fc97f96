package rows

import (
	"fmt"
	"net/netip"
	"slices"

	apinetv1alpha1 "github.com/ovnet-dev/ovnet/apis/core/v1alpha1"
	"github.com/ovnet-dev/ovnet/ovn"
	"github.com/ovnet-dev/ovnet/ovn/nbdb"
)

// Peer is an active peering of a Network: the peer lists it back.
type Peer struct {
	Network *apinetv1alpha1.Network
	VNI     int64
	// Routes are the destinations in the peer this Network routes there:
	// what the peer exposes — the prefixes of the peer's entry for this
	// Network when it lists some, else the addresses and prefixes of the
	// peer's NetworkInterfaces.
	Routes []netip.Prefix
}

// PeeringInput is what a Network's peering rows depend on.
type PeeringInput struct {
	Network *apinetv1alpha1.Network
	VNI     int64
	Peers   []Peer
	// Own are the Network's own NIC addresses: a peer route to one of them
	// is left out (the Network's own route wins; overlapping address
	// spaces cannot be peered).
	Own []netip.Prefix
}

// peeringLinkBase is where the point-to-point links between peered routers
// take their /31s; peeringLinkBase6 their IPv6 /127s (inside the ULA of
// GatewayAddress6, docs/design.md item 25).
var (
	peeringLinkBase  = netip.MustParseAddr("169.254.128.0")
	peeringLinkBase6 = netip.MustParseAddr("fd6f:766e:6574:1::")
)

// PeeringLink is the /31 joining the routers of the Networks with VNIs a
// and b, and the address of a's end (the lower VNI takes the even one).
// It is derived from the pair, so both ends agree without coordination;
// two links of one router may collide (then PeeringRows says so).
func PeeringLink(a, b int64) (netip.Prefix, netip.Addr) {
	idx := peeringLinkIndex(a, b)
	base := peeringLinkBase.As4()
	v := uint32(base[0])<<24 | uint32(base[1])<<16 | uint32(base[2])<<8 | uint32(base[3])
	v += uint32(idx) * 2
	even := netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
	own := even
	if a > b {
		own = even.Next()
	}
	return netip.PrefixFrom(even, 31), own
}

// peeringLinkIndex numbers the link of the pair of VNIs a and b: one of
// 16384 (/31s in 169.254.128.0/17, /127s in fd6f:766e:6574:1::/64).
func peeringLinkIndex(a, b int64) int64 {
	lo, hi := min(a, b), max(a, b)
	return (lo*31 + hi) % (1 << 14)
}

// PeeringLink6 is PeeringLink for IPv6: the pair's /127 (the same index as
// its /31) and a's end (the lower VNI takes the even one).
func PeeringLink6(a, b int64) (netip.Prefix, netip.Addr) {
	off := peeringLinkIndex(a, b) * 2
	raw := peeringLinkBase6.As16()
	raw[14], raw[15] = byte(off>>8), byte(off)
	even := netip.AddrFrom16(raw)
	own := even
	if a > b {
		own = even.Next()
	}
	return netip.PrefixFrom(even, 127), own
}

// PeeringPortName is the router port of Network nw towards the Network
// with VNI peer.
func PeeringPortName(nw *apinetv1alpha1.Network, peer int64) string {
	return fmt.Sprintf("%s/peer-%d", NetworkRouterName(nw), peer)
}

// PeeringRows: per active peering a router port joined directly to the
// peer router's port towards us (OVN's `peer`), on the pair's /31 and
// /127, and a static route per destination via the peer's end of the link
// of its family. The peer's
// rows do the same the other way, so traffic flows only when both sides
// list each other (ovn-mapping.md, Network peering).
func PeeringRows(in PeeringInput) ([]ovn.Row, error) {
	uid := string(in.Network.UID)
	router := NetworkKey(uid, KeyRouter)
	var out []ovn.Row
	links := map[netip.Prefix]int64{}
	for _, p := range in.Peers {
		link, own := PeeringLink(in.VNI, p.VNI)
		if other, taken := links[link]; taken {
			return nil, fmt.Errorf("peerings with VNIs %d and %d would use the same link %s; peer one of them", other, p.VNI, link)
		}
		links[link] = p.VNI
		peerAddr := link.Addr()
		if peerAddr == own {
			peerAddr = own.Next()
		}
		link6, own6 := PeeringLink6(in.VNI, p.VNI)
		peerAddr6 := link6.Addr()
		if peerAddr6 == own6 {
			peerAddr6 = own6.Next()
		}
		port := PeeringPortName(in.Network, p.VNI)
		peerPort := PeeringPortName(p.Network, in.VNI)
		key := fmt.Sprintf("%s/peer/%d", uid, p.VNI)
		out = append(out, ovn.Row{Key: key, Parents: []ovn.Parent{{Table: nbdb.LogicalRouterTable, Column: "ports", Key: router}},
			Model: &nbdb.LogicalRouterPort{Name: port, MAC: peeringMAC(in.VNI, p.VNI),
				Networks: []string{netip.PrefixFrom(own, 31).String(), netip.PrefixFrom(own6, 127).String()}, Peer: &peerPort}})
		for _, dst := range p.Routes {
			if slices.Contains(in.Own, dst) {
				continue
			}
			outPort, via := port, peerAddr
			if dst.Addr().Is6() {
				via = peerAddr6
			}
			out = append(out, ovn.Row{Key: key + "/route/" + dst.String(),
				Parents: []ovn.Parent{{Table: nbdb.LogicalRouterTable, Column: "static_routes", Key: router}},
				Model:   &nbdb.LogicalRouterStaticRoute{IPPrefix: dst.String(), Nexthop: via.String(), OutputPort: &outPort}})
		}
	}
	return out, nil
}

// peeringMAC: 0a:59:<peer VNI>:<low byte of own VNI>, distinct among one
// router's peering ports.
func peeringMAC(own, peer int64) string {
	return fmt.Sprintf("0a:59:%02x:%02x:%02x:%02x", byte(peer>>16), byte(peer>>8), byte(peer), byte(own))
}
