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
}

func TestPeeringRows(t *testing.T) {
	a := &apinetv1alpha1.Network{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "a", UID: "uid-a"}}
	b := &apinetv1alpha1.Network{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "b", UID: "uid-b"}}
	got, err := PeeringRows(PeeringInput{Network: a, VNI: 301, Own: []netip.Prefix{netip.MustParsePrefix("10.0.0.1/32")},
		Peers: []Peer{{Network: b, VNI: 302, Routes: []netip.Prefix{netip.MustParsePrefix("192.168.1.0/24"), netip.MustParsePrefix("10.0.0.1/32")}}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("%d rows, want the port and one route (the overlap with our own NIC is left out)", len(got))
	}
	port := got[0].Model.(*nbdb.LogicalRouterPort)
	_, own := PeeringLink(301, 302)
	_, peer := PeeringLink(302, 301)
	if port.Name != "ns/a/peer-302" || *port.Peer != "ns/b/peer-301" || port.Networks[0] != netip.PrefixFrom(own, 31).String() {
		t.Errorf("port %+v peer %s", port, *port.Peer)
	}
	route := got[1].Model.(*nbdb.LogicalRouterStaticRoute)
	if route.IPPrefix != "192.168.1.0/24" || route.Nexthop != peer.String() || *route.OutputPort != "ns/a/peer-302" {
		t.Errorf("route %+v", route)
	}
}
