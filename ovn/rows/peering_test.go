package rows

import (
	"net/netip"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	apinetv1alpha1 "github.com/ovnet-dev/ovnet/apis/core/v1alpha1"
	"github.com/ovnet-dev/ovnet/ovn/nbdb"
)

func TestPeeringLinkSymmetric(t *testing.T) {
	linkA, a := PeeringLink(301, 302)
	linkB, b := PeeringLink(302, 301)
	if linkA != linkB || a == b || !linkA.Contains(a) || !linkA.Contains(b) || linkA.Bits() != 31 {
		t.Errorf("link %s/%s, ends %s %s", linkA, linkB, a, b)
	}
	if !netip.MustParsePrefix("169.254.128.0/17").Contains(a) {
		t.Errorf("%s outside 169.254.128.0/17", a)
	}
	// IPv6: the same pairing on a /127, and distinct links stay distinct.
	link6A, a6 := PeeringLink6(301, 302)
	link6B, b6 := PeeringLink6(302, 301)
	if link6A != link6B || a6 == b6 || !link6A.Contains(a6) || !link6A.Contains(b6) || link6A.Bits() != 127 || (a6.Less(b6) != a.Less(b)) {
		t.Errorf("IPv6 link %s/%s, ends %s %s", link6A, link6B, a6, b6)
	}
	if other, _ := PeeringLink6(301, 303); other == link6A || !netip.MustParsePrefix("fd6f:766e:6574:1::/64").Contains(other.Addr()) {
		t.Errorf("IPv6 links of two pairs: %s and %s", link6A, other)
	}
}

func TestPeeringRows(t *testing.T) {
	a := &apinetv1alpha1.Network{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "a", UID: "uid-a"}}
	b := &apinetv1alpha1.Network{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "b", UID: "uid-b"}}
	got, err := PeeringRows(PeeringInput{Network: a, VNI: 301, Own: []netip.Prefix{netip.MustParsePrefix("10.0.0.1/32")},
		Peers: []Peer{{Network: b, VNI: 302, Routes: []netip.Prefix{netip.MustParsePrefix("192.168.1.0/24"), netip.MustParsePrefix("10.0.0.1/32"), netip.MustParsePrefix("fd00:b::/64")}}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("%d rows, want the port and two routes (the overlap with our own NIC is left out)", len(got))
	}
	port := got[0].Model.(*nbdb.LogicalRouterPort)
	_, own := PeeringLink(301, 302)
	_, peer := PeeringLink(302, 301)
	_, own6 := PeeringLink6(301, 302)
	_, peer6 := PeeringLink6(302, 301)
	if port.Name != "ns/a/peer-302" || *port.Peer != "ns/b/peer-301" || port.Networks[0] != netip.PrefixFrom(own, 31).String() ||
		port.Networks[1] != netip.PrefixFrom(own6, 127).String() {
		t.Errorf("port %+v peer %s", port, *port.Peer)
	}
	route := got[1].Model.(*nbdb.LogicalRouterStaticRoute)
	if route.IPPrefix != "192.168.1.0/24" || route.Nexthop != peer.String() || *route.OutputPort != "ns/a/peer-302" {
		t.Errorf("route %+v", route)
	}
	if route6 := got[2].Model.(*nbdb.LogicalRouterStaticRoute); route6.IPPrefix != "fd00:b::/64" || route6.Nexthop != peer6.String() {
		t.Errorf("IPv6 route %+v, want via %s", route6, peer6)
	}
}
