package e2e

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	apinetv1alpha1 "github.com/ovnet-dev/ovnet/apis/core/v1alpha1"
	"github.com/ovnet-dev/ovnet/devstack"
	"github.com/ovnet-dev/ovnet/test/testenv"
)

// TestNATGateway: two NICs behind one NAT IP reach the external host over
// TCP and UDP; it sees the NAT IP as source and each NIC's source ports
// inside that NIC's block; a NIC with its own public IP is not NATed by the
// gateway; with blocks of 2 ports a NIC's third concurrent connection
// fails while the other NIC is unaffected.
func TestNATGateway(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	e.network("net1")
	gw := &apinetv1alpha1.NATGateway{ObjectMeta: metav1.ObjectMeta{Namespace: e.ns, Name: "gw"}, Spec: apinetv1alpha1.NATGatewaySpec{
		IPFamily: apinetv1alpha1.IPv4, NetworkRef: corev1.LocalObjectReference{Name: "net1"}, PortsPerNetworkInterface: 2,
		IPs: []apinetv1alpha1.NATGatewayIP{{Name: "nat"}}}}
	if err := e.c.Create(ctx, gw); err != nil {
		t.Fatal(err)
	}
	n1, vm1 := e.nic("n1", "net1", "node-2", "10.0.0.1")
	n2, vm2 := e.nic("n2", "net1", "node-3", "10.0.0.2")
	p, vmP := e.nic("p", "net1", "node-1", "10.0.0.3", func(n *apinetv1alpha1.NetworkInterface) {
		n.Spec.PublicIPs = []apinetv1alpha1.PublicIPRequest{{Name: "pub", IPFamily: apinetv1alpha1.IPv4}}
	})

	// The blocks, from the NATTable, once both NICs report the NAT IP.
	var natIP netip.Addr
	var blocks map[string][2]int32
	testenv.Eventually(t, 30*time.Second, "NICs NATed", func() (err error) {
		if natIP, blocks, err = e.natTable(gw); err != nil {
			return err
		}
		for _, n := range []*apinetv1alpha1.NetworkInterface{n1, n2, p} {
			if err := e.c.Get(ctx, client.ObjectKeyFromObject(n), n); err != nil {
				return err
			}
		}
		if len(blocks) != 2 || len(n1.Status.NATIPs) != 1 || len(n2.Status.NATIPs) != 1 || len(p.Status.PublicIPs) != 1 {
			return fmt.Errorf("blocks %v, natIPs %v %v, p public %v", blocks, n1.Status.NATIPs, n2.Status.NATIPs, p.Status.PublicIPs)
		}
		return nil
	})
	if _, ok := blocks["p"]; ok {
		t.Error("the NIC with a public IP got a NAT block")
	}
	t.Logf("NAT IP %s, blocks %v", natIP, blocks)

	peers := listenIn(t, e.s.Layout.External, "9001")
	from := func(vm *devstack.VM, proto string) (netip.AddrPort, error) {
		return peers.sourceOf(vm, proto, upstream, "9001")
	}
	for _, c := range []struct {
		name string
		vm   *devstack.VM
	}{{"n1", vm1}, {"n2", vm2}} {
		for _, proto := range []string{"tcp", "udp"} {
			got, err := from(c.vm, proto)
			if err != nil {
				t.Error(err)
				continue
			}
			b := blocks[c.name]
			if got.Addr() != natIP || int32(got.Port()) < b[0] || int32(got.Port()) > b[1] {
				t.Errorf("%s %s arrived from %s, want %s with a port in %d-%d", c.name, proto, got, natIP, b[0], b[1])
			}
		}
	}
	if got, err := e.publicSourceOf(peers, vmP, "node-1", string(p.Status.PublicIPs[0]), upstream); err != nil || got.Addr().String() != string(p.Status.PublicIPs[0]) {
		t.Errorf("the NIC with a public IP arrived from %v (%v), want its public IP %s", got, err, p.Status.PublicIPs[0])
	}

	// Blocks of 2 ports: n1 holds two connections open to one destination
	// (a fresh one: the closed connections above still hold their NAT
	// entries for a while); a third cannot get a port, while n2 still
	// connects.
	peers = listenIn(t, e.s.Layout.External, "9003")
	held := peers.count()
	for range 2 {
		cmd := vm1.Command("sh", "-c", "sleep 30 | nc "+upstream+" 9003")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	}
	testenv.Eventually(t, 10*time.Second, "two held connections from n1", func() error {
		if got := peers.since(held); len(got) != 2 {
			return fmt.Errorf("%v", got)
		}
		return nil
	})
	if out, err := vm1.Exec("nc", "-z", "-w", "3", upstream, "9003"); err == nil {
		t.Errorf("n1's third concurrent connection succeeded with a block of 2 ports: %s %v", out, peers.since(held))
	}
	if out, err := vm2.Exec("nc", "-z", "-w", "3", upstream, "9003"); err != nil {
		t.Errorf("n2 could not connect while n1's block was full: %v %s", err, out)
	}
}

// natTable reads gw's NATTable: its NAT IP (the last, when several) and
// each NATed NIC's block of ports by the NIC's name.
func (e *env) natTable(gw *apinetv1alpha1.NATGateway) (netip.Addr, map[string][2]int32, error) {
	table := &apinetv1alpha1.NATTable{}
	if err := e.c.Get(context.Background(), client.ObjectKeyFromObject(gw), table); err != nil {
		return netip.Addr{}, nil, err
	}
	var natIP netip.Addr
	blocks := map[string][2]int32{}
	for _, ip := range table.IPs {
		natIP = netip.MustParseAddr(string(ip.IP))
		for _, s := range ip.Sections {
			blocks[s.TargetRef.Name] = [2]int32{s.Port, s.EndPort}
		}
	}
	return natIP, blocks, nil
}
