package main

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	apinetv1alpha1 "github.com/ovnet-dev/ovnet/apis/core/v1alpha1"
	"github.com/ovnet-dev/ovnet/ovn"
	"github.com/ovnet-dev/ovnet/ovn/nbdb"
	"github.com/ovnet-dev/ovnet/ovn/rows"
	"github.com/ovnet-dev/ovnet/ovn/sbdb"
)

// TraceReport is what trace prints: the path of one new connection (or
// ping) from a NetworkInterface, in the API's terms.
type TraceReport struct {
	From string `json:"from"`
	To   string `json:"to"`
	// Path lists every decision, in order, each naming its object.
	Path []string `json:"path"`
	// Verdict is the last line: delivered to a NIC, left to the provider
	// network, or dropped (and by what).
	Verdict string `json:"verdict"`
	// Delivered: the packet leaves OVN (to a NIC or the provider network).
	Delivered bool `json:"delivered"`
	// OVNTrace is ovn-trace's own output, for the OVN words behind the path.
	OVNTrace string `json:"ovnTrace"`
}

func (r *TraceReport) print(out io.Writer) error {
	fmt.Fprintf(out, "%s -> %s\n", r.From, r.To)
	for _, p := range r.Path {
		fmt.Fprintf(out, "  %s\n", p)
	}
	_, err := fmt.Fprintf(out, "verdict: %s\n", r.Verdict)
	return err
}

// traceStep is one logical flow of ovn-trace's detailed output.
type traceStep struct {
	datapath, inport, stage, match, uuid string
	actions                              []string
}

var (
	stepLine     = regexp.MustCompile(`^\s*\d+\. (\S+) \([^)]*\): (.*), priority \d+, uuid ([0-9a-f]+)$`)
	datapathLine = regexp.MustCompile(`^(?:ingress|egress)\(dp="([^"]+)", inport="([^"]+)"`)
	outputLine   = regexp.MustCompile(`/\* output to "([^"]+)", type "([^"]*)" \*/`)
	snatAction   = regexp.MustCompile(`ct_snat(?:_in_czone)?\(([0-9a-fA-F.:]+)`)
	// The VIP and port of a load-balancing flow: in the packet's fields, or
	// in the registers northd copies them to.
	vipAddr = regexp.MustCompile(`(?:ip[46]\.dst|x?x?reg[01]) == ([0-9a-fA-F.:]+)`)
	vipPort = regexp.MustCompile(`(?:(?:tcp|udp|sctp)\.dst|reg2\[0\.\.15\]|reg9\[16\.\.31\]) == (\d+)`)
)

// parseTrace splits ovn-trace --detailed output into its logical flows
// and the ports it left OVN through.
func parseTrace(out string) (steps []traceStep, outputs []string) {
	dp, inport := "", ""
	for _, line := range strings.Split(out, "\n") {
		if m := datapathLine.FindStringSubmatch(strings.TrimSpace(line)); m != nil {
			dp, inport = m[1], m[2]
			continue
		}
		if m := stepLine.FindStringSubmatch(line); m != nil {
			steps = append(steps, traceStep{datapath: dp, inport: inport, stage: m[1], match: m[2], uuid: m[3]})
			continue
		}
		if m := outputLine.FindStringSubmatch(line); m != nil {
			outputs = append(outputs, m[1])
		}
		if t := strings.TrimSpace(line); len(steps) > 0 && t != "" && !strings.HasPrefix(t, "---") {
			steps[len(steps)-1].actions = append(steps[len(steps)-1].actions, t)
		}
	}
	return steps, outputs
}

// traceStart is where a traced packet enters OVN.
type traceStart struct {
	from    string // as the report says it
	flow    string // ovn-trace's microflow up to the transport header
	network *apinetv1alpha1.Network
	src     netip.Addr
	nic     *apinetv1alpha1.NetworkInterface // nil: from the provider network
}

// fromNIC: a packet the NIC's guest sends to dst through its gateway.
func fromNIC(ctx context.Context, c client.Client, ns, nicName string, dst netip.Addr) (traceStart, error) {
	nic := &apinetv1alpha1.NetworkInterface{}
	if err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: nicName}, nic); err != nil {
		return traceStart{}, err
	}
	nw, vni, err := networkOf(ctx, c, ns, nic.Spec.NetworkRef.Name)
	if err != nil {
		return traceStart{}, err
	}
	var src netip.Addr
	for _, ip := range nic.Spec.IPs {
		if a, err := netip.ParseAddr(string(ip)); err == nil && a.Is6() == dst.Is6() {
			src = a
			break
		}
	}
	if !src.IsValid() {
		return traceStart{}, fmt.Errorf("NetworkInterface %s has no address of %s's family", nic.Name, dst)
	}
	return traceStart{
		from: "NetworkInterface " + ns + "/" + nic.Name + " (" + src.String() + ")", network: nw, src: src, nic: nic,
		flow: fmt.Sprintf(`inport == "%s" && eth.src == %s && eth.dst == %s && %s`,
			apinetv1alpha1.NetworkInterfacePortName(nic), apinetv1alpha1.NetworkInterfaceMAC(nic), rows.RouterPortMAC(vni), ipHeader(src, dst)),
	}, nil
}

// fromExternal: a packet from src on the provider network to dst, a public
// IP of a NetworkInterface or a Public LoadBalancer's VIP of namespace ns,
// sent to the MAC that answers for dst (the NIC's own for a distributed
// public IP, else its Network's gateway port).
func fromExternal(ctx context.Context, c client.Client, nb *ovn.Client, ns string, src, dst netip.Addr) (traceStart, error) {
	network, mac := "", ""
	if n, o := natRow(nb, func(n *nbdb.NAT, o ovn.Owner) bool {
		return o.Kind == "NetworkInterface" && o.Namespace == ns && n.ExternalIP == dst.String()
	}); n != nil {
		nic := &apinetv1alpha1.NetworkInterface{}
		if err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: o.Name}, nic); err != nil {
			return traceStart{}, err
		}
		network = nic.Spec.NetworkRef.Name
		if n.ExternalMAC != nil {
			mac = *n.ExternalMAC
		}
	}
	for _, row := range nb.Rows(nbdb.LoadBalancerTable) {
		lb := row.(*nbdb.LoadBalancer)
		o, ok := ovn.OwnerOf(lb.ExternalIDs)
		if !ok || o.Namespace != ns || network != "" {
			continue
		}
		for vip := range lb.Vips {
			if addrOfVIP(vip) == dst {
				obj := &apinetv1alpha1.LoadBalancer{}
				if err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: o.Name}, obj); err != nil {
					return traceStart{}, err
				}
				network = obj.Spec.NetworkRef.Name
			}
		}
	}
	if network == "" {
		return traceStart{}, fmt.Errorf("%s is no public IP or VIP of namespace %s in OVN", dst, ns)
	}
	nw, _, err := networkOf(ctx, c, ns, network)
	if err != nil {
		return traceStart{}, err
	}
	localnet := ""
	for _, row := range nb.Rows(nbdb.LogicalSwitchPortTable) {
		if lsp := row.(*nbdb.LogicalSwitchPort); lsp.Type == "localnet" && ovn.IsManaged(lsp.ExternalIDs) {
			localnet = lsp.Name
		}
	}
	if mac == "" {
		for _, row := range nb.Rows(nbdb.LogicalRouterPortTable) {
			if lrp := row.(*nbdb.LogicalRouterPort); lrp.Name == rows.NetworkRouterName(nw)+"/lr-gw" {
				mac = lrp.MAC
			}
		}
	}
	if localnet == "" || mac == "" {
		return traceStart{}, fmt.Errorf("no provider network or gateway port for network %s in OVN", nw.Name)
	}
	return traceStart{
		from: "the provider network (" + src.String() + ")", network: nw, src: src,
		flow: fmt.Sprintf(`inport == "%s" && eth.src == 02:00:00:00:00:01 && eth.dst == %s && %s`, localnet, mac, ipHeader(src, dst)),
	}, nil
}

// addrOfVIP is the address of an OVN VIP key ("ADDR", "ADDR:PORT",
// "[ADDR]:PORT").
func addrOfVIP(vip string) netip.Addr {
	if ap, err := netip.ParseAddrPort(vip); err == nil {
		return ap.Addr()
	}
	a, _ := netip.ParseAddr(vip)
	return a
}

func networkOf(ctx context.Context, c client.Client, ns, name string) (*apinetv1alpha1.Network, int64, error) {
	nw := &apinetv1alpha1.Network{}
	if err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, nw); err != nil {
		return nil, 0, err
	}
	vni, err := strconv.ParseInt(nw.Spec.ID, 10, 64)
	if err != nil {
		return nil, 0, fmt.Errorf("network %s has no ID yet", nw.Name)
	}
	return nw, vni, nil
}

func ipHeader(src, dst netip.Addr) string {
	ip := "ip4"
	if dst.Is6() {
		ip = "ip6"
	}
	return fmt.Sprintf("%s.src == %s && %s.dst == %s && ip.ttl == 64", ip, src, ip, dst)
}

// trace runs ovn-trace for a new connection (a ping without a port) that
// enters OVN at start and names each decision by its object.
func trace(ctx context.Context, c client.Client, nb, sb *ovn.Client, sbEndpoint string, start traceStart, dest string, dst netip.Addr, port int, proto string) (*TraceReport, error) {
	flow := start.flow
	icmp, echo := "icmp4", "8"
	if dst.Is6() {
		icmp, echo = "icmp6", "128"
	}
	switch proto {
	case "icmp":
		flow += fmt.Sprintf(" && %s && %s.type == %s && %s.code == 0", icmp, icmp, echo, icmp)
	default:
		flow += fmt.Sprintf(" && %s && %s.src == 40000 && %s.dst == %d", proto, proto, proto, port)
	}
	// A new connection: every pass through conntrack sees it new (ovn-trace
	// assumes an established one otherwise).
	args := []string{"--db=" + sbEndpoint, "--detailed"}
	for range 8 {
		args = append(args, "--ct=trk,new")
	}
	// No datapath: ovn-trace takes the inport's (the Network's switch and
	// router share a name).
	args = append(args, flow)
	out, err := exec.CommandContext(ctx, "ovn-trace", args...).CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("ovn-trace %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	nw, src := start.network, start.src
	r := &TraceReport{From: start.from, To: dest, OVNTrace: string(out)}
	steps, outputs := parseTrace(string(out))
	r.Path = append(r.Path, "Network "+nw.Name+" (VNI "+nw.Spec.ID+"): switch and router "+rows.NetworkSwitchName(nw))
	var droppedBy string
	onOwnChassis := false // translated by a distributed public IP
	unresolved := false   // the trace followed a neighbor resolution
	for _, s := range steps {
		switch {
		case strings.HasPrefix(s.stage, "lr_in_admission") && strings.Contains(s.inport, "/peer-") && s.datapath != rows.NetworkRouterName(nw):
			// Into another Network's router through a peering port.
			r.Path = append(r.Path, "peering to Network "+s.datapath)
		case strings.HasPrefix(s.stage, "lr_in_arp_request") && (containsAction(s.actions, "arp {") || containsAction(s.actions, "nd_ns {")):
			// ovn-trace follows the resolution, not the packet.
			unresolved = true
			r.Path = append(r.Path, "router "+s.datapath+" has no MAC binding of the next hop yet: it sends an ARP request (IPv6: a neighbor solicitation) and holds the packet")
		case strings.Contains(s.stage, "_acl") && !strings.Contains(s.stage, "hint") && !strings.Contains(s.stage, "pre_acl"):
			policy, decision := aclOf(nb, sb, s.uuid)
			if policy == "" {
				continue
			}
			if blocked(s.actions) {
				droppedBy = "dropped by the " + decision + " of NetworkPolicy " + policy
				r.Path = append(r.Path, droppedBy)
			} else {
				r.Path = append(r.Path, "allowed by NetworkPolicy "+policy+", "+decision)
			}
		case containsAction(s.actions, "ct_lb_mark(backends=") || containsAction(s.actions, "ct_lb(backends="):
			if lb := loadBalancerOf(nb, s.match); lb != "" {
				r.Path = append(r.Path, "DNAT by LoadBalancer "+lb+" to one of its backends")
			}
		case strings.Contains(s.stage, "dnat") && containsAction(s.actions, "ct_dnat"):
			if what := publicIPOf(nb, dst); what != "" {
				r.Path = append(r.Path, what)
			}
		case strings.Contains(s.stage, "snat") && containsAction(s.actions, "ct_snat"):
			if what, distributed := natOf(nb, s.actions, src); what != "" {
				r.Path = append(r.Path, what)
				onOwnChassis = onOwnChassis || distributed
			}
		}
	}
	// A decision seen twice (a connection's two passes through the same
	// ACLs) is said once.
	r.Path = slices.Compact(r.Path)
	if unresolved {
		r.Verdict = "not sent yet: the router resolves the next hop first; trace again once it has answered"
		return r, nil
	}
	if len(outputs) == 0 {
		r.Verdict = "dropped"
		if droppedBy != "" {
			r.Verdict = droppedBy
		}
		return r, nil
	}
	last := outputs[len(outputs)-1]
	r.Delivered = true
	switch {
	case strings.HasPrefix(last, "provider/"):
		r.Verdict = "leaves the Network to the provider network (" + last + ")"
		if onOwnChassis && start.nic != nil {
			r.Verdict += " on node " + start.nic.Spec.NodeRef.Name + ", the NetworkInterface's own"
		} else if gw := activeGateway(sb, rows.NetworkRouterName(nw)+"/lr-gw"); gw != "" {
			r.Verdict += " through the gateway chassis " + gw
		}
	default:
		r.Verdict = "delivered to port " + last
		target := &apinetv1alpha1.NetworkInterface{}
		if n, name, ok := strings.Cut(last, "/"); ok && c.Get(ctx, types.NamespacedName{Namespace: n, Name: name}, target) == nil {
			r.Verdict = "delivered to NetworkInterface " + target.Name + " on node " + target.Spec.NodeRef.Name
		}
	}
	return r, nil
}

// publicIPOf names the NIC whose public IP dst is (a DNAT from outside).
func publicIPOf(nb *ovn.Client, dst netip.Addr) string {
	n, o := natRow(nb, func(n *nbdb.NAT, o ovn.Owner) bool {
		return o.Kind == "NetworkInterface" && n.ExternalIP == dst.String()
	})
	if n == nil {
		return ""
	}
	return "public IP " + n.ExternalIP + " of NetworkInterface " + o.Name + " (DNAT to " + n.LogicalIP + ")"
}

// natRow is the first of ovnet's NAT rows (with its owner) that match.
func natRow(nb *ovn.Client, match func(*nbdb.NAT, ovn.Owner) bool) (*nbdb.NAT, ovn.Owner) {
	for _, row := range nb.Rows(nbdb.NATTable) {
		n := row.(*nbdb.NAT)
		if o, ok := ovn.OwnerOf(n.ExternalIDs); ok && match(n, o) {
			return n, o
		}
	}
	return nil, ovn.Owner{}
}

// parseDestination reads ADDR[:PORT][/tcp|udp|icmp] ([ADDR]:PORT for IPv6;
// without a port: icmp).
func parseDestination(dest string) (netip.Addr, int, string, error) {
	hostPort, proto, _ := strings.Cut(dest, "/")
	if ap, err := netip.ParseAddrPort(hostPort); err == nil {
		if proto == "" {
			proto = "tcp"
		}
		if proto != "tcp" && proto != "udp" {
			return netip.Addr{}, 0, "", fmt.Errorf("--to %s: a port needs tcp or udp", dest)
		}
		return ap.Addr(), int(ap.Port()), proto, nil
	}
	a, err := netip.ParseAddr(hostPort)
	if err != nil {
		return netip.Addr{}, 0, "", fmt.Errorf("--to %q: want ADDR[:PORT][/tcp|udp|icmp]", dest)
	}
	if proto != "" && proto != "icmp" {
		return netip.Addr{}, 0, "", fmt.Errorf("--to %s: %s needs a port", dest, proto)
	}
	return a, 0, "icmp", nil
}

// blocked: an ACL flow that drops, rejects or marks the connection blocked.
func blocked(actions []string) bool {
	for _, a := range actions {
		if strings.HasPrefix(a, "drop") || strings.Contains(a, "ct_mark.blocked = 1") || strings.HasPrefix(a, "reject") {
			return true
		}
	}
	return false
}

func containsAction(actions []string, s string) bool {
	for _, a := range actions {
		if strings.Contains(a, s) {
			return true
		}
	}
	return false
}

// aclOf names the NetworkPolicy and the decision of the ACL behind the
// logical flow whose UUID starts with prefix: northd's stage-hint is the
// first 8 hex digits of the NB row's UUID.
func aclOf(nb, sb *ovn.Client, prefix string) (policy, decision string) {
	hint := ""
	for _, m := range sb.Rows(sbdb.LogicalFlowTable) {
		if f := m.(*sbdb.LogicalFlow); strings.HasPrefix(f.UUID, prefix) {
			hint = f.ExternalIDs["stage-hint"]
			break
		}
	}
	if hint == "" {
		return "", ""
	}
	for _, m := range nb.Rows(nbdb.ACLTable) {
		acl := m.(*nbdb.ACL)
		if !strings.HasPrefix(acl.UUID, hint) {
			continue
		}
		if o, ok := ovn.OwnerOf(acl.ExternalIDs); ok && o.Kind == "NetworkPolicy" {
			return o.Name, acl.ExternalIDs[rows.KeyPolicyDecision]
		}
	}
	return "", ""
}

// loadBalancerOf names the LoadBalancer whose VIP the load-balancing flow
// matches.
func loadBalancerOf(nb *ovn.Client, match string) string {
	m := vipAddr.FindStringSubmatch(match)
	if m == nil {
		return ""
	}
	vip := m[1]
	if p := vipPort.FindStringSubmatch(match); p != nil {
		if a, err := netip.ParseAddr(m[1]); err == nil {
			port, _ := strconv.Atoi(p[1])
			vip = netip.AddrPortFrom(a, uint16(port)).String()
		}
	}
	for _, row := range nb.Rows(nbdb.LoadBalancerTable) {
		lb := row.(*nbdb.LoadBalancer)
		if _, ok := lb.Vips[vip]; !ok {
			continue
		}
		if o, ok := ovn.OwnerOf(lb.ExternalIDs); ok {
			return o.Name
		}
	}
	return ""
}

// natOf names the NAT row behind a SNAT action: a NAT gateway's block or
// a NIC's public IP, and whether it is translated on the NIC's chassis.
func natOf(nb *ovn.Client, actions []string, src netip.Addr) (string, bool) {
	var external string
	for _, a := range actions {
		if m := snatAction.FindStringSubmatch(a); m != nil {
			external = m[1]
		}
	}
	if external == "" {
		return "", false
	}
	n, o := natRow(nb, func(n *nbdb.NAT, o ovn.Owner) bool {
		return n.ExternalIP == external && n.LogicalIP == src.String() && (o.Kind == "NATGateway" || o.Kind == "NetworkInterface")
	})
	switch {
	case n == nil:
		return "", false
	case o.Kind == "NATGateway":
		return "SNAT by NATGateway " + o.Name + " to " + external + " ports " + n.ExternalPortRange, false
	}
	return "public IP " + external + " of NetworkInterface " + o.Name, n.LogicalPort != nil
}
