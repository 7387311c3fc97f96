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
	// PublicPrefixes are the public pools: traffic with these sources (and
	// transit ones) may leave to the provider network.
	PublicPrefixes []netip.Prefix
}

// ProviderTunnelKey is the provider switch's tunnel key: below every VNI
// ovnet allocates (--min-vni is at least 200 by default), so it never clashes.
const ProviderTunnelKey = "100"

// Keys of the provider network's rows (owner: ProviderOwner).
const (
	KeyProviderSwitch    = "provider-ls"
	keyProviderLocalnet  = "provider-localnet"
	keyProviderSources   = "provider-sources"
	keyProviderLeakGuard = "provider-leak-guard"
)

// ProviderOwner owns the provider network's rows. It is not an API object:
// the controller writes these rows at start.
func ProviderOwner(p Provider) ovn.Owner {
	return ovn.Owner{Kind: "ProviderNetwork", Name: p.PhysicalNetwork, UID: "provider-network-" + p.PhysicalNetwork}
}

// ProviderSwitchName is the provider switch's name.
func ProviderSwitchName(p Provider) string { return "provider/" + p.PhysicalNetwork }

// ProviderRows: the provider switch with its localnet port, and an ACL that
// drops traffic to the physical network whose source is neither public nor
// transit, so a NetworkInterface without public IP or NAT leaks nothing
// (docs/ovn-mapping.md; docs/design.md item 22).
func ProviderRows(p Provider) []ovn.Row {
	sw := ProviderSwitchName(p)
	localnet := sw + "/localnet"
	sources := []string{p.TransitPrefix.String()}
	for _, pfx := range p.PublicPrefixes {
		if pfx.Addr().Is4() {
			sources = append(sources, pfx.String())
		}
	}
	addressSet := "ovnet_provider_sources_" + sanitize(p.PhysicalNetwork)
	parent := []ovn.Parent{{Table: nbdb.LogicalSwitchTable, Column: "ports", Key: KeyProviderSwitch}}
	return []ovn.Row{
		{Key: KeyProviderSwitch, Model: &nbdb.LogicalSwitch{Name: sw, OtherConfig: map[string]string{"requested-tnl-key": ProviderTunnelKey}}},
		{Key: keyProviderLocalnet, Parents: parent, Model: &nbdb.LogicalSwitchPort{
			Name: localnet, Type: "localnet", Addresses: []string{"unknown"},
			Options: map[string]string{"network_name": p.PhysicalNetwork},
		}},
		{Key: keyProviderSources, Model: &nbdb.AddressSet{Name: addressSet, Addresses: sources}},
		{Key: keyProviderLeakGuard, Parents: []ovn.Parent{{Table: nbdb.LogicalSwitchTable, Column: "acls", Key: KeyProviderSwitch}},
			Model: &nbdb.ACL{
				Direction: nbdb.ACLDirectionToLport, Priority: 1000, Action: nbdb.ACLActionDrop,
				Match: `outport == "` + localnet + `" && ip4 && !(ip4.src == $` + addressSet + `)`,
			}},
	}
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
