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
	"github.com/ovnet-dev/ovnet/devstack"
	"github.com/ovnet-dev/ovnet/ovn"
	"github.com/ovnet-dev/ovnet/test/testenv"
)

// TestPortable is the part of the suite that runs on any target (the
// local stack by default, a cluster with -target=cluster): only kubectl-
// level objects, VMs behind NICs, and commands on the external host.
// Packets prove every claim: east-west traffic between NICs on different
// nodes, a public IP reached from outside and used as the source, a NAT
// gateway's address as the source of a NIC without public IP, and a
// public load balancer spreading connections over its two backends.
func TestPortable(t *testing.T) {
	s := newSite(t)
	s.network("net")
	nodeA, nodeB := s.nodes[0], s.nodes[1]

	t.Run("east-west between nodes", func(t *testing.T) {
		nicA, a := s.nic("a", "net", nodeA, "10.1.0.1")
		_, b := s.nic("b", "net", nodeB, "10.1.0.2")
		// What a user finds in NB: the NIC's port, by its owner's UID.
		out, err := s.nbctl("--bare", "--columns=name", "find", "Logical_Switch_Port", "external_ids:"+ovn.KeyOwnerUID+"="+string(nicA.UID))
		if err != nil || strings.TrimSpace(out) != s.ns+"/a" {
			t.Fatalf("ovn-nbctl find the port of NIC a: %q %v", out, err)
		}
		mustReach(t, a, "10.1.0.2")
		mustReach(t, b, "10.1.0.1")
		if got := transfer(t, b, a, "10.1.0.2", "tcp"); got != "ovnet-tcp" {
			t.Fatalf("TCP a → b delivered %q", got)
		}
	})

	t.Run("public IP", func(t *testing.T) {
		pub, vm := s.nic("pub", "net", nodeB, "10.1.0.3", func(n *apinetv1alpha1.NetworkInterface) {
			n.Spec.PublicIPs = []apinetv1alpha1.PublicIPRequest{{Name: "ip", IPFamily: apinetv1alpha1.IPv4}}
		})
		s.waitFor(pub, "public IP realized", func() error {
			if len(pub.Status.PublicIPs) == 0 {
				return fmt.Errorf("status.publicIPs empty")
			}
			return nil
		})
		ip := string(pub.Status.PublicIPs[0])
		mustReach(t, s.external, ip)
		if got := peerSeenBy(t, s.external, vm, s.extIP); got != ip {
			t.Fatalf("external host saw source %q, want the public IP %s", got, ip)
		}
	})

	t.Run("NAT gateway", func(t *testing.T) {
		gw := &apinetv1alpha1.NATGateway{ObjectMeta: metav1.ObjectMeta{Namespace: s.ns, Name: "gw"},
			Spec: apinetv1alpha1.NATGatewaySpec{IPFamily: apinetv1alpha1.IPv4, NetworkRef: corev1.LocalObjectReference{Name: "net"},
				PortsPerNetworkInterface: 64, IPs: []apinetv1alpha1.NATGatewayIP{{Name: "ip"}}}}
		if err := s.c.Create(context.Background(), gw); err != nil {
			t.Fatal(err)
		}
		nated, vm := s.nic("nated", "net", nodeA, "10.1.0.4")
		s.waitFor(nated, "NAT IP in status", func() error {
			if len(nated.Status.NATIPs) == 0 {
				return fmt.Errorf("status.natIPs empty")
			}
			return nil
		})
		if got := peerSeenBy(t, s.external, vm, s.extIP); got != string(nated.Status.NATIPs[0]) {
			t.Fatalf("external host saw source %q, want the NAT IP %s", got, nated.Status.NATIPs[0])
		}
	})

	t.Run("public load balancer", func(t *testing.T) {
		backend := func(n *apinetv1alpha1.NetworkInterface) { n.Labels = map[string]string{"app": "web"} }
		_, w1 := s.nic("web-1", "net", nodeA, "10.1.0.11", backend)
		_, w2 := s.nic("web-2", "net", nodeB, "10.1.0.12", backend)
		serveNameCmd(t, w1, "80", "W1")
		serveNameCmd(t, w2, "80", "W2")
		lb := &apinetv1alpha1.LoadBalancer{ObjectMeta: metav1.ObjectMeta{Namespace: s.ns, Name: "web"}, Spec: apinetv1alpha1.LoadBalancerSpec{
			Type: apinetv1alpha1.LoadBalancerTypePublic, NetworkRef: corev1.LocalObjectReference{Name: "net"},
			IPs:            []apinetv1alpha1.PublicIPRequest{{Name: "vip", IPFamily: apinetv1alpha1.IPv4}},
			Ports:          []apinetv1alpha1.LoadBalancerPort{{Port: 80}},
			TargetSelector: &apinetv1alpha1.LabelSelector{MatchLabels: map[string]apinetv1alpha1.LabelValue{"app": "web"}},
		}}
		if err := s.c.Create(context.Background(), lb); err != nil {
			t.Fatal(err)
		}
		s.waitFor(lb, "LB Ready with 2 backends", func() error {
			for _, c := range lb.Status.Conditions {
				if c.Type == apinetv1alpha1.ConditionReady && c.Status == metav1.ConditionTrue && strings.Contains(c.Message, "2 backends") {
					return nil
				}
			}
			return fmt.Errorf("conditions %+v", lb.Status.Conditions)
		})
		vip := string(lb.Spec.IPs[0].IP)
		testenv.Eventually(t, time.Minute, "VIP "+vip+":80 answers from both backends", func() error {
			got := answers(s.external, "tcp", vip, "80", 12)
			if got["W1"] == 0 || got["W2"] == 0 {
				return fmt.Errorf("answers %v", got)
			}
			return nil
		})
	})
}

// serveNameCmd answers TCP connections on port inside vm with name, with
// nc in a loop (a command, so that it also runs on a cluster's node); it
// ends by itself after two minutes.
func serveNameCmd(t *testing.T, vm *devstack.VM, port, name string) {
	t.Helper()
	cmd := vm.Command("timeout", "120", "sh", "-c", fmt.Sprintf("while true; do echo %s | nc -N -l %s; done", name, port))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stopCmd(cmd) })
}
