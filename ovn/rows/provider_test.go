package rows_test

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	apinetv1alpha1 "github.com/ovnet-dev/ovnet/apis/core/v1alpha1"
	"github.com/ovnet-dev/ovnet/ovn"
	"github.com/ovnet-dev/ovnet/ovn/nbdb"
	"github.com/ovnet-dev/ovnet/ovn/rows"
)

// provider6 is provider with IPv6: a transit prefix and a public pool.
var provider6 = func() rows.Provider {
	p := provider
	p.TransitPrefix6, p.NextHop6 = netip.MustParsePrefix("fd00:64::/64"), netip.MustParseAddr("fd00:64::1")
	p.PublicPrefixes = append(slices.Clone(p.PublicPrefixes), netip.MustParsePrefix("2001:db8:113::/64"))
	return p
}()

// TestProviderIPv6: with an IPv6 transit prefix the provider's guard
// admits IPv6 transit, public and link-local sources and nothing else; a
// Network's gateway port gets an IPv6 transit address and an IPv6 default
// route; IPv6 public IPs and NAT gateways become NAT rows of their family.
// Without it, none of that is written and the parts are not realized.
func TestProviderIPv6(t *testing.T) {
	sets, guards := map[string][]string{}, []string{}
	for _, r := range rows.ProviderRows(provider6) {
		switch m := r.Model.(type) {
		case *nbdb.AddressSet:
			sets[m.Name] = m.Addresses
		case *nbdb.ACL:
			guards = append(guards, m.Match)
		}
	}
	if got := sets["ovnet_provider_sources_physnet1"]; strings.Join(got, " ") != "100.64.0.0/16 203.0.113.0/24" {
		t.Errorf("IPv4 sources %v", got)
	}
	if got := sets["ovnet_provider_sources6_physnet1"]; strings.Join(got, " ") != "fd00:64::/64 2001:db8:113::/64 fe80::/10" {
		t.Errorf("IPv6 sources %v", got)
	}
	if len(guards) != 2 || !strings.Contains(guards[1], `ip6 && !(ip6.src == $ovnet_provider_sources6_physnet1)`) {
		t.Errorf("guards %q, want one per family", guards)
	}

	nw := network("n", "u1")
	in := rows.NetworkInput{Network: nw, VNI: 301, TransitIP: netip.MustParseAddr("100.64.0.11"), TransitIP6: netip.MustParseAddr("fd00:64::b"), Provider: provider6}
	got, err := rows.NetworkRows(in)
	if err != nil {
		t.Fatal(err)
	}
	var gwNets, routes []string
	for _, r := range got {
		switch m := r.Model.(type) {
		case *nbdb.LogicalRouterPort:
			if strings.HasSuffix(m.Name, "/lr-gw") {
				gwNets = m.Networks
			}
		case *nbdb.LogicalRouterStaticRoute:
			routes = append(routes, m.IPPrefix+" via "+m.Nexthop)
		}
	}
	if strings.Join(gwNets, " ") != "100.64.0.11/16 fd00:64::b/64" || strings.Join(routes, ";") != "0.0.0.0/0 via 100.64.0.1;::/0 via fd00:64::1" {
		t.Errorf("gateway port %v, routes %v", gwNets, routes)
	}
	in.TransitIP6 = netip.Addr{}
	if _, err := rows.NetworkRows(in); err == nil {
		t.Error("a Network without an IPv6 transit address accepted on an IPv6 provider")
	}

	pub6 := netip.MustParseAddr("2001:db8:113::5")
	n := nic("d", "nic-uid", []string{"10.0.0.1", "fd00::1"}, nil, "203.0.113.5", pub6.String())
	nicIn := rows.NetworkInterfaceInput{NIC: n, Network: network("net", "net-uid"), ProviderIPv6: true,
		PublicIPs: []netip.Addr{netip.MustParseAddr("203.0.113.5"), pub6}}
	nr, err := rows.NetworkInterfaceRowsFor(nicIn)
	if err != nil {
		t.Fatal(err)
	}
	if nats := natsOf(nr.Rows); strings.Join(nats, ";") != "dnat_and_snat 203.0.113.5 10.0.0.1;dnat_and_snat 2001:db8:113::5 fd00::1" ||
		len(nr.PublicIPs) != 2 || len(nr.NotRealized) != 0 {
		t.Errorf("NAT rows %v, public IPs %v, not realized %v", nats, nr.PublicIPs, nr.NotRealized)
	}
	// A Public LB's backend: translated on the gateway chassis (no
	// logical_port), where the LB's connections are tracked.
	nicIn.PublicLBBackend = true
	nr, _ = rows.NetworkInterfaceRowsFor(nicIn)
	for _, r := range nr.Rows {
		if m, ok := r.Model.(*nbdb.NAT); ok && (m.LogicalPort != nil || m.ExternalMAC != nil) {
			t.Errorf("a Public LB backend's NAT row %+v is distributed", m)
		}
	}
	nicIn.PublicLBBackend = false
	nicIn.ProviderIPv6 = false
	if nr, _ = rows.NetworkInterfaceRowsFor(nicIn); len(natsOf(nr.Rows)) != 1 || len(nr.PublicIPs) != 1 ||
		len(nr.NotRealized) != 1 || !strings.Contains(nr.NotRealized[0], "carries no IPv6") {
		t.Errorf("without IPv6 on the provider: NAT rows %v, public IPs %v, not realized %v", natsOf(nr.Rows), nr.PublicIPs, nr.NotRealized)
	}

	natIP := netip.MustParseAddr("2001:db8:113::7")
	gw := &apinetv1alpha1.NATGateway{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "gw6", UID: "gw-uid"},
		Spec: apinetv1alpha1.NATGatewaySpec{IPFamily: apinetv1alpha1.IPv6}}
	table := &apinetv1alpha1.NATTable{IPs: []apinetv1alpha1.NATIP{{IP: apinetv1alpha1.IPAddr(natIP.String()), Sections: []apinetv1alpha1.NATIPSection{
		{IP: "fd00::1", Port: 1024, EndPort: 1087, TargetRef: &apinetv1alpha1.NATTableIPTargetRef{UID: "nic-uid", Name: "d"}},
		{IP: "10.0.0.2", Port: 1088, EndPort: 1151, TargetRef: &apinetv1alpha1.NATTableIPTargetRef{UID: "v4-uid", Name: "v4"}},
	}}}}
	gwIn := rows.NATGatewayInput{Gateway: gw, Network: network("net", "net-uid"), Table: table, Held: []netip.Addr{natIP}, ProviderIPv6: true}
	snat, err := rows.NATGatewayRows(gwIn)
	if err != nil {
		t.Fatal(err)
	}
	if got := natsOf(snat); len(snat) != 1 || got[0] != "snat 2001:db8:113::7 fd00::1" || snat[0].Model.(*nbdb.NAT).ExternalPortRange != "1024-1087" {
		t.Errorf("IPv6 snat rows %v, want one for the IPv6 section with its block", got)
	}
	gwIn.ProviderIPv6 = false
	if _, err := rows.NATGatewayRows(gwIn); err == nil {
		t.Error("an IPv6 NAT gateway written without IPv6 on the provider network")
	}
}

func natsOf(rs []ovn.Row) []string {
	var out []string
	for _, r := range rs {
		if m, ok := r.Model.(*nbdb.NAT); ok {
			out = append(out, m.Type+" "+m.ExternalIP+" "+m.LogicalIP)
		}
	}
	return out
}
