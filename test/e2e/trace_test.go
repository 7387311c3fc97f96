package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	apinetv1alpha1 "github.com/ovnet-dev/ovnet/apis/core/v1alpha1"
	"github.com/ovnet-dev/ovnet/test/testenv"
)

// TestKubectlOvnetTrace: `kubectl ovnet trace` names, for flows whose fate
// the test also sees with packets, the objects that decided it: a policy's
// rule admitting a connection and its default deny dropping another, an
// Internal LoadBalancer's DNAT, a NAT gateway's SNAT (with the block the
// external host saw the port in), a peering to another Network and a NIC's
// public IP on the way to the provider network and from it.
func TestKubectlOvnetTrace(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	net1, net2 := e.network("net1"), e.network("net2")
	gw := &apinetv1alpha1.NATGateway{ObjectMeta: metav1.ObjectMeta{Namespace: e.ns, Name: "gw"}, Spec: apinetv1alpha1.NATGatewaySpec{
		IPFamily: apinetv1alpha1.IPv4, NetworkRef: corev1.LocalObjectReference{Name: "net1"}, PortsPerNetworkInterface: 64,
		IPs: []apinetv1alpha1.NATGatewayIP{{Name: "nat"}}}}
	if err := e.c.Create(ctx, gw); err != nil {
		t.Fatal(err)
	}
	_, vmA := e.nic("a", "net1", "node-1", "10.0.0.1", func(n *apinetv1alpha1.NetworkInterface) { n.Labels = map[string]string{"app": "web"} })
	_, vmB := e.nic("b", "net1", "node-2", "10.0.0.2", func(n *apinetv1alpha1.NetworkInterface) { n.Labels = map[string]string{"app": "lb"} })
	_, vmC := e.nic("c", "net1", "node-3", "10.0.0.3")
	p, vmP := e.nic("p", "net1", "node-2", "10.0.0.4", func(n *apinetv1alpha1.NetworkInterface) {
		n.Spec.PublicIPs = []apinetv1alpha1.PublicIPRequest{{Name: "pub", IPFamily: apinetv1alpha1.IPv4}}
	})
	public := e.publicIP(p)
	// net2, peered with net1 both ways.
	_, vmD := e.nic("d", "net2", "node-3", "192.168.1.1")
	for _, pair := range [][2]*apinetv1alpha1.Network{{net1, net2}, {net2, net1}} {
		nw, peer := pair[0], pair[1]
		if err := e.c.Get(ctx, client.ObjectKeyFromObject(nw), nw); err != nil {
			t.Fatal(err)
		}
		patch := client.MergeFrom(nw.DeepCopy())
		nw.Spec.Peerings = []apinetv1alpha1.NetworkPeering{{Name: "to-" + peer.Name, ID: peer.Spec.ID}}
		if err := e.c.Patch(ctx, nw, patch); err != nil {
			t.Fatal(err)
		}
	}
	serveName(t, vmD.NetNS, "80", "D")
	serveName(t, vmA.NetNS, "80", "A")
	serveName(t, vmB.NetNS, "8080", "B")
	serveName(t, vmP.NetNS, "80", "P")
	tcp := corev1.ProtocolTCP
	policy := &apinetv1alpha1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: e.ns, Name: "web"}, Spec: apinetv1alpha1.NetworkPolicySpec{
		NetworkRef:               corev1.LocalObjectReference{Name: "net1"},
		NetworkInterfaceSelector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
		PolicyTypes:              []apinetv1alpha1.PolicyType{apinetv1alpha1.PolicyTypeIngress},
		Ingress: []apinetv1alpha1.NetworkPolicyIngressRule{{
			From:  []apinetv1alpha1.NetworkPolicyPeer{{IPBlock: &apinetv1alpha1.IPBlock{CIDR: "10.0.0.2/32"}}},
			Ports: []apinetv1alpha1.NetworkPolicyPort{{Protocol: &tcp, Port: 80}},
		}},
	}}
	lb := &apinetv1alpha1.LoadBalancer{ObjectMeta: metav1.ObjectMeta{Namespace: e.ns, Name: "int"}, Spec: apinetv1alpha1.LoadBalancerSpec{
		Type: apinetv1alpha1.LoadBalancerTypeInternal, NetworkRef: corev1.LocalObjectReference{Name: "net1"},
		IPs:            []apinetv1alpha1.PublicIPRequest{{Name: "vip", IP: "10.0.0.100"}},
		Ports:          []apinetv1alpha1.LoadBalancerPort{{Port: 8080}},
		TargetSelector: &apinetv1alpha1.LabelSelector{MatchLabels: map[string]apinetv1alpha1.LabelValue{"app": "lb"}},
	}}
	if err := e.c.Create(ctx, policy); err != nil {
		t.Fatal(err)
	}
	if err := e.c.Create(ctx, lb); err != nil {
		t.Fatal(err)
	}
	// What packets do.
	expectPaths(t, "policy web admits b on port 80 and drops c; the LB's VIP reaches b; c reaches d over the peering",
		reaches(vmB, "10.0.0.1", "80", "A"), reaches(vmC, "10.0.0.100", "8080", "B"), reaches(vmC, "192.168.1.1", "80", "D"),
		reaches(vmC, "10.0.0.1", "80", ""))
	peers := listenIn(t, e.s.Layout.External, "9001")
	natted, err := peers.sourceOf(vmC, "tcp", upstream, "9001")
	if err != nil {
		t.Fatal(err)
	}
	fromP, err := e.publicSourceOf(peers, vmP, "node-2", public, upstream)
	if err != nil || fromP.Addr().String() != public {
		t.Fatalf("p's connection arrived from %v (%v), want its public IP %s", fromP, err, public)
	}
	expectPaths(t, "the external host reaches p's public IP", reaches(e.s.External, public, "80", "P"))

	// What trace says of the same flows.
	kubectl := e.kubectlOvnet()
	for _, c := range []struct {
		from, to  string // from: a NIC, or "" from the external host
		delivered bool
		want      []string
	}{
		{"", public + ":80", true, []string{"public IP " + public + " of NetworkInterface p (DNAT to 10.0.0.4)", "delivered to NetworkInterface p on node node-2"}},
		{"b", "10.0.0.1:80/tcp", true, []string{"allowed by NetworkPolicy web, ingress rule 1", "delivered to NetworkInterface a on node node-1"}},
		{"c", "10.0.0.1:80/tcp", false, []string{"dropped by the default deny (ingress) of NetworkPolicy web"}},
		{"c", "192.168.1.1:80", true, []string{"peering to Network " + e.ns + "/net2", "delivered to NetworkInterface d on node node-3"}},
		{"c", "10.0.0.100:8080", true, []string{"DNAT by LoadBalancer int", "delivered to NetworkInterface b on node node-2"}},
		{"c", upstream + ":9001", true, []string{"SNAT by NATGateway gw to " + natted.Addr().String() + " ports", "leaves the Network to the provider network", "through the gateway chassis"}},
		{"p", upstream + ":9001", true, []string{"public IP " + public + " of NetworkInterface p", "leaves the Network to the provider network", "on node node-2, the NetworkInterface's own"}},
	} {
		var report struct {
			Path      []string
			Verdict   string
			Delivered bool
			OVNTrace  string `json:"ovnTrace"`
		}
		args := []string{"trace", "-n", e.ns, c.from, "--to", c.to}
		if c.from == "" {
			args = []string{"trace", "-n", e.ns, "--from-external", "--source", upstream, "--to", c.to}
		}
		testenv.Eventually(t, 20*time.Second, strings.Join(args, " "), func() error {
			out, err := kubectl(append(args, "-o", "json")...)
			if err != nil {
				return fmt.Errorf("%v: %s", err, out)
			}
			if err := json.Unmarshal([]byte(out), &report); err != nil {
				return err
			}
			text := strings.Join(append(report.Path, report.Verdict), "\n")
			for _, w := range c.want {
				if !strings.Contains(text, w) {
					return fmt.Errorf("no %q in:\n%s\novn-trace said:\n%s", w, text, report.OVNTrace)
				}
			}
			if report.Delivered != c.delivered {
				return fmt.Errorf("delivered %v, want %v:\n%s", report.Delivered, c.delivered, text)
			}
			return nil
		})
		// The NAT gateway's block that trace names holds the source port
		// the external host saw.
		for _, line := range report.Path {
			var ip string
			var lo, hi uint16
			if _, err := fmt.Sscanf(line, "SNAT by NATGateway gw to %s ports %d-%d", &ip, &lo, &hi); err == nil &&
				(ip != natted.Addr().String() || natted.Port() < lo || natted.Port() > hi) {
				t.Errorf("trace says %q; the external host saw c's connection from %s", line, natted)
			}
		}
		out, _ := kubectl(args...)
		t.Logf("kubectl ovnet %s\n%s", strings.Join(args, " "), out)
	}
}
