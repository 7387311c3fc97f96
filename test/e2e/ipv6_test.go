package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	apinetv1alpha1 "github.com/ovnet-dev/ovnet/apis/core/v1alpha1"
	"github.com/ovnet-dev/ovnet/test/testenv"
)

// TestIPv6: IPv6-only and dual-stack NICs reach each other across chassis
// through the Network's link-local gateway fe80::1; two Networks with the
// same IPv6 addresses stay apart (each NIC reaches its own Network's
// holder of an address); the router advertises itself; an Internal
// LoadBalancer's IPv6 VIP forwards its port to the backend; a NetworkPolicy's
// IPv6 ipBlock admits exactly its port, and its default deny holds for
// IPv6 as for IPv4.
func TestIPv6(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	e.network("net-a")
	e.network("net-b")
	dual := func(v4 string) func(*apinetv1alpha1.NetworkInterface) {
		return func(n *apinetv1alpha1.NetworkInterface) {
			n.Spec.IPs = append(n.Spec.IPs, apinetv1alpha1.IPAddr(v4))
			n.Labels = map[string]string{"app": "web"}
		}
	}
	_, a1 := e.nic("a1", "net-a", "node-1", "fd00::1", dual("10.0.0.1"))
	_, a2 := e.nic("a2", "net-a", "node-2", "fd00::2")
	_, b1 := e.nic("b1", "net-b", "node-2", "fd00::1")
	_, b2 := e.nic("b2", "net-b", "node-3", "fd00::2")
	for _, port := range []string{"80", "8080"} {
		serveName(t, a1.NetNS, port, "A1")
		serveName(t, b1.NetNS, port, "B1")
	}
	mustReach(t, a2, "fd00::1")
	mustReach(t, a1, "fd00::2")
	expectPaths(t, "same IPv6 addresses, two Networks: each reaches its own",
		reaches(a2, "fd00::1", "80", "A1"), reaches(b2, "fd00::1", "80", "B1"), reaches(a2, "fd00::1", "8080", "A1"))

	// The router port advertises itself: a guest that listens learns its
	// default router without configuration.
	testenv.Eventually(t, 45*time.Second, "a2 learned a default router from router advertisements", func() error {
		out, err := a2.Exec("ip", "-6", "route", "show", "default", "proto", "ra")
		if err != nil || !strings.Contains(out, "via fe80::") {
			return fmt.Errorf("RA routes: %q %v", out, err)
		}
		return nil
	})

	// An Internal LoadBalancer with an IPv6 VIP: its port goes to the
	// backend's IPv6 address, another port of the VIP nowhere.
	selector := &apinetv1alpha1.LabelSelector{MatchLabels: map[string]apinetv1alpha1.LabelValue{"app": "web"}}
	lb := &apinetv1alpha1.LoadBalancer{ObjectMeta: metav1.ObjectMeta{Namespace: e.ns, Name: "int6"}, Spec: apinetv1alpha1.LoadBalancerSpec{
		Type: apinetv1alpha1.LoadBalancerTypeInternal, NetworkRef: corev1.LocalObjectReference{Name: "net-a"},
		IPs: []apinetv1alpha1.PublicIPRequest{{Name: "vip", IP: "fd00::100"}}, TargetSelector: selector,
		Ports: []apinetv1alpha1.LoadBalancerPort{{Port: 80}},
	}}
	if err := e.c.Create(ctx, lb); err != nil {
		t.Fatal(err)
	}
	expectPaths(t, "IPv6 VIP fd00::100:80 answered by a1, its port 8080 by nobody",
		reaches(a2, "fd00::100", "80", "A1"), reaches(a2, "fd00::100", "8080", ""))

	tcp := corev1.ProtocolTCP
	policy := &apinetv1alpha1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: e.ns, Name: "web6"}, Spec: apinetv1alpha1.NetworkPolicySpec{
		NetworkRef:               corev1.LocalObjectReference{Name: "net-a"},
		NetworkInterfaceSelector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
		PolicyTypes:              []apinetv1alpha1.PolicyType{apinetv1alpha1.PolicyTypeIngress},
		Ingress: []apinetv1alpha1.NetworkPolicyIngressRule{{
			From:  []apinetv1alpha1.NetworkPolicyPeer{{IPBlock: &apinetv1alpha1.IPBlock{CIDR: "fd00::/64"}}},
			Ports: []apinetv1alpha1.NetworkPolicyPort{{Protocol: &tcp, Port: 80}},
		}},
	}}
	if err := e.c.Create(ctx, policy); err != nil {
		t.Fatal(err)
	}
	expectPaths(t, "IPv6 ingress policy on a1: port 80 from fd00::/64 only; net-b unaffected",
		reaches(a2, "fd00::1", "80", "A1"), reaches(a2, "fd00::1", "8080", ""), reaches(b2, "fd00::1", "8080", "B1"))
	if ping(a2, "fd00::1") {
		t.Error("a2 pings a1 through a policy that admits only TCP port 80")
	}
	mustReach(t, a1, "fd00::2") // a1's own traffic out, and its answers back, pass
}
