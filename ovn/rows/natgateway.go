package rows

import (
	"fmt"
	"net/netip"
	"slices"

	apinetv1alpha1 "github.com/ovnet-dev/ovnet/apis/core/v1alpha1"
	"github.com/ovnet-dev/ovnet/ovn"
	"github.com/ovnet-dev/ovnet/ovn/nbdb"
)

// NATGatewayInput is what a NATGateway's rows depend on.
type NATGatewayInput struct {
	Gateway *apinetv1alpha1.NATGateway
	// Network is the gateway's Network (its UID keys the router).
	Network *apinetv1alpha1.Network
	// Table is the gateway's NATTable: the port block of every NATed NIC.
	Table *apinetv1alpha1.NATTable
	// Held are the NAT IPs the gateway holds (controllers/publicip); a
	// table entry of any other address gets no row.
	Held []netip.Addr
	// ProviderIPv6: the provider network carries IPv6 (Provider.IPv6).
	ProviderIPv6 bool
}

// KeyNATNetworkInterface in a snat row's external_ids names the NIC it
// NATs (the row's owner is the gateway).
const KeyNATNetworkInterface = "apinet.ironcore.dev/nic"

// SNATKey is the primary key of the snat row of gateway gwUID for the NIC nicUID.
func SNATKey(gwUID, nicUID string) string { return gwUID + "/snat/" + nicUID }

// NATGatewayRows: one snat row per NATed NIC on its Network's router —
// external_ip = the NAT IP, logical_ip = the NIC's IP, external_port_range
// = its block — keyed by gateway and NIC UID, so that a NIC's change
// touches exactly its row (docs/nat.md; SNAT is centralized on the gateway
// chassis, where its conntrack lives). Both addresses are of the gateway's
// family; an IPv6 gateway needs IPv6 on the provider network.
func NATGatewayRows(in NATGatewayInput) ([]ovn.Row, error) {
	is6 := in.Gateway.Spec.IPFamily == apinetv1alpha1.IPv6
	if is6 && !in.ProviderIPv6 {
		return nil, fmt.Errorf("NATGateway %s/%s: an IPv6 NAT gateway needs IPv6 on the provider network, which carries none", in.Gateway.Namespace, in.Gateway.Name)
	}
	if in.Table == nil {
		return nil, nil
	}
	router := []ovn.Parent{{Table: nbdb.LogicalRouterTable, Column: "nat", Key: NetworkKey(string(in.Network.UID), KeyRouter)}}
	var out []ovn.Row
	for _, natIP := range in.Table.IPs {
		external, err := netip.ParseAddr(string(natIP.IP))
		if err != nil || external.Is6() != is6 || !slices.Contains(in.Held, external) {
			continue
		}
		for _, sec := range natIP.Sections {
			internal, err := netip.ParseAddr(string(sec.IP))
			if err != nil || internal.Is6() != is6 || sec.TargetRef == nil {
				continue
			}
			out = append(out, ovn.Row{
				Key:     SNATKey(string(in.Gateway.UID), string(sec.TargetRef.UID)),
				Parents: router,
				Extra:   map[string]string{KeyNATNetworkInterface: sec.TargetRef.Name},
				Model: &nbdb.NAT{Type: nbdb.NATTypeSNAT, ExternalIP: external.String(), LogicalIP: internal.String(),
					ExternalPortRange: fmt.Sprintf("%d-%d", sec.Port, sec.EndPort)},
			})
		}
	}
	return out, nil
}
