package e2e

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	apinetv1alpha1 "github.com/ovnet-dev/ovnet/apis/core/v1alpha1"
	"github.com/ovnet-dev/ovnet/devstack"
	"github.com/ovnet-dev/ovnet/test/testenv"
)

// upstream6 is the external host's IPv6 address: the provider's IPv6 next hop.
const upstream6 = "fd00:64::1"

// TestPublicIPv6: over the provider network's IPv6 transit prefix, the
// external host reaches an IPv6 public IP and sees it as the source of its
// NIC's traffic; a NIC without public IP leaks no IPv6 onto the provider
// network; an IPv6 NAT gateway translates two NICs to its NAT IP with
// source ports inside each NIC's block; a Public LoadBalancer's IPv6 VIP
// is answered from the external host by its three backends, two of which
// have public IPs of their own on different chassis.
func TestPublicIPv6(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	e.network("net1")
	web := func(n *apinetv1alpha1.NetworkInterface) { n.Labels = map[string]string{"app": "web"} }
	pubNIC, vmP := e.nic("p6", "net1", "node-2", "fd00::9", func(n *apinetv1alpha1.NetworkInterface) {
		n.Spec.IPs = append(n.Spec.IPs, "10.0.0.9")
		n.Spec.PublicIPs = []apinetv1alpha1.PublicIPRequest{{Name: "pub6", IPFamily: apinetv1alpha1.IPv6}}
		web(n)
	})
	public := e.publicIP(pubNIC)
	if !netip.MustParseAddr(public).Is6() {
		t.Fatalf("the NIC's public IP is %s, want an IPv6 address", public)
	}
	_, vmA := e.nic("a6", "net1", "node-3", "fd00::a", web)
	// A second backend with a public IP, on another chassis: whichever
	// chassis is the gateway, one backend with a public IP is elsewhere.
	_, vmC := e.nic("c6", "net1", "node-1", "fd00::c", func(n *apinetv1alpha1.NetworkInterface) {
		n.Spec.PublicIPs = []apinetv1alpha1.PublicIPRequest{{Name: "pub6", IPFamily: apinetv1alpha1.IPv6}}
		web(n)
	})
	ext := e.s.External
	for _, b := range []struct {
		ns, name string
	}{{vmP.NetNS, "P"}, {vmA.NetNS, "A"}, {vmC.NetNS, "C"}} {
		serveName(t, b.ns, "80", b.name)
		serveName(t, b.ns, "8080", b.name)
	}

	expectPaths(t, "the external host reaches the IPv6 public IP", reaches(ext, public, "80", "P"))
	mustReach(t, ext, public)
	mustReach(t, vmP, upstream6)
	peers := listenIn(t, e.s.Layout.External, "9001")
	if got, err := peers.sourceOf(vmP, "tcp", upstream6, "9001"); err != nil || got.Addr().String() != public {
		t.Errorf("the NIC's IPv6 connection arrived from %v (%v), want its public IP %s", got, err, public)
	}
	// Without public IP or NAT nothing of a NIC's IPv6 reaches the
	// provider network; the NIC with one still gets out on the same path.
	leak := capture(t, ext.NetNS, "eth0", "ip6 and src fd00::a")
	if ping(vmA, upstream6) {
		t.Error("a NIC without public IP reached the external host over IPv6")
	}
	if got := leak(); captured(got) != 0 {
		t.Errorf("the private IPv6 source leaked onto the provider network:\n%s", got)
	}
	mustReach(t, vmP, upstream6)

	// An IPv6 NAT gateway: a6 and a second NIC leave with its NAT IP, each
	// from its own block of ports.
	gw := &apinetv1alpha1.NATGateway{ObjectMeta: metav1.ObjectMeta{Namespace: e.ns, Name: "gw6"}, Spec: apinetv1alpha1.NATGatewaySpec{
		IPFamily: apinetv1alpha1.IPv6, NetworkRef: corev1.LocalObjectReference{Name: "net1"}, PortsPerNetworkInterface: 64,
		IPs: []apinetv1alpha1.NATGatewayIP{{Name: "nat"}}}}
	if err := e.c.Create(ctx, gw); err != nil {
		t.Fatal(err)
	}
	_, vmB := e.nic("b6", "net1", "node-1", "fd00::b")
	var natIP netip.Addr
	var blocks map[string][2]int32
	testenv.Eventually(t, 30*time.Second, "IPv6 NICs NATed", func() (err error) {
		if natIP, blocks, err = e.natTable(gw); err != nil {
			return err
		}
		if err := e.c.Get(ctx, client.ObjectKeyFromObject(gw), gw); err != nil {
			return err
		}
		if len(blocks) != 2 {
			return fmt.Errorf("blocks %v", blocks)
		}
		return conditionTrue(gw.Status.Conditions, apinetv1alpha1.ConditionReady)
	})
	if _, ok := blocks["p6"]; ok {
		t.Error("the NIC with an IPv6 public IP got an IPv6 NAT block")
	}
	if _, ok := blocks["c6"]; ok {
		t.Error("the NIC with an IPv6 public IP got an IPv6 NAT block")
	}
	t.Logf("IPv6 NAT IP %s, blocks %v", natIP, blocks)
	for name, vm := range map[string]*devstack.VM{"a6": vmA, "b6": vmB} {
		for _, proto := range []string{"tcp", "udp"} {
			got, err := peers.sourceOf(vm, proto, upstream6, "9001")
			b := blocks[name]
			if err != nil || got.Addr() != natIP || int32(got.Port()) < b[0] || int32(got.Port()) > b[1] {
				t.Errorf("%s %s arrived from %v (%v), want %s with a port in %d-%d", name, proto, got, err, natIP, b[0], b[1])
			}
		}
	}

	// A Public LoadBalancer with an IPv6 VIP in front of p6, a6 and c6: the
	// backends with public IPs answer through the gateway chassis too.
	lb := &apinetv1alpha1.LoadBalancer{ObjectMeta: metav1.ObjectMeta{Namespace: e.ns, Name: "pub6"}, Spec: apinetv1alpha1.LoadBalancerSpec{
		Type: apinetv1alpha1.LoadBalancerTypePublic, NetworkRef: corev1.LocalObjectReference{Name: "net1"},
		IPs:            []apinetv1alpha1.PublicIPRequest{{Name: "vip6", IPFamily: apinetv1alpha1.IPv6}},
		Ports:          []apinetv1alpha1.LoadBalancerPort{{Port: 80}},
		TargetSelector: &apinetv1alpha1.LabelSelector{MatchLabels: map[string]apinetv1alpha1.LabelValue{"app": "web"}},
	}}
	if err := e.c.Create(ctx, lb); err != nil {
		t.Fatal(err)
	}
	// p6's two addresses, a6's and c6's: 4 backends (of each VIP's family).
	testenv.Eventually(t, 30*time.Second, "IPv6 public VIP written with its backends", func() error {
		if err := e.c.Get(ctx, client.ObjectKeyFromObject(lb), lb); err != nil {
			return err
		}
		for _, c := range lb.Status.Conditions {
			if c.Type == apinetv1alpha1.ConditionReady && c.Status == metav1.ConditionTrue && strings.Contains(c.Message, "4 backends") {
				return nil
			}
		}
		return fmt.Errorf("conditions %+v", lb.Status.Conditions)
	})
	vip := string(lb.Spec.IPs[0].IP)
	testenv.Eventually(t, 30*time.Second, "the external host reaches the three backends on the IPv6 VIP "+vip, func() error {
		if got := answers(ext, "tcp", vip, "80", 16); got["P"] == 0 || got["A"] == 0 || got["C"] == 0 {
			return fmt.Errorf("answers %v", got)
		}
		return nil
	})
	if got := ask(ext, "tcp", vip, "8080"); got != "" {
		t.Errorf("the IPv6 VIP's port 8080 (not load-balanced) answered %q", got)
	}
}
