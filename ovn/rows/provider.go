package rows

import (
	"net/netip"

	"github.com/ovnet-dev/ovnet/ovn"
	"github.com/ovnet-dev/ovnet/ovn/nbdb"
)

// Provider describes the shared provider network every Network's gateway
// port sits on.
type Provider struct {
	// PhysicalNetwork is the localnet network_name, mapped on each chassis
	// by ovn-bridge-mappings (e.g. physnet1:br-ex).
	PhysicalNetwork string
	// TransitPrefix holds the gateway ports' addresses, e.g. 100.64.0.0/16.
	TransitPrefix netip.Prefix
	// NextHop is the upstream router on the transit prefix, e.g. 100.64.0.1.
	NextHop netip.Addr
	// TransitPrefix6 and NextHop6 are the same for IPv6, e.g. fd00:64::/64
	// and fd00:64::1. Unset: the provider network carries no IPv6, and no
	// IPv6 public address is realized.
	TransitPrefix6 netip.Prefix
	NextHop6       netip.Addr
	// PublicPrefixes are the public pools: traffic with these sources (and
	// transit ones) may leave to the provider network.
	PublicPrefixes []netip.Prefix
}

// IPv6 reports whether the provider network carries IPv6.
func (p Provider) IPv6() bool { return p.TransitPrefix6.IsValid() && p.NextHop6.IsValid() }

// TransitPrefixes are the transit prefixes of both families (IPv6 when set).
func (p Provider) TransitPrefixes() []netip.Prefix {
	if p.IPv6() {
		return []netip.Prefix{p.TransitPrefix, p.TransitPrefix6}
	}
	return []netip.Prefix{p.TransitPrefix}
}

// ProviderTunnelKey is the provider switch's tunnel key: below every VNI
// ovnet allocates (--min-vni is at least 200 by default), so it never clashes.
const ProviderTunnelKey = "100"

// Keys of the provider network's rows (owner: ProviderOwner).
const (
	KeyProviderSwitch     = "provider-ls"
	keyProviderLocalnet   = "provider-localnet"
	keyProviderSources    = "provider-sources"
	keyProviderSources6   = "provider-sources6"
	keyProviderLeakGuard  = "provider-leak-guard"
	keyProviderLeakGuard6 = "provider-leak-guard6"
)

// ProviderOwner owns the provider network's rows. It is not an API object:
// the controller writes these rows at start.
func ProviderOwner(p Provider) ovn.Owner {
	return ovn.Owner{Kind: "ProviderNetwork", Name: p.PhysicalNetwork, UID: "provider-network-" + p.PhysicalNetwork}
}

// ProviderSwitchName is the provider switch's name.
func ProviderSwitchName(p Provider) string { return "provider/" + p.PhysicalNetwork }

// ProviderRows: the provider switch with its localnet port, and per family
// an ACL that drops traffic to the physical network whose source is neither
// public nor transit, so a NetworkInterface without public IP or NAT leaks
// nothing (docs/ovn-mapping.md; docs/design.md item 22). The IPv6 guard also
// lets link-local sources pass (the gateway ports' neighbor discovery) and,
// without IPv6 on the provider network, drops every other IPv6 source.
func ProviderRows(p Provider) []ovn.Row {
	sw := ProviderSwitchName(p)
	localnet := sw + "/localnet"
	sources := map[bool][]string{}
	for _, pfx := range append(p.TransitPrefixes(), p.PublicPrefixes...) {
		sources[pfx.Addr().Is6()] = append(sources[pfx.Addr().Is6()], pfx.Masked().String())
	}
	sources[true] = append(sources[true], "fe80::/10")
	parent := []ovn.Parent{{Table: nbdb.LogicalSwitchTable, Column: "ports", Key: KeyProviderSwitch}}
	acls := []ovn.Parent{{Table: nbdb.LogicalSwitchTable, Column: "acls", Key: KeyProviderSwitch}}
	rows := []ovn.Row{
		{Key: KeyProviderSwitch, Model: &nbdb.LogicalSwitch{Name: sw, OtherConfig: map[string]string{"requested-tnl-key": ProviderTunnelKey}}},
		{Key: keyProviderLocalnet, Parents: parent, Model: &nbdb.LogicalSwitchPort{
			Name: localnet, Type: "localnet", Addresses: []string{"unknown"},
			Options: map[string]string{"network_name": p.PhysicalNetwork},
		}},
	}
	for _, f := range []struct {
		is6                       bool
		set, ip, keySet, keyGuard string
	}{
		{false, "ovnet_provider_sources_", "ip4", keyProviderSources, keyProviderLeakGuard},
		{true, "ovnet_provider_sources6_", "ip6", keyProviderSources6, keyProviderLeakGuard6},
	} {
		set := f.set + sanitize(p.PhysicalNetwork)
		rows = append(rows,
			ovn.Row{Key: f.keySet, Model: &nbdb.AddressSet{Name: set, Addresses: sources[f.is6]}},
			ovn.Row{Key: f.keyGuard, Parents: acls, Model: &nbdb.ACL{
				Direction: nbdb.ACLDirectionToLport, Priority: 1000, Action: nbdb.ACLActionDrop,
				Match: `outport == "` + localnet + `" && ` + f.ip + ` && !(` + f.ip + `.src == $` + set + `)`,
			}})
	}
	return rows
}

// sanitize makes s usable in an address-set name (letters, digits, _).
func sanitize(s string) string {
	out := []byte(s)
	for i, c := range out {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			out[i] = '_'
		}
	}
	return string(out)
}
