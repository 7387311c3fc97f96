package rows

import (
	"fmt"
	"net/netip"
	"strconv"

	apinetv1alpha1 "github.com/ovnet-dev/ovnet/apis/core/v1alpha1"
	"github.com/ovnet-dev/ovnet/ovn"
	"github.com/ovnet-dev/ovnet/ovn/nbdb"
)

// RouterTunnelKeyOffset: a Network's router has tunnel key VNI + 2^23, a
// range disjoint from the switches' (VNI), so northd never re-keys one for
// the other (docs/ovn-mapping.md).
const RouterTunnelKeyOffset = 1 << 23

// MaxVNI is the largest VNI whose router key stays a valid tunnel key.
const MaxVNI = 1<<23 - 1

// GatewayLinkLocal is every Network's internal router address; guests route
// everything to it.
const GatewayLinkLocal = "169.254.0.1"

// GatewayLinkLocal6 is the same for IPv6: the internal router port's
// link-local address, the guests' default router (its router
// advertisements say so).
const GatewayLinkLocal6 = "fe80::1"

// GatewayAddress6 is a global address of the internal router port, the same
// in every Network (a ULA whose global ID spells "ovnet"). OVN 23.03 sends
// router advertisements, and answers solicitations, only for a port with a
// prefix that is not link-local: this /128 is that prefix. Guests see it
// advertised on-link; nothing else lives in it (docs/design.md item 25).
const GatewayAddress6 = "fd6f:766e:6574::1"

// RouterAdvertisementInterval is the longest time between two periodic
// router advertisements (seconds); a guest's solicitation is answered at once.
const RouterAdvertisementInterval = 30

// Keys of a Network's rows (owner: the Network).
const (
	KeySwitch        = "ls"
	KeyRouter        = "lr"
	KeyRouterPortLS  = "lrp-ls"
	keySwitchToLR    = "lsp-to-lr"
	keyRouterPortGW  = "lrp-gw"
	keyProviderToGW  = "provider-lsp-to-gw"
	keyDefaultRoute  = "route-default"
	keyDefaultRoute6 = "route-default6"
	keyGatewayPrefix = "gateway-chassis-"
)

// GatewayChassis is a chassis that may host a Network's gateway port, with
// its priority (higher wins).
type GatewayChassis struct {
	Name     string
	Priority int
}

// NetworkInput is what a Network's rows depend on besides the Network.
type NetworkInput struct {
	Network   *apinetv1alpha1.Network
	VNI       int64
	TransitIP netip.Addr
	// TransitIP6 is the gateway port's IPv6 address (only when the
	// provider network carries IPv6).
	TransitIP6 netip.Addr
	Provider   Provider
	Gateways   []GatewayChassis
	// Guest: the MTU told to IPv6 guests in router advertisements.
	Guest Guest
}

// Names of a Network's rows.
func NetworkSwitchName(nw *apinetv1alpha1.Network) string { return nw.Namespace + "/" + nw.Name }
func NetworkRouterName(nw *apinetv1alpha1.Network) string { return nw.Namespace + "/" + nw.Name }
func routerPortLSName(nw *apinetv1alpha1.Network) string  { return NetworkRouterName(nw) + "/lr-ls" }
func routerPortGWName(nw *apinetv1alpha1.Network) string  { return NetworkRouterName(nw) + "/lr-gw" }

// RouterPortLSNameOf is the internal router port of the Network named
// namespace/name: the output port of the routes to its NetworkInterfaces.
func RouterPortLSNameOf(namespace, name string) string { return namespace + "/" + name + "/lr-ls" }

// NetworkKey is the primary key of a Network row in other owners' parents:
// keys are unique per table, so they carry the Network's UID.
func NetworkKey(uid, key string) string { return uid + "/" + key }

// NetworkRows: one switch (tunnel key = VNI) and one router (VNI + 2^23),
// joined by a router port at 169.254.0.1/32, fe80::1/64 and
// fd6f:766e:6574::1/128 that sends router advertisements
// (routerAdvertisements); a distributed gateway port with
// a transit address (and an IPv6 one when the provider network carries
// IPv6) on the provider switch, on the gateway chassis; a default route per
// family to the provider's next hop (docs/ovn-mapping.md).
func NetworkRows(in NetworkInput) ([]ovn.Row, error) {
	nw := in.Network
	if in.VNI < 1 || in.VNI > MaxVNI {
		return nil, fmt.Errorf("VNI %d is outside 1..%d", in.VNI, MaxVNI)
	}
	if !in.Provider.TransitPrefix.Contains(in.TransitIP) {
		return nil, fmt.Errorf("transit IP %s is outside %s", in.TransitIP, in.Provider.TransitPrefix)
	}
	transit := []string{netip.PrefixFrom(in.TransitIP, in.Provider.TransitPrefix.Bits()).String()}
	if in.Provider.IPv6() {
		if !in.Provider.TransitPrefix6.Contains(in.TransitIP6) {
			return nil, fmt.Errorf("transit IP %s is outside %s", in.TransitIP6, in.Provider.TransitPrefix6)
		}
		transit = append(transit, netip.PrefixFrom(in.TransitIP6, in.Provider.TransitPrefix6.Bits()).String())
	}
	uid := string(nw.UID)
	key := func(k string) string { return NetworkKey(uid, k) }
	lr := []ovn.Parent{{Table: nbdb.LogicalRouterTable, Column: "ports", Key: key(KeyRouter)}}
	vni := strconv.FormatInt(in.VNI, 10)
	rows := []ovn.Row{
		{Key: key(KeySwitch), Model: &nbdb.LogicalSwitch{Name: NetworkSwitchName(nw), OtherConfig: map[string]string{"requested-tnl-key": vni}}},
		{Key: key(KeyRouter), Model: &nbdb.LogicalRouter{Name: NetworkRouterName(nw),
			Options: map[string]string{"requested-tnl-key": strconv.FormatInt(in.VNI+RouterTunnelKeyOffset, 10),
				// Every Network's gateway port is on the one provider switch.
				// By default ovn-northd gives each router a static neighbour
				// flow for every other router's port there, and each router
				// learns a MAC binding from every other gateway port's
				// gratuitous ARP: both grow with the square of the Networks.
				// A router only sends there to the provider's next hop
				// (peering has ports of its own), which it resolves by ARP/ND
				// anyway, and still learns from requests for its own
				// addresses and from replies.
				"dynamic_neigh_routers":         "true",
				"always_learn_from_arp_request": "false"}}},
		{Key: key(KeyRouterPortLS), Parents: lr, Model: &nbdb.LogicalRouterPort{
			Name: routerPortLSName(nw), MAC: networkMAC(in.VNI, 1), Networks: []string{GatewayLinkLocal + "/32", GatewayLinkLocal6 + "/64", GatewayAddress6 + "/128"},
			Ipv6RaConfigs: routerAdvertisements(in.Guest)}},
		{Key: key(keySwitchToLR), Parents: []ovn.Parent{{Table: nbdb.LogicalSwitchTable, Column: "ports", Key: key(KeySwitch)}},
			Model: &nbdb.LogicalSwitchPort{Name: NetworkSwitchName(nw) + "/to-lr", Type: "router", Addresses: []string{"router"},
				Options: map[string]string{"router-port": routerPortLSName(nw)}}},
		{Key: key(keyRouterPortGW), Parents: lr, Model: &nbdb.LogicalRouterPort{
			Name: routerPortGWName(nw), MAC: networkMAC(in.VNI, 2),
			Networks: transit}},
		{Key: key(keyProviderToGW), Parents: []ovn.Parent{{Table: nbdb.LogicalSwitchTable, Column: "ports", Key: KeyProviderSwitch}},
			Model: &nbdb.LogicalSwitchPort{Name: ProviderSwitchName(in.Provider) + "/" + nw.Namespace + "/" + nw.Name, Type: "router",
				Addresses: []string{"router"}, Options: map[string]string{"router-port": routerPortGWName(nw)}}},
		{Key: key(keyDefaultRoute), Parents: []ovn.Parent{{Table: nbdb.LogicalRouterTable, Column: "static_routes", Key: key(KeyRouter)}},
			Model: &nbdb.LogicalRouterStaticRoute{IPPrefix: "0.0.0.0/0", Nexthop: in.Provider.NextHop.String()}},
	}
	if in.Provider.IPv6() {
		rows = append(rows, ovn.Row{Key: key(keyDefaultRoute6), Parents: []ovn.Parent{{Table: nbdb.LogicalRouterTable, Column: "static_routes", Key: key(KeyRouter)}},
			Model: &nbdb.LogicalRouterStaticRoute{IPPrefix: "::/0", Nexthop: in.Provider.NextHop6.String()}})
	}
	gw := []ovn.Parent{{Table: nbdb.LogicalRouterPortTable, Column: "gateway_chassis", Key: key(keyRouterPortGW)}}
	for _, g := range in.Gateways {
		rows = append(rows, ovn.Row{Key: key(keyGatewayPrefix + g.Name), Parents: gw, Model: &nbdb.GatewayChassis{
			Name: routerPortGWName(nw) + "/" + g.Name, ChassisName: g.Name, Priority: g.Priority}})
	}
	return rows, nil
}

// routerAdvertisements make the internal router port advertise itself as
// the IPv6 default router, periodically and on solicitation. The guests'
// addresses are /128s given by the API (there is no prefix to autoconfigure
// from), so the "managed" flag tells them to ask DHCPv6 for it.
func routerAdvertisements(g Guest) map[string]string {
	ra := map[string]string{
		"address_mode":  "dhcpv6_stateful",
		"send_periodic": "true",
		"max_interval":  strconv.Itoa(RouterAdvertisementInterval),
		"min_interval":  strconv.Itoa(RouterAdvertisementInterval / 3),
	}
	if g.MTU > 0 {
		ra["mtu"] = strconv.Itoa(g.MTU)
	}
	return ra
}

// RouterPortMAC is the MAC of a Network's internal router port (the
// guests' gateway) for its VNI.
func RouterPortMAC(vni int64) string { return networkMAC(vni, 1) }

// networkMAC is 0a:58:<VNI as 3 bytes>:<n>: unique per Network, which the
// gateway ports need on the shared provider segment.
func networkMAC(vni int64, n byte) string {
	return fmt.Sprintf("0a:58:%02x:%02x:%02x:%02x", byte(vni>>16), byte(vni>>8), byte(vni), n)
}
