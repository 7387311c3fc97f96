package rows

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"

	apinetv1alpha1 "github.com/ovnet-dev/ovnet/apis/core/v1alpha1"
	"github.com/ovnet-dev/ovnet/ovn"
	"github.com/ovnet-dev/ovnet/ovn/nbdb"
)

// MaxLoadBalancerVIPPorts bounds the ports one LoadBalancer expands to
// (each port of each range is one VIP entry in OVN).
const MaxLoadBalancerVIPPorts = 4096

// LoadBalancerInput is what a LoadBalancer's rows depend on.
type LoadBalancerInput struct {
	LB *apinetv1alpha1.LoadBalancer
	// Network is the LB's Network (its UID keys the switch and router).
	Network *apinetv1alpha1.Network
	// VIPs are the LB's addresses it holds.
	VIPs []netip.Addr
	// Backends are the destination addresses in rotation.
	Backends []netip.Addr
	// HealthCheck, when set, has OVN probe the backends (healthCheckRows).
	HealthCheck *HealthCheck
	// BackendPorts map a backend address to its NIC's logical switch port:
	// where the probes of a health check are sent.
	BackendPorts map[netip.Addr]string
}

// HealthCheck is how OVN's service monitor probes a LoadBalancer's
// backends (docs/loadbalancer.md): a TCP connect or a UDP datagram to the
// backend's port every Interval seconds, answered within Timeout; after
// FailureCount failures the backend leaves the VIP's rotation, after
// SuccessCount successes it is back.
type HealthCheck struct {
	// Ports are the checked ports of the LB (none: the first port of each
	// protocol). Only the VIP entries of a checked port follow the probes.
	Ports                                         []int
	Interval, Timeout, SuccessCount, FailureCount int
}

// HealthCheckSource is the address the probes come from. The guests'
// DHCP routes put 169.254.0.0/16 on-link, so a backend answers a probe
// straight to the service monitor's MAC, which is the only answer OVN
// catches; 169.254.0.1 is the router.
const HealthCheckSource = "169.254.0.2"

// LoadBalancerRows (docs/ovn-mapping.md): per protocol of its ports one
// OVN Load_Balancer (`<ns>/<name>/<protocol>`) whose VIPs are every LB IP
// with every port (ranges expanded) mapped to the backends on the same
// port; without ports one IP-only Load_Balancer (`<ns>/<name>/all`, all
// ports and protocols). Attached to the Network's switch (clients inside
// the Network, hairpin included); a Public LB also to the router with
// neighbor_responder=all (the VIP is reached from the provider network
// through the gateway port). A discard route per VIP drops the ports that
// are not load-balanced. A VIP's backends are those of its family (IPv6:
// `[VIP]:port` entries, /128 discard routes).
func LoadBalancerRows(in LoadBalancerInput) ([]ovn.Row, error) {
	lb, uid := in.LB, string(in.LB.UID)
	netUID := string(in.Network.UID)
	public := lb.Spec.Type == apinetv1alpha1.LoadBalancerTypePublic
	parents := []ovn.Parent{{Table: nbdb.LogicalSwitchTable, Column: "load_balancer", Key: NetworkKey(netUID, KeySwitch)}}
	var options map[string]string
	if public {
		parents = append(parents, ovn.Parent{Table: nbdb.LogicalRouterTable, Column: "load_balancer", Key: NetworkKey(netUID, KeyRouter)})
		options = map[string]string{"neighbor_responder": "all"}
	}
	vips := in.VIPs
	var backends []netip.Addr
	for _, b := range in.Backends {
		if !slices.Contains(backends, b) {
			backends = append(backends, b)
		}
	}
	slices.SortFunc(backends, func(a, b netip.Addr) int { return a.Compare(b) })
	// The backends of a VIP's family.
	of := func(v netip.Addr) []netip.Addr {
		return slices.DeleteFunc(slices.Clone(backends), func(b netip.Addr) bool { return b.Is4() != v.Is4() })
	}
	if len(vips) == 0 {
		return nil, nil
	}
	byProto, err := portsByProtocol(lb.Spec.Ports)
	if err != nil {
		return nil, fmt.Errorf("LoadBalancer %s/%s: %w", lb.Namespace, lb.Name, err)
	}
	var out []ovn.Row
	base := lb.Namespace + "/" + lb.Name
	if len(lb.Spec.Ports) == 0 {
		m := map[string]string{}
		for _, v := range vips {
			m[v.String()] = join(of(v), 0)
		}
		out = append(out, ovn.Row{Key: uid + "/lb/all", Parents: parents,
			Model: &nbdb.LoadBalancer{Name: base + "/all", Vips: m, Options: options}})
	}
	for _, proto := range []string{"tcp", "udp", "sctp"} {
		ports := byProto[proto]
		if len(ports) == 0 {
			continue
		}
		m := map[string]string{}
		for _, v := range vips {
			for _, p := range ports {
				m[endpoint(v, p)] = join(of(v), p)
			}
		}
		protocol := nbdb.LoadBalancerProtocol(proto)
		row := &nbdb.LoadBalancer{Name: base + "/" + proto, Protocol: &protocol, Vips: m, Options: options}
		out = append(out, ovn.Row{Key: uid + "/lb/" + proto, Parents: parents, Model: row})
		if in.HealthCheck != nil && proto != "sctp" {
			out = append(out, healthCheckRows(in, row, uid+"/lb/"+proto, vips, backends, ports)...)
		}
	}
	router := []ovn.Parent{{Table: nbdb.LogicalRouterTable, Column: "static_routes", Key: NetworkKey(netUID, KeyRouter)}}
	for _, v := range vips {
		out = append(out, ovn.Row{Key: uid + "/discard/" + v.String(), Parents: router,
			Model: &nbdb.LogicalRouterStaticRoute{IPPrefix: netip.PrefixFrom(v, v.BitLen()).String(), Nexthop: "discard"}})
	}
	return out, nil
}

// healthCheckRows: one Load_Balancer_Health_Check per IPv4 VIP and checked
// port of the protocol's Load_Balancer row lb (key lbKey), and lb's
// ip_port_mappings: each IPv4 backend's NIC port and the probes' source.
// OVN 23.03's service monitor probes IPv4 only: IPv6 VIPs stay unchecked.
func healthCheckRows(in LoadBalancerInput, lb *nbdb.LoadBalancer, lbKey string, vips, backends []netip.Addr, ports []int) []ovn.Row {
	checked := in.HealthCheck.checked(ports)
	hc := in.HealthCheck
	options := map[string]string{
		"interval": strconv.Itoa(hc.Interval), "timeout": strconv.Itoa(hc.Timeout),
		"success_count": strconv.Itoa(hc.SuccessCount), "failure_count": strconv.Itoa(hc.FailureCount),
	}
	var out []ovn.Row
	for _, v := range vips {
		if !v.Is4() {
			continue
		}
		for _, p := range checked {
			out = append(out, ovn.Row{Key: lbKey + "/health/" + endpoint(v, p),
				Parents: []ovn.Parent{{Table: nbdb.LoadBalancerTable, Column: "health_check", Key: lbKey}},
				Model:   &nbdb.LoadBalancerHealthCheck{Vip: endpoint(v, p), Options: options}})
		}
	}
	if len(out) == 0 {
		return nil
	}
	lb.IPPortMappings = map[string]string{}
	for _, b := range backends {
		if port := in.BackendPorts[b]; b.Is4() && port != "" {
			lb.IPPortMappings[b.String()] = port + ":" + HealthCheckSource
		}
	}
	return out
}

// checked are the probed ones of a protocol's ports: the listed ones it
// has, or its first.
func (hc *HealthCheck) checked(ports []int) []int {
	if len(hc.Ports) == 0 {
		return ports[:1]
	}
	return slices.DeleteFunc(slices.Clone(hc.Ports), func(p int) bool { return !slices.Contains(ports, p) })
}

// CheckedPorts are the ports hc probes on lb, per protocol ("tcp", "udp";
// SCTP is not probed).
func CheckedPorts(lb *apinetv1alpha1.LoadBalancer, hc *HealthCheck) (map[string][]int, error) {
	byProto, err := portsByProtocol(lb.Spec.Ports)
	if err != nil {
		return nil, err
	}
	out := map[string][]int{}
	for _, proto := range []string{"tcp", "udp"} {
		if ports := byProto[proto]; len(ports) > 0 {
			out[proto] = hc.checked(ports)
		}
	}
	return out, nil
}

// portsByProtocol expands the LB's ports (TCP when unset) per protocol.
func portsByProtocol(ports []apinetv1alpha1.LoadBalancerPort) (map[string][]int, error) {
	out := map[string][]int{}
	total := 0
	for _, p := range ports {
		proto := "tcp"
		if p.Protocol != nil {
			proto = strings.ToLower(string(*p.Protocol))
		}
		if proto != strings.ToLower(string(corev1.ProtocolTCP)) && proto != "udp" && proto != "sctp" {
			return nil, fmt.Errorf("protocol %s is not supported", proto)
		}
		end := p.Port
		if p.EndPort != nil {
			end = *p.EndPort
		}
		total += int(end-p.Port) + 1
		if total > MaxLoadBalancerVIPPorts {
			return nil, fmt.Errorf("ports expand to more than %d VIP ports; use fewer or smaller ranges, or no ports (all ports)", MaxLoadBalancerVIPPorts)
		}
		for port := p.Port; port <= end; port++ {
			if !slices.Contains(out[proto], int(port)) {
				out[proto] = append(out[proto], int(port))
			}
		}
	}
	return out, nil
}

// join lists addrs as OVN backends on port (0: every port).
func join(addrs []netip.Addr, port int) string {
	s := make([]string, len(addrs))
	for i, a := range addrs {
		s[i] = endpoint(a, port)
	}
	return strings.Join(s, ",")
}

// endpoint is an address with a port as OVN writes it (IPv6 bracketed),
// or the bare address for port 0.
func endpoint(a netip.Addr, port int) string {
	if port == 0 {
		return a.String()
	}
	return netip.AddrPortFrom(a, uint16(port)).String()
}
