package rows

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	apinetv1alpha1 "github.com/ovnet-dev/ovnet/apis/core/v1alpha1"
	"github.com/ovnet-dev/ovnet/ovn"
	"github.com/ovnet-dev/ovnet/ovn/nbdb"
)

// NetworkInterfaceInput is what a NetworkInterface's rows depend on.
type NetworkInterfaceInput struct {
	NIC *apinetv1alpha1.NetworkInterface
	// Network is the NIC's Network (its UID keys the parents).
	Network *apinetv1alpha1.Network
	// Chassis is the OVN chassis of the NIC's Node.
	Chassis string
	// PublicIPs are the public addresses the NIC holds (controllers/publicip):
	// never the spec's literals.
	PublicIPs []netip.Addr
	// Guest is what the guest is told by DHCP.
	Guest Guest
}

// Guest configures the guests' DHCP answers, the same for every NIC.
type Guest struct {
	// MTU is the largest frame payload a Network carries to the guest
	// (0: not sent).
	MTU int
	// DNSServers are handed to guests (none: not sent).
	DNSServers []netip.Addr
	// LeaseSeconds is the DHCP lease time (0: one hour).
	LeaseSeconds int
}

// NetworkInterfaceRows realizes what the NIC asks for: its IPs, prefixes and
// public IPs.
type NetworkInterfaceRows struct {
	Rows      []ovn.Row
	Prefixes  []apinetv1alpha1.IPPrefix
	PublicIPs []apinetv1alpha1.IPAddr
	// NotRealized names the parts of the NIC that have no rows (IPv6 is not
	// routed yet): the NIC must not report Ready while this is not empty.
	NotRealized []string
}

// NetworkInterfaceRowsFor: a switch port with the NIC's MAC and IPs, port
// security that also admits its prefixes, bound to its node's chassis; per
// IP a /32 route out of the internal router port (the guest answers ARP
// from 169.254.0.1), per prefix a route via the NIC's IP of that family; per
// held public IP a centralized dnat_and_snat (docs/ovn-mapping.md); DHCP
// options that tell the guest its address (dhcpOptions).
// Only IPv4 is routed for now; IPv6 parts are listed in NotRealized.
func NetworkInterfaceRowsFor(in NetworkInterfaceInput) (NetworkInterfaceRows, error) {
	nic, nw := in.NIC, in.Network
	var out NetworkInterfaceRows
	var v4 netip.Addr
	for _, ip := range nic.Spec.IPs {
		a, err := netip.ParseAddr(string(ip))
		switch {
		case err != nil:
		case a.Is4():
			v4 = a
		default:
			out.NotRealized = append(out.NotRealized, "IPv6 address "+a.String())
		}
	}
	if !v4.IsValid() {
		return out, fmt.Errorf("NetworkInterface %s/%s has no IPv4 address (IPv6-only interfaces are not supported yet)", nic.Namespace, nic.Name)
	}
	mac := apinetv1alpha1.NetworkInterfaceMAC(nic)
	key := func(k string) string { return string(nic.UID) + "/" + k }
	security := []string{mac, v4.String()}
	uid := string(nw.UID)
	router := []ovn.Parent{{Table: nbdb.LogicalRouterTable, Column: "static_routes", Key: NetworkKey(uid, KeyRouter)}}
	routerNAT := []ovn.Parent{{Table: nbdb.LogicalRouterTable, Column: "nat", Key: NetworkKey(uid, KeyRouter)}}
	outPort := RouterPortLSNameOf(nw.Namespace, nw.Name)
	out.Rows = append(out.Rows, ovn.Row{
		Key: key("route/" + v4.String() + "/32"), Parents: router,
		Model: &nbdb.LogicalRouterStaticRoute{IPPrefix: v4.String() + "/32", Nexthop: v4.String(), OutputPort: &outPort},
	})
	for _, p := range nic.Spec.Prefixes {
		pfx, err := netip.ParsePrefix(string(p))
		if err != nil {
			continue
		}
		pfx = pfx.Masked()
		if !pfx.Addr().Is4() {
			out.NotRealized = append(out.NotRealized, "IPv6 prefix "+pfx.String())
			continue
		}
		security = append(security, pfx.String())
		out.Prefixes = append(out.Prefixes, apinetv1alpha1.IPPrefix(pfx.String()))
		out.Rows = append(out.Rows, ovn.Row{
			Key: key("route/" + pfx.String()), Parents: router,
			Model: &nbdb.LogicalRouterStaticRoute{IPPrefix: pfx.String(), Nexthop: v4.String(), OutputPort: &outPort},
		})
	}
	for _, pub := range nic.Spec.PublicIPs {
		if pub.Family() == apinetv1alpha1.IPv6 {
			out.NotRealized = append(out.NotRealized, "IPv6 public IP "+pub.Name)
		}
	}
	for _, a := range in.PublicIPs {
		if !a.Is4() {
			continue // listed above from the spec
		}
		out.PublicIPs = append(out.PublicIPs, apinetv1alpha1.IPAddr(a.String()))
		out.Rows = append(out.Rows, ovn.Row{
			Key: key("nat/" + a.String()), Parents: routerNAT,
			Model: &nbdb.NAT{Type: nbdb.NATTypeDNATAndSNAT, ExternalIP: a.String(), LogicalIP: v4.String()},
		})
	}
	port := &nbdb.LogicalSwitchPort{
		Name:         apinetv1alpha1.NetworkInterfacePortName(nic),
		Addresses:    []string{mac + " " + v4.String()},
		PortSecurity: []string{strings.Join(security, " ")},
	}
	if in.Chassis != "" {
		port.Options = map[string]string{"requested-chassis": in.Chassis}
	}
	vni, err := strconv.ParseInt(nw.Spec.ID, 10, 64)
	if err != nil {
		return out, fmt.Errorf("network %s/%s has no network ID yet", nw.Namespace, nw.Name)
	}
	out.Rows = append([]ovn.Row{{
		Key: key("lsp"), Model: port,
		Parents: []ovn.Parent{{Table: nbdb.LogicalSwitchTable, Column: "ports", Key: NetworkKey(uid, KeySwitch)}},
	}, {
		Key: key("dhcpv4"), Model: &nbdb.DHCPOptions{Cidr: v4.String() + "/32", Options: dhcpOptions(nic, vni, in.Guest)},
		Parents: []ovn.Parent{{Table: nbdb.LogicalSwitchPortTable, Column: "dhcpv4_options", Key: key("lsp")}},
	}}, out.Rows...)
	slices.Sort(out.PublicIPs)
	return out, nil
}

// dhcpOptions answer a guest's DHCPv4 as a VM expects on ironcore: its
// address as a /32 (the mask comes from the row's cidr), the router
// 169.254.0.1 (the Network's internal router port, whose MAC serves), and
// classless routes 169.254.0.0/16 on-link and the default via the router;
// the hostname from spec.hostname, the MTU and DNS servers configured.
func dhcpOptions(nic *apinetv1alpha1.NetworkInterface, vni int64, g Guest) map[string]string {
	lease := g.LeaseSeconds
	if lease == 0 {
		lease = 3600
	}
	opts := map[string]string{
		"server_id":              GatewayLinkLocal,
		"server_mac":             networkMAC(vni, 1),
		"lease_time":             strconv.Itoa(lease),
		"router":                 GatewayLinkLocal,
		"classless_static_route": "{169.254.0.0/16,0.0.0.0, 0.0.0.0/0," + GatewayLinkLocal + "}",
	}
	if g.MTU > 0 {
		opts["mtu"] = strconv.Itoa(g.MTU)
	}
	if len(g.DNSServers) > 0 {
		dns := make([]string, len(g.DNSServers))
		for i, a := range g.DNSServers {
			dns[i] = a.String()
		}
		opts["dns_server"] = "{" + strings.Join(dns, ", ") + "}"
	}
	if nic.Spec.Hostname != "" {
		opts["hostname"] = strconv.Quote(nic.Spec.Hostname)
	}
	return opts
}
