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
	// ProviderIPv6: the provider network carries IPv6 (Provider.IPv6), so
	// IPv6 public IPs can be translated.
	ProviderIPv6 bool
	// PublicLBBackend: the NIC is a backend of a Public LoadBalancer of its
	// Network, whose connections are tracked on the gateway chassis: its
	// public IPs are translated there too, so that its answers to the LB's
	// clients go back through that conntrack.
	PublicLBBackend bool
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
	// NotRealized names the parts of the NIC that have no rows, and why: the
	// NIC must not report Ready while this is not empty.
	NotRealized []string
}

// NetworkInterfaceRowsFor: a switch port with the NIC's MAC and IPs (one of
// each family at most, IPv4, IPv6 or both), port security that also admits
// its prefixes, bound to its node's chassis; per IP a host route (/32,
// /128) out of the internal router port (the guest answers ARP from
// 169.254.0.1 and neighbor solicitations from the router's link-local
// address), per prefix a route via the NIC's IP of that family; per held
// public IP a dnat_and_snat to the NIC's IP of its family (IPv6 only when
// the provider network carries it), distributed: with the NIC's port as
// logical_port and its ExternalMAC, the NIC's chassis translates and puts
// the traffic on the provider network itself; centralized on the gateway
// chassis for a backend of a Public LoadBalancer (docs/design.md item 18);
// DHCPv4 and DHCPv6 options that tell the guest its addresses
// (dhcpOptions, dhcpv6Options).
func NetworkInterfaceRowsFor(in NetworkInterfaceInput) (NetworkInterfaceRows, error) {
	nic, nw := in.NIC, in.Network
	var out NetworkInterfaceRows
	var v4, v6 netip.Addr
	for _, ip := range nic.Spec.IPs {
		a, err := netip.ParseAddr(string(ip))
		switch {
		case err != nil:
		case a.Is4() && !v4.IsValid():
			v4 = a
		case a.Is6() && !v6.IsValid():
			v6 = a
		}
	}
	if !v4.IsValid() && !v6.IsValid() {
		return out, fmt.Errorf("NetworkInterface %s/%s has no IP address", nic.Namespace, nic.Name)
	}
	if v6.String() == GatewayAddress6 {
		return out, fmt.Errorf("address %s is the Network's router (reserved in every Network)", v6)
	}
	own := func(is6 bool) netip.Addr {
		if is6 {
			return v6
		}
		return v4
	}
	mac := apinetv1alpha1.NetworkInterfaceMAC(nic)
	portName := apinetv1alpha1.NetworkInterfacePortName(nic)
	external := ExternalMAC(mac)
	key := func(k string) string { return string(nic.UID) + "/" + k }
	uid := string(nw.UID)
	router := []ovn.Parent{{Table: nbdb.LogicalRouterTable, Column: "static_routes", Key: NetworkKey(uid, KeyRouter)}}
	routerNAT := []ovn.Parent{{Table: nbdb.LogicalRouterTable, Column: "nat", Key: NetworkKey(uid, KeyRouter)}}
	outPort := RouterPortLSNameOf(nw.Namespace, nw.Name)
	route := func(pfx netip.Prefix, via netip.Addr) ovn.Row {
		return ovn.Row{Key: key("route/" + pfx.String()), Parents: router,
			Model: &nbdb.LogicalRouterStaticRoute{IPPrefix: pfx.String(), Nexthop: via.String(), OutputPort: &outPort}}
	}
	addresses := []string{mac}
	for _, a := range []netip.Addr{v4, v6} {
		if a.IsValid() {
			addresses = append(addresses, a.String())
			out.Rows = append(out.Rows, route(netip.PrefixFrom(a, a.BitLen()), a))
		}
	}
	security := slices.Clone(addresses)
	for _, p := range nic.Spec.Prefixes {
		pfx, err := netip.ParsePrefix(string(p))
		if err != nil {
			continue
		}
		pfx = pfx.Masked()
		via := own(pfx.Addr().Is6())
		if !via.IsValid() {
			out.NotRealized = append(out.NotRealized, fmt.Sprintf("prefix %s (the interface has no address of its family to route it to)", pfx))
			continue
		}
		security = append(security, pfx.String())
		out.Prefixes = append(out.Prefixes, apinetv1alpha1.IPPrefix(pfx.String()))
		out.Rows = append(out.Rows, route(pfx, via))
	}
	for _, a := range in.PublicIPs {
		internal := own(a.Is6())
		switch {
		case a.Is6() && !in.ProviderIPv6:
			out.NotRealized = append(out.NotRealized, "IPv6 public IP "+a.String()+" (the provider network carries no IPv6)")
			continue
		case !internal.IsValid():
			out.NotRealized = append(out.NotRealized, "public IP "+a.String()+" (the interface has no address of its family to translate it to)")
			continue
		}
		out.PublicIPs = append(out.PublicIPs, apinetv1alpha1.IPAddr(a.String()))
		nat := &nbdb.NAT{Type: nbdb.NATTypeDNATAndSNAT, ExternalIP: a.String(), LogicalIP: internal.String()}
		if !in.PublicLBBackend {
			nat.LogicalPort, nat.ExternalMAC = &portName, &external
		}
		out.Rows = append(out.Rows, ovn.Row{Key: key("nat/" + a.String()), Parents: routerNAT, Model: nat})
	}
	port := &nbdb.LogicalSwitchPort{
		Name:         portName,
		Addresses:    []string{strings.Join(addresses, " ")},
		PortSecurity: []string{strings.Join(security, " ")},
	}
	if in.Chassis != "" {
		port.Options = map[string]string{"requested-chassis": in.Chassis}
	}
	vni, err := strconv.ParseInt(nw.Spec.ID, 10, 64)
	if err != nil {
		return out, fmt.Errorf("network %s/%s has no network ID yet", nw.Namespace, nw.Name)
	}
	head := []ovn.Row{{
		Key: key("lsp"), Model: port,
		Parents: []ovn.Parent{{Table: nbdb.LogicalSwitchTable, Column: "ports", Key: NetworkKey(uid, KeySwitch)}},
	}}
	if v4.IsValid() {
		head = append(head, ovn.Row{
			Key: key("dhcpv4"), Model: &nbdb.DHCPOptions{Cidr: v4.String() + "/32", Options: dhcpOptions(nic, vni, in.Guest)},
			Parents: []ovn.Parent{{Table: nbdb.LogicalSwitchPortTable, Column: "dhcpv4_options", Key: key("lsp")}},
		})
	}
	if v6.IsValid() {
		head = append(head, ovn.Row{
			Key: key("dhcpv6"), Model: &nbdb.DHCPOptions{Cidr: v6.String() + "/128", Options: dhcpv6Options(vni, in.Guest)},
			Parents: []ovn.Parent{{Table: nbdb.LogicalSwitchPortTable, Column: "dhcpv6_options", Key: key("lsp")}},
		})
	}
	out.Rows = append(head, out.Rows...)
	slices.Sort(out.PublicIPs)
	return out, nil
}

// ExternalMAC is the MAC a NIC's public IPs have on the provider network:
// its own MAC with the first byte 0x0e (also locally administered), so the
// two never clash on one segment.
func ExternalMAC(nicMAC string) string { return "0e" + nicMAC[2:] }

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
	if dns := dnsServers(g, false); dns != "" {
		opts["dns_server"] = dns
	}
	if nic.Spec.Hostname != "" {
		opts["hostname"] = strconv.Quote(nic.Spec.Hostname)
	}
	return opts
}

// dhcpv6Options answer a guest's DHCPv6 (the "managed" flag of the router
// advertisements sends it there): its address, a /128 (the row's cidr),
// from the router port's identity, and the IPv6 DNS servers configured.
// The default route is not DHCPv6's: the router advertisements give it.
func dhcpv6Options(vni int64, g Guest) map[string]string {
	opts := map[string]string{"server_id": networkMAC(vni, 1)}
	if dns := dnsServers(g, true); dns != "" {
		opts["dns_server"] = dns
	}
	return opts
}

// dnsServers is the OVN set of the configured DNS servers of one family
// ("" when there are none).
func dnsServers(g Guest, is6 bool) string {
	var dns []string
	for _, a := range g.DNSServers {
		if a.Is6() == is6 {
			dns = append(dns, a.String())
		}
	}
	if len(dns) == 0 {
		return ""
	}
	return "{" + strings.Join(dns, ", ") + "}"
}
