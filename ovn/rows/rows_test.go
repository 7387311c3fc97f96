package rows_test

import (
	"context"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	apinetv1alpha1 "github.com/ovnet-dev/ovnet/apis/core/v1alpha1"
	"github.com/ovnet-dev/ovnet/devstack"
	"github.com/ovnet-dev/ovnet/ovn"
	"github.com/ovnet-dev/ovnet/ovn/nbdb"
	"github.com/ovnet-dev/ovnet/ovn/rows"
)

var provider = rows.Provider{
	PhysicalNetwork: "physnet1",
	TransitPrefix:   netip.MustParsePrefix("100.64.0.0/16"),
	NextHop:         netip.MustParseAddr("100.64.0.1"),
	PublicPrefixes:  []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24")},
}

// network is a Network with ID 301 (the ID keys its router port's MAC).
func network(name, uid string) *apinetv1alpha1.Network {
	return &apinetv1alpha1.Network{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name, UID: types.UID(uid)},
		Spec: apinetv1alpha1.NetworkSpec{ID: "301"}}
}

func nic(name, uid string, ips []string, prefixes []string, public ...string) *apinetv1alpha1.NetworkInterface {
	n := &apinetv1alpha1.NetworkInterface{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name, UID: types.UID(uid)}}
	for _, ip := range ips {
		n.Spec.IPs = append(n.Spec.IPs, apinetv1alpha1.IPAddr(ip))
	}
	for _, p := range prefixes {
		n.Spec.Prefixes = append(n.Spec.Prefixes, apinetv1alpha1.IPPrefix(p))
	}
	for i, p := range public {
		n.Spec.PublicIPs = append(n.Spec.PublicIPs, apinetv1alpha1.PublicIPRequest{Name: string(rune('a' + i)), IP: apinetv1alpha1.IPAddr(p)})
	}
	return n
}

func TestNetworkRowsRefuseBadInput(t *testing.T) {
	in := rows.NetworkInput{Network: network("n", "u1"), VNI: 301, TransitIP: netip.MustParseAddr("100.64.0.11"), Provider: provider}
	if _, err := rows.NetworkRows(in); err != nil {
		t.Fatal(err)
	}
	bad := in
	bad.VNI = rows.MaxVNI + 1
	if _, err := rows.NetworkRows(bad); err == nil {
		t.Error("VNI above 2^23-1 accepted: its router key would be out of OVN's range")
	}
	bad = in
	bad.TransitIP = netip.MustParseAddr("10.0.0.1")
	if _, err := rows.NetworkRows(bad); err == nil {
		t.Error("transit IP outside the transit prefix accepted")
	}
}

func TestNetworkInterfaceRows(t *testing.T) {
	n := nic("a", "nic-uid", []string{"192.168.178.1", "fd00::1"}, []string{"10.50.0.7/24"}, "203.0.113.21", "203.0.113.99")
	// The spec names two public IPs; the NIC holds one of them.
	n.Spec.Hostname = "vm-a"
	got, err := rows.NetworkInterfaceRowsFor(rows.NetworkInterfaceInput{NIC: n, Network: network("net", "net-uid"), Chassis: "node1",
		PublicIPs: []netip.Addr{netip.MustParseAddr("203.0.113.21")},
		Guest:     rows.Guest{MTU: 1442, DNSServers: []netip.Addr{netip.MustParseAddr("192.0.2.53"), netip.MustParseAddr("192.0.2.54")}}})
	if err != nil {
		t.Fatal(err)
	}
	mac := apinetv1alpha1.NetworkInterfaceMAC(n)
	if mac != apinetv1alpha1.NetworkInterfaceMAC(n.DeepCopy()) || !strings.HasPrefix(mac, "0a:") {
		t.Fatalf("MAC %s not stable or not locally administered", mac)
	}
	lsp := got.Rows[0].Model.(*nbdb.LogicalSwitchPort)
	if lsp.Name != "default/a" || lsp.Addresses[0] != mac+" 192.168.178.1 fd00::1" ||
		lsp.PortSecurity[0] != mac+" 192.168.178.1 fd00::1 10.50.0.0/24" || lsp.Options["requested-chassis"] != "node1" {
		t.Errorf("port = %+v", lsp)
	}
	var routes, nats []string
	var dhcp, dhcp6 *nbdb.DHCPOptions
	for _, r := range got.Rows[1:] {
		switch m := r.Model.(type) {
		case *nbdb.DHCPOptions:
			column := "dhcpv4_options"
			if strings.Contains(m.Cidr, ":") {
				dhcp6, column = m, "dhcpv6_options"
			} else {
				dhcp = m
			}
			if len(r.Parents) != 1 || r.Parents[0].Column != column || r.Parents[0].Key != got.Rows[0].Key {
				t.Errorf("DHCP options %s not linked from the NIC's port's %s: %+v", m.Cidr, column, r.Parents)
			}
		case *nbdb.LogicalRouterStaticRoute:
			routes = append(routes, m.IPPrefix+" via "+m.Nexthop+" out "+*m.OutputPort)
		case *nbdb.NAT:
			nats = append(nats, m.Type+" "+m.ExternalIP+" "+m.LogicalIP)
			// Distributed: translated on the NIC's chassis, with a MAC of
			// its own on the provider network.
			if m.LogicalPort == nil || *m.LogicalPort != "default/a" || m.ExternalMAC == nil || *m.ExternalMAC == mac || !strings.HasPrefix(*m.ExternalMAC, "0e:") {
				t.Errorf("NAT row %+v is not distributed to the NIC's port with its own MAC", m)
			}
		}
		if !strings.HasPrefix(r.Key, "nic-uid/") {
			t.Errorf("key %q does not carry the NIC's UID", r.Key)
		}
	}
	wantRoutes := []string{"192.168.178.1/32 via 192.168.178.1 out default/net/lr-ls", "fd00::1/128 via fd00::1 out default/net/lr-ls",
		"10.50.0.0/24 via 192.168.178.1 out default/net/lr-ls"}
	if strings.Join(routes, ";") != strings.Join(wantRoutes, ";") {
		t.Errorf("routes = %v, want %v", routes, wantRoutes)
	}
	if strings.Join(nats, ";") != "dnat_and_snat 203.0.113.21 192.168.178.1" {
		t.Errorf("NAT = %v", nats)
	}
	// DHCP: the address as a /32, the router and its routes as on ironcore,
	// the hostname, the MTU and the DNS servers.
	wantDHCP := map[string]string{
		"server_id": "169.254.0.1", "router": "169.254.0.1", "lease_time": "3600",
		"classless_static_route": "{169.254.0.0/16,0.0.0.0, 0.0.0.0/0,169.254.0.1}",
		"hostname":               `"vm-a"`, "mtu": "1442", "dns_server": "{192.0.2.53, 192.0.2.54}",
	}
	if dhcp == nil || dhcp.Cidr != "192.168.178.1/32" {
		t.Fatalf("DHCP options %+v, want cidr 192.168.178.1/32", dhcp)
	}
	for k, v := range wantDHCP {
		if dhcp.Options[k] != v {
			t.Errorf("DHCP option %s = %q, want %q", k, dhcp.Options[k], v)
		}
	}
	if !strings.HasPrefix(dhcp.Options["server_mac"], "0a:58:") {
		t.Errorf("server_mac %q is not the router port's", dhcp.Options["server_mac"])
	}
	// DHCPv6: the address as a /128 from the router port's identity; the
	// IPv4 DNS servers are not IPv6's.
	if dhcp6 == nil || dhcp6.Cidr != "fd00::1/128" || dhcp6.Options["server_id"] != dhcp.Options["server_mac"] || dhcp6.Options["dns_server"] != "" {
		t.Errorf("DHCPv6 options %+v, want cidr fd00::1/128 and the router port's MAC as server_id", dhcp6)
	}
	if len(got.PublicIPs) != 1 || len(got.Prefixes) != 1 || got.Prefixes[0] != "10.50.0.0/24" {
		t.Errorf("realized = %v %v", got.PublicIPs, got.Prefixes)
	}
	if len(got.NotRealized) != 0 {
		t.Errorf("NotRealized = %v, want nothing: both families are routed", got.NotRealized)
	}
	// A public IP only named in the spec, held by nobody, gives no row.
	unheld, err := rows.NetworkInterfaceRowsFor(rows.NetworkInterfaceInput{NIC: nic("b", "u", []string{"192.168.178.2"}, nil, "203.0.113.21"), Network: network("net", "net-uid")})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range unheld.Rows {
		if _, ok := r.Model.(*nbdb.NAT); ok {
			t.Errorf("NAT row for a public IP the NIC does not hold: %+v", r.Model)
		}
	}
	if len(unheld.PublicIPs) != 0 {
		t.Errorf("status.publicIPs would claim %v", unheld.PublicIPs)
	}
	// An IPv6-only NIC: a /128 route, its prefix routed via its address,
	// DHCPv6 and no DHCPv4; an IPv4 prefix or public IP it cannot route is not realized.
	v6, err := rows.NetworkInterfaceRowsFor(rows.NetworkInterfaceInput{
		NIC:     nic("v6", "u", []string{"fd00::2"}, []string{"fd00:1::/64", "10.9.0.0/24"}, "203.0.113.22"),
		Network: network("net", "net-uid"), PublicIPs: []netip.Addr{netip.MustParseAddr("203.0.113.22")}})
	if err != nil {
		t.Fatal(err)
	}
	routes = nil
	for _, r := range v6.Rows {
		switch m := r.Model.(type) {
		case *nbdb.LogicalRouterStaticRoute:
			routes = append(routes, m.IPPrefix+" via "+m.Nexthop)
		case *nbdb.DHCPOptions:
			if m.Cidr != "fd00::2/128" {
				t.Errorf("IPv6-only NIC got DHCP options %+v, want DHCPv6 only", m)
			}
		case *nbdb.NAT:
			t.Errorf("IPv6-only NIC got %T %+v", m, m)
		}
	}
	if strings.Join(routes, ";") != "fd00::2/128 via fd00::2;fd00:1::/64 via fd00::2" {
		t.Errorf("IPv6-only routes = %v", routes)
	}
	if len(v6.NotRealized) != 2 || len(v6.PublicIPs) != 0 {
		t.Errorf("IPv6-only NIC: NotRealized %v, publicIPs %v; want the IPv4 prefix and public IP not realized", v6.NotRealized, v6.PublicIPs)
	}
	if _, err := rows.NetworkInterfaceRowsFor(rows.NetworkInterfaceInput{NIC: nic("none", "u", nil, nil), Network: network("net", "net-uid")}); err == nil {
		t.Error("NIC without addresses accepted silently")
	}
}

// TestRowsInRealOVN applies the provider, two Networks with the same NIC IPs
// and their NICs to a real NB database and checks what ovn-northd made of
// them: tunnel keys (VNI for switches, VNI + 2^23 for routers) and ports.
func TestRowsInRealOVN(t *testing.T) {
	central := devstack.StartCentralT(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := ovn.ConnectNB(ctx, ovn.Config{Endpoints: []string{central.NBEndpoint()}, Logger: logr.Discard()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	apply := func(o ovn.Owner, rows []ovn.Row) {
		t.Helper()
		if _, err := c.Apply(ctx, o, rows); err != nil {
			t.Fatalf("apply %s: %v", o, err)
		}
		time.Sleep(100 * time.Millisecond) // let the cache see our write before the next owner's parents are resolved
	}
	apply(rows.ProviderOwner(provider), rows.ProviderRows(provider))
	for i, nw := range []*apinetv1alpha1.Network{network("net301", "uid-301"), network("net302", "uid-302")} {
		vni := int64(301 + i)
		nw.Spec.ID = strconv.FormatInt(vni, 10)
		netRows, err := rows.NetworkRows(rows.NetworkInput{Network: nw, VNI: vni, TransitIP: netip.AddrFrom4([4]byte{100, 64, 0, byte(11 + i)}),
			Provider: provider, Gateways: []rows.GatewayChassis{{Name: "node1", Priority: 10}}})
		if err != nil {
			t.Fatal(err)
		}
		apply(ovn.Owner{Kind: "Network", Namespace: "default", Name: nw.Name, UID: string(nw.UID)}, netRows)
		// The same private IPs in both networks.
		n := nic("nic-"+nw.Name, "nic-uid-"+nw.Name, []string{"192.168.178.1"}, []string{"10.50.0.0/24"})
		nr, err := rows.NetworkInterfaceRowsFor(rows.NetworkInterfaceInput{NIC: n, Network: nw, Chassis: "node1"})
		if err != nil {
			t.Fatal(err)
		}
		apply(ovn.Owner{Kind: "NetworkInterface", Namespace: "default", Name: n.Name, UID: string(n.UID)}, nr.Rows)
	}
	sbctl := func(args ...string) string { t.Helper(); return central.SBCtl(t, args...) }
	want := map[string]string{"default/net301": "301", "default/net302": "302", "provider/physnet1": "100"}
	deadline := time.Now().Add(20 * time.Second)
	for {
		got := map[string]string{}
		for _, line := range strings.Split(sbctl("--bare", "--columns=external_ids,tunnel_key", "list", "Datapath_Binding"), "\n\n") {
			f := strings.Fields(line)
			if len(f) < 2 {
				continue
			}
			for _, kv := range f[:len(f)-1] {
				if name, ok := strings.CutPrefix(kv, "name="); ok {
					got[name] = got[name] + f[len(f)-1] + " "
				}
			}
		}
		ok := strings.Contains(got["default/net301"], "301 ") && strings.Contains(got["default/net301"], "8388909 ") &&
			strings.Contains(got["default/net302"], "302 ") && strings.Contains(got["default/net302"], "8388910 ") &&
			strings.TrimSpace(got["provider/physnet1"]) == want["provider/physnet1"]
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("SB datapaths (name: tunnel keys) = %v; want switches 301/302, routers 8388909/8388910, provider 100", got)
		}
		time.Sleep(200 * time.Millisecond)
	}
	ports := sbctl("--bare", "--columns=logical_port", "list", "Port_Binding")
	for _, p := range []string{"default/nic-net301", "default/nic-net302", "default/net301/lr-gw", "provider/physnet1/localnet", "cr-default/net301/lr-gw"} {
		if !strings.Contains(ports, p) {
			t.Errorf("SB has no port binding %s:\n%s", p, ports)
		}
	}
	// northd accepts the NICs' DHCP options: it answers DHCP for them.
	dhcpFlow := false
	for end := time.Now().Add(10 * time.Second); !dhcpFlow && time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
		for _, f := range strings.Split(sbctl("--bare", "--columns=match,actions", "list", "Logical_Flow"), "\n\n") {
			if strings.Contains(f, `inport == "default/nic-net301"`) && strings.Contains(f, "put_dhcp_opts(offerip = 192.168.178.1") {
				dhcpFlow = true
			}
		}
	}
	if !dhcpFlow {
		t.Error("northd wrote no DHCP answer flow for default/nic-net301")
	}
	if log, _ := os.ReadFile(central.Dir + "/northd-daemon.log"); strings.Contains(string(log), "ERR") || strings.Contains(string(log), "commit failed") {
		t.Errorf("ovn-northd reported errors:\n%s", log)
	}
}
