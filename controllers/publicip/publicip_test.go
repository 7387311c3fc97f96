package publicip_test

import (
	"context"
	"net/netip"
	"slices"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	apinetv1alpha1 "github.com/ovnet-dev/ovnet/apis/core/v1alpha1"
	"github.com/ovnet-dev/ovnet/apis/scheme"
	"github.com/ovnet-dev/ovnet/controllers/index"
	"github.com/ovnet-dev/ovnet/controllers/publicip"
)

var scope = publicip.Scope{
	Public: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/24"), netip.MustParsePrefix("100.64.0.0/24"),
		netip.MustParsePrefix("2001:db8::/64"), netip.MustParsePrefix("fd00:64::/120")},
	Transit: []netip.Prefix{netip.MustParsePrefix("100.64.0.0/16"), netip.MustParsePrefix("fd00:64::/64")},
}

func ip(ns, name, uid, addr string, claimer types.UID) *apinetv1alpha1.IP {
	o := &apinetv1alpha1.IP{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID(uid)},
		Spec: apinetv1alpha1.IPSpec{Type: apinetv1alpha1.IPTypePublic, IP: apinetv1alpha1.IPAddr(addr)}}
	if claimer != "" {
		o.Spec.ClaimRef = &apinetv1alpha1.IPClaimRef{Resource: "networkinterfaces", Name: "x", UID: claimer}
	}
	return o
}

func lock(addr, ipUID string) *apinetv1alpha1.IPAddress {
	a := netip.MustParseAddr(addr)
	return &apinetv1alpha1.IPAddress{ObjectMeta: metav1.ObjectMeta{Name: apinetv1alpha1.IPAddressName(a)},
		Spec: apinetv1alpha1.IPAddressSpec{IP: apinetv1alpha1.IPAddr(addr), ClaimRef: apinetv1alpha1.ClaimRef{Resource: "ips", UID: types.UID(ipUID)}}}
}

// TestHeld: an address is held only with a claimed IP object in the
// holder's namespace and that object's lock, inside the public pools and
// outside the transit prefix; a literal in the spec alone holds nothing.
func TestHeld(t *testing.T) {
	nicA := &apinetv1alpha1.NetworkInterface{ObjectMeta: metav1.ObjectMeta{Namespace: "a", Name: "nic", UID: "nic-a"}}
	nicB := &apinetv1alpha1.NetworkInterface{ObjectMeta: metav1.ObjectMeta{Namespace: "b", Name: "nic", UID: "nic-b"}}
	objs := []client.Object{
		ip("a", "pub", "ip-a", "10.0.0.5", "nic-a"), lock("10.0.0.5", "ip-a"), // A holds 10.0.0.5
		ip("a", "nolock", "ip-a2", "10.0.0.6", "nic-a"), // claimed, but never locked
		ip("a", "stale", "ip-a3", "10.0.0.7", "nic-a"), lock("10.0.0.7", "someone-else"),
		ip("a", "transit", "ip-a4", "100.64.0.1", "nic-a"), lock("100.64.0.1", "ip-a4"), // locked, but the upstream router
		ip("a", "outside", "ip-a5", "192.0.2.1", "nic-a"), lock("192.0.2.1", "ip-a5"), // outside the pools
		ip("b", "free", "ip-b", "10.0.0.8", ""), lock("10.0.0.8", "ip-b"), // unclaimed IP of B
	}
	c := fake.NewClientBuilder().WithScheme(scheme.New()).WithObjects(objs...).
		WithIndex(&apinetv1alpha1.IP{}, index.ClaimUID, index.IPClaimer).Build()
	ctx := context.Background()
	all := []apinetv1alpha1.IPAddr{"10.0.0.5", "10.0.0.6", "10.0.0.7", "100.64.0.1", "192.0.2.1", "10.0.0.8", "10.0.0.5", "not-an-ip"}
	got, err := publicip.Held(ctx, c, nicA, all, scope)
	if err != nil {
		t.Fatal(err)
	}
	if want := []netip.Addr{netip.MustParseAddr("10.0.0.5")}; !slices.Equal(got, want) {
		t.Errorf("A holds %v, want %v", got, want)
	}
	// B names A's address (and its own unclaimed IP's): it holds neither.
	got, err = publicip.Held(ctx, c, nicB, all, scope)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 0 {
		t.Errorf("B holds %v, want nothing", got)
	}
	// Only what the spec names counts: A holds 10.0.0.5 but no longer asks for it.
	if got, _ := publicip.Held(ctx, c, nicA, []apinetv1alpha1.IPAddr{"10.0.0.6"}, scope); len(got) != 0 {
		t.Errorf("A holds %v of what it names, want nothing", got)
	}
}

func TestScopeAllows(t *testing.T) {
	for addr, want := range map[string]bool{"10.0.0.1": true, "100.64.0.1": false, "100.64.0.200": false, "192.0.2.1": false,
		"2001:db8::5": true, "fd00:64::5": false, "2001:db9::1": false} {
		if got := scope.Allows(netip.MustParseAddr(addr)); got != want {
			t.Errorf("Allows(%s) = %v, want %v", addr, got, want)
		}
	}
}

// TestClaimerOrNamersOfIP: an IP's event wakes its claimer of the kind
// and the objects of the kind that name its address in the IP's
// namespace, none other.
func TestClaimerOrNamersOfIP(t *testing.T) {
	gw := func(ns, name, addr string) *apinetv1alpha1.NATGateway {
		return &apinetv1alpha1.NATGateway{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			Spec: apinetv1alpha1.NATGatewaySpec{IPs: []apinetv1alpha1.NATGatewayIP{{Name: "a", IP: apinetv1alpha1.IPAddr(addr)}}}}
	}
	c := fake.NewClientBuilder().WithScheme(scheme.New()).
		WithObjects(gw("a", "names", "10.0.0.1"), gw("a", "other", "10.0.0.2"), gw("b", "names", "10.0.0.1")).
		WithIndex(&apinetv1alpha1.NATGateway{}, index.NamedIPs, index.NATGatewayIPs).Build()
	m := publicip.ClaimerOrNamersOfIP(c, "natgateways", func() client.ObjectList { return &apinetv1alpha1.NATGatewayList{} })
	claimed := func(o *apinetv1alpha1.IP, resource, name string) *apinetv1alpha1.IP {
		o.Spec.ClaimRef = &apinetv1alpha1.IPClaimRef{Resource: resource, Name: name, UID: "u"}
		return o
	}
	for _, tc := range []struct {
		name string
		ip   *apinetv1alpha1.IP
		want []string
	}{
		{"claimed by a gateway, named by another", claimed(ip("a", "i", "", "10.0.0.1", ""), "natgateways", "holder"), []string{"holder", "names"}},
		{"named, released", ip("a", "i", "", "10.0.0.1", ""), []string{"names"}},
		{"claimed by a NIC of the same name", claimed(ip("a", "i", "", "10.0.0.3", ""), "networkinterfaces", "names"), nil},
		{"an address nobody names", ip("a", "i", "", "10.0.0.9", ""), nil},
		{"not allocated yet", claimed(ip("a", "i", "", "", ""), "natgateways", "holder"), []string{"holder"}},
	} {
		var got []string
		for _, r := range m(context.Background(), tc.ip) {
			if r.Namespace != "a" {
				t.Errorf("%s: woke %s in namespace %s", tc.name, r.Name, r.Namespace)
			}
			got = append(got, r.Name)
		}
		slices.Sort(got)
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: woke %v, want %v", tc.name, got, tc.want)
		}
	}
}
