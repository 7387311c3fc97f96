package e2e

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	apinetv1alpha1 "github.com/ovnet-dev/ovnet/apis/core/v1alpha1"
	"github.com/ovnet-dev/ovnet/ovn/rows"
	"github.com/ovnet-dev/ovnet/test/stack"
	"github.com/ovnet-dev/ovnet/test/testenv"
)

// TestPublicIP: with a provider network and the chassis as gateway, the
// external host reaches a NIC's public IP and sees it as the source of the
// NIC's outgoing traffic; a NIC without public IP leaks nothing onto the
// provider network.
func TestPublicIP(t *testing.T) {
	e := setup(t)
	ctx, c := context.Background(), e.api.Client
	ext, err := e.chassis.AddProvider("physnet1", "ovnet-"+e.tag+"-ext", "p"+e.tag, "100.64.0.1/16", "203.0.113.1/24")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ext.Remove)
	node := &apinetv1alpha1.Node{}
	if err := c.Get(ctx, client.ObjectKey{Name: "node1"}, node); err != nil {
		t.Fatal(err)
	}
	patch := client.MergeFrom(node.DeepCopy())
	node.Labels = map[string]string{apinetv1alpha1.LabelGateway: "true"}
	if err := c.Patch(ctx, node, patch); err != nil {
		t.Fatal(err)
	}
	e.network("net1")
	pub := &apinetv1alpha1.NetworkInterface{
		ObjectMeta: metav1.ObjectMeta{Namespace: e.ns, Name: "nic-p"},
		Spec: apinetv1alpha1.NetworkInterfaceSpec{NodeRef: corev1.LocalObjectReference{Name: "node1"}, NetworkRef: corev1.LocalObjectReference{Name: "net1"},
			IPs: []apinetv1alpha1.IPAddr{"10.0.0.9"}, PublicIPs: []apinetv1alpha1.PublicIPRequest{{Name: "pub", IPFamily: apinetv1alpha1.IPv4}}},
	}
	if err := c.Create(ctx, pub); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 30*time.Second, "public IP realized", func() error {
		if err := c.Get(ctx, client.ObjectKeyFromObject(pub), pub); err != nil {
			return err
		}
		if len(pub.Status.PublicIPs) != 1 {
			return fmt.Errorf("status.publicIPs %v", pub.Status.PublicIPs)
		}
		return nil
	})
	publicIP := string(pub.Status.PublicIPs[0])
	vmP, err := e.chassis.AttachVM("ovnet-"+e.tag+"-nic-p", "v"+e.tag+"p", rows.PortName(pub), rows.MAC(pub), "10.0.0.9")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(vmP.Remove)
	_, vmA := e.nic("nic-a", "net1", "192.168.178.1")

	mustReach(t, ext, publicIP)
	mustReach(t, vmP, "203.0.113.1")
	// Outgoing traffic leaves with the public IP: the external host's
	// listener sees it as the peer.
	if got := peerSeenBy(t, ext, vmP, "203.0.113.1"); got != publicIP {
		t.Errorf("external host saw the NIC's connection from %q, want its public IP %s", got, publicIP)
	}
	// A NIC without public IP or NAT gets nothing out, and nothing of it
	// shows on the provider network.
	dump := exec.Command("ip", "netns", "exec", ext.NetNS, "timeout", "4", "tcpdump", "-n", "-i", "eth0", "src", "192.168.178.1")
	var out syncBuffer
	dump.Stdout, dump.Stderr = &out, &out
	if err := dump.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	if ping(vmA, "203.0.113.1") {
		t.Error("a NIC without public IP reached the external host")
	}
	_ = dump.Wait()
	if !strings.Contains(out.String(), "0 packets captured") {
		t.Errorf("the private source leaked onto the provider network:\n%s", out.String())
	}
}

// peerSeenBy opens a TCP connection from client to ip:9000 on server and
// returns the source address the server saw (nc -v reports it).
func peerSeenBy(t *testing.T, server, client *stack.VM, ip string) string {
	t.Helper()
	var log syncBuffer
	srv := exec.Command("ip", "netns", "exec", server.NetNS, "nc", "-n", "-v", "-l", "9000")
	srv.Stdout, srv.Stderr = &log, &log
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = srv.Process.Kill(); _ = srv.Wait() }()
	time.Sleep(300 * time.Millisecond)
	for range 10 {
		cmd := exec.Command("ip", "netns", "exec", client.NetNS, "nc", "-w", "2", ip, "9000")
		cmd.Stdin = strings.NewReader("hello\n")
		_ = cmd.Run()
		time.Sleep(300 * time.Millisecond)
		// "Connection received on 203.0.113.5 43210"
		if _, rest, ok := strings.Cut(log.String(), "Connection received on "); ok {
			return strings.Fields(rest)[0]
		}
	}
	t.Logf("listener output: %s", log.String())
	return ""
}
