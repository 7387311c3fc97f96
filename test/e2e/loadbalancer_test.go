package e2e

import (
	"context"
	"fmt"
	"slices"
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

// ask sends one TCP connection or UDP datagram from vm to ip:port and
// returns the backend's answer ("" when none).
func ask(vm *devstack.VM, proto, ip, port string) string {
	args := []string{"nc", "-w", "2"}
	if proto == "udp" {
		args = append(args, "-u")
	}
	cmd := vm.Command(slices.Concat(args, []string{ip, port})...)
	cmd.Stdin = strings.NewReader("hi\n")
	out, _ := cmd.Output()
	return strings.TrimSpace(string(out))
}

// answers asks n times and counts the answers per backend.
func answers(vm *devstack.VM, proto, ip, port string, n int) map[string]int {
	got := map[string]int{}
	for range n {
		got[ask(vm, proto, ip, port)]++
	}
	return got
}

// TestLoadBalancer: a Public LB's VIP:80 reached from the external host
// hits both backends, its UDP port works, a port it does not serve goes
// nowhere; an Internal IP-only LB forwards any port from a third NIC of
// the network (and from a backend to itself), not from another network;
// taking a backend out of the selection takes it out of rotation.
func TestLoadBalancer(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	e.network("net1")
	e.network("net2")
	web := func(n *apinetv1alpha1.NetworkInterface) { n.Labels = map[string]string{"app": "web"} }
	_, vmA := e.nic("a", "net1", "node-1", "10.0.0.1", web)
	nicB, vmB := e.nic("b", "net1", "node-2", "10.0.0.2", web)
	_, vmG := e.nic("g", "net1", "node-3", "10.0.0.3")
	_, vmC := e.nic("c", "net2", "node-3", "10.0.0.3")
	for _, b := range []struct {
		vm   *devstack.VM
		name string
	}{{vmA, "A"}, {vmB, "B"}} {
		serveName(t, b.vm.NetNS, "80", b.name)
		serveName(t, b.vm.NetNS, "5353", b.name)
		serveName(t, b.vm.NetNS, "8080", b.name)
	}
	udp := corev1.ProtocolUDP
	selector := &apinetv1alpha1.LabelSelector{MatchLabels: map[string]apinetv1alpha1.LabelValue{"app": "web"}}
	pub := &apinetv1alpha1.LoadBalancer{ObjectMeta: metav1.ObjectMeta{Namespace: e.ns, Name: "pub"}, Spec: apinetv1alpha1.LoadBalancerSpec{
		Type: apinetv1alpha1.LoadBalancerTypePublic, NetworkRef: corev1.LocalObjectReference{Name: "net1"},
		IPs:            []apinetv1alpha1.PublicIPRequest{{Name: "vip", IPFamily: apinetv1alpha1.IPv4}},
		Ports:          []apinetv1alpha1.LoadBalancerPort{{Port: 80}, {Protocol: &udp, Port: 5353}},
		TargetSelector: selector,
	}}
	internal := &apinetv1alpha1.LoadBalancer{ObjectMeta: metav1.ObjectMeta{Namespace: e.ns, Name: "int"}, Spec: apinetv1alpha1.LoadBalancerSpec{
		Type: apinetv1alpha1.LoadBalancerTypeInternal, NetworkRef: corev1.LocalObjectReference{Name: "net1"},
		IPs: []apinetv1alpha1.PublicIPRequest{{Name: "vip", IP: "10.0.0.100"}}, TargetSelector: selector,
	}}
	for _, lb := range []*apinetv1alpha1.LoadBalancer{pub, internal} {
		if err := e.c.Create(ctx, lb); err != nil {
			t.Fatal(err)
		}
	}
	for _, lb := range []*apinetv1alpha1.LoadBalancer{pub, internal} {
		testenv.Eventually(t, 30*time.Second, lb.Name+" written", func() error {
			if err := e.c.Get(ctx, client.ObjectKeyFromObject(lb), lb); err != nil {
				return err
			}
			for _, c := range lb.Status.Conditions {
				if c.Type == apinetv1alpha1.ConditionReady && c.Status == metav1.ConditionTrue && strings.Contains(c.Message, "2 backends") {
					return nil
				}
			}
			return fmt.Errorf("conditions %+v", lb.Status.Conditions)
		})
	}
	vip := string(pub.Spec.IPs[0].IP)
	t.Logf("public VIP %s", vip)
	ext := e.s.External

	both := func(what string, vm *devstack.VM, proto, ip, port string) {
		t.Helper()
		testenv.Eventually(t, 30*time.Second, what, func() error {
			got := answers(vm, proto, ip, port, 12)
			if got["A"] == 0 || got["B"] == 0 {
				return fmt.Errorf("answers %v", got)
			}
			return nil
		})
	}
	both("external host reaches both backends on VIP:80", ext, "tcp", vip, "80")
	both("external host reaches both backends on VIP:5353/udp", ext, "udp", vip, "5353")
	if got := ask(ext, "tcp", vip, "8080"); got != "" {
		t.Errorf("VIP:8080 (not load-balanced) answered %q", got)
	}
	both("a third NIC reaches the internal IP-only VIP on another port", vmG, "tcp", "10.0.0.100", "8080")
	both("a third NIC reaches the public VIP from inside", vmG, "tcp", vip, "80")
	testenv.Eventually(t, 30*time.Second, "a backend reaches the internal VIP (hairpin)", func() error {
		if got := answers(vmA, "tcp", "10.0.0.100", "80", 6); got[""] == 6 {
			return fmt.Errorf("no answer")
		}
		return nil
	})
	if got := ask(vmC, "tcp", "10.0.0.100", "80"); got != "" {
		t.Errorf("another network's NIC reached the internal VIP: %q", got)
	}

	// B leaves the selection: out of rotation.
	patch := client.MergeFrom(nicB.DeepCopy())
	nicB.Labels = nil
	if err := e.c.Patch(ctx, nicB, patch); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 30*time.Second, "only A answers once B is out", func() error {
		if got := answers(ext, "tcp", vip, "80", 8); got["A"] != 8 {
			return fmt.Errorf("answers %v", got)
		}
		return nil
	})
}
