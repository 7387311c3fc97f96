package e2e

import (
	"context"
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

// TestTenantAddresses, with packets: a NIC of tenant B that names tenant
// A's public IP gets no NAT for it — A keeps its inbound and outbound
// traffic, B reaches nothing outside and says why; a second NIC with A's
// internal IP in A's Network waits with IPConflict, and A's traffic goes
// on to A only.
func TestTenantAddresses(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	e.network("net1")
	a, vmA := e.nic("nic-a", "net1", nodes[0], "10.0.0.9", func(n *apinetv1alpha1.NetworkInterface) {
		n.Spec.PublicIPs = []apinetv1alpha1.PublicIPRequest{{Name: "pub", IPFamily: apinetv1alpha1.IPv4}}
	})
	testenv.Eventually(t, 30*time.Second, "A's public IP realized", func() error {
		if err := e.c.Get(ctx, client.ObjectKeyFromObject(a), a); err != nil {
			return err
		}
		if len(a.Status.PublicIPs) != 1 {
			return fmt.Errorf("status.publicIPs %v", a.Status.PublicIPs)
		}
		return nil
	})
	publicIP := a.Status.PublicIPs[0]
	ext := e.s.External

	// Tenant B, its own namespace and Network, names A's public IP.
	nsB := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "e2e-b-"}}
	if err := e.c.Create(ctx, nsB); err != nil {
		t.Fatal(err)
	}
	siteB := e.site()
	siteB.ns = nsB.Name
	siteB.network("net1")
	b := e.plugged(nsB.Name, "nic-b", "net1", nodes[1], "10.0.0.10", []apinetv1alpha1.PublicIPRequest{{Name: "steal", IP: publicIP}})
	vmB, err := e.s.Layout.AttachVM(b)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(vmB.Remove)
	if got := readyOf(b); !strings.HasPrefix(got, "False/PublicIPNotHeld") || len(b.Status.PublicIPs) != 0 {
		t.Errorf("B's Ready = %s, status.publicIPs = %v; want PublicIPNotHeld and none", got, b.Status.PublicIPs)
	}

	if got := e.nbctl("--bare", "--columns=logical_ip", "find", "NAT", "external_ip="+string(publicIP)); got != "10.0.0.9" {
		t.Errorf("NAT rows for %s: logical IPs %q, want only A's 10.0.0.9", publicIP, got)
	}

	// A keeps its public IP both ways; B gets nothing out.
	mustReach(t, ext, string(publicIP))
	if got := peerSeenBy(t, vmA, ext, string(publicIP)); got != upstream {
		t.Errorf("a connection to %s reached A from %q, want from the external host %s", publicIP, got, upstream)
	}
	if got := peerSeenBy(t, ext, vmA, upstream); got != string(publicIP) {
		t.Errorf("the external host saw A's connection from %q, want %s", got, publicIP)
	}
	if ping(vmB, upstream) {
		t.Error("B reached the external host through an address it does not hold")
	}

	// A second NIC with A's internal IP in A's Network: it waits, and A's
	// traffic inside the Network still reaches A only.
	dup := e.plugged(e.ns, "nic-dup", "net1", nodes[2], "10.0.0.9", nil)
	if got := readyOf(dup); !strings.HasPrefix(got, "False/IPConflict: address 10.0.0.9 is used by NetworkInterface nic-a") {
		t.Errorf("the later NIC's Ready = %s", got)
	}
	if vmDup, err := e.s.Layout.AttachVM(dup); err == nil {
		t.Cleanup(vmDup.Remove) // a listener there must never be reached
	}
	_, vmC := e.nic("nic-c", "net1", nodes[1], "10.0.0.11")
	for i := range 5 {
		if got := peerSeenBy(t, vmA, vmC, "10.0.0.9"); got != "10.0.0.11" {
			t.Errorf("connection %d to 10.0.0.9 reached A from %q, want from C", i, got)
		}
	}
}

// plugged creates a NIC whose Ready condition need not become True and
// waits until its agent has plugged it (a tap device) and the controller
// has given it a Ready condition.
func (e *env) plugged(ns, name, network, node, ip string, pub []apinetv1alpha1.PublicIPRequest) *apinetv1alpha1.NetworkInterface {
	e.t.Helper()
	n := &apinetv1alpha1.NetworkInterface{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: apinetv1alpha1.NetworkInterfaceSpec{NodeRef: corev1.LocalObjectReference{Name: node},
			NetworkRef: corev1.LocalObjectReference{Name: network}, IPs: []apinetv1alpha1.IPAddr{apinetv1alpha1.IPAddr(ip)}, PublicIPs: pub}}
	if err := e.c.Create(context.Background(), n); err != nil {
		e.t.Fatal(err)
	}
	testenv.Eventually(e.t, time.Minute, name+" plugged", func() error {
		if err := e.c.Get(context.Background(), client.ObjectKeyFromObject(n), n); err != nil {
			return err
		}
		if n.Status.TapDevice == nil {
			return fmt.Errorf("no tap device (state %q)", n.Status.State)
		}
		if got := readyOf(n); got == "" || strings.HasPrefix(got, "False/Pending") {
			return fmt.Errorf("Ready = %q", got)
		}
		return nil
	})
	return n
}

func readyOf(n *apinetv1alpha1.NetworkInterface) string {
	c := apinetv1alpha1.ConditionCopy(n.Status.Conditions, apinetv1alpha1.ConditionReady)
	if c.Type == "" {
		return ""
	}
	return string(c.Status) + "/" + c.Reason + ": " + c.Message
}
