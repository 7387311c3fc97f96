package e2e

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	apinetv1alpha1 "github.com/ovnet-dev/ovnet/apis/core/v1alpha1"
	"github.com/ovnet-dev/ovnet/devstack"
	"github.com/ovnet-dev/ovnet/ovn/rows"
	"github.com/ovnet-dev/ovnet/test/testenv"
)

// upstream is the external host's address: the provider next hop.
const upstream = "100.64.0.1"

// TestPublicIP: the external host reaches a NIC's public IP and sees it as
// the source of the NIC's outgoing traffic; that traffic enters and leaves
// the provider network on the NIC's own chassis, not on the gateway
// chassis; a NIC without public IP leaks nothing onto the provider
// network; when the active gateway chassis fails, the public IP keeps
// answering, and another chassis takes the gateway port over.
func TestPublicIP(t *testing.T) {
	e := setup(t)
	nw := e.network("net1")
	// The active gateway (highest priority) of the Network; the NICs live
	// on the other chassis so that they survive its failure.
	gw := e.activeGateway(nw)
	var others []string
	for _, n := range nodes {
		if n != gw {
			others = append(others, n)
		}
	}
	pub, vmP := e.nic("nic-p", "net1", others[0], "10.0.0.9", func(n *apinetv1alpha1.NetworkInterface) {
		n.Spec.PublicIPs = []apinetv1alpha1.PublicIPRequest{{Name: "pub", IPFamily: apinetv1alpha1.IPv4}}
	})
	publicIP := e.publicIP(pub)
	_, vmA := e.nic("nic-a", "net1", others[1], "192.168.178.1")
	ext := e.s.External

	mustReach(t, ext, publicIP)
	mustReach(t, vmP, upstream)
	// Distributed: the public IP's packets cross the provider interface of
	// the NIC's chassis and not the gateway chassis's.
	onNIC := capture(t, e.chassis(others[0]).NetNS, "pv0", "ip and host "+publicIP)
	onGateway := capture(t, e.chassis(gw).NetNS, "pv0", "ip and host "+publicIP)
	mustReach(t, ext, publicIP)
	mustReach(t, vmP, upstream)
	if got := onNIC(); captured(got) < 1 {
		t.Errorf("the public IP's traffic did not cross %s's provider interface:\n%s", others[0], got)
	}
	if got := onGateway(); captured(got) != 0 {
		t.Errorf("the public IP's traffic crossed the gateway chassis %s:\n%s", gw, got)
	}
	// Outgoing traffic leaves with the public IP: the external host's
	// listener sees it as the peer.
	if got := peerSeenBy(t, ext, vmP, upstream); got != publicIP {
		t.Errorf("external host saw the NIC's connection from %q, want its public IP %s", got, publicIP)
	}
	// A NIC without public IP or NAT gets nothing out, and nothing of it
	// shows on the provider network.
	leak := capture(t, ext.NetNS, "eth0", "src 192.168.178.1")
	if ping(vmA, upstream) {
		t.Error("a NIC without public IP reached the external host")
	}
	if got := leak(); captured(got) != 0 {
		t.Errorf("the private source leaked onto the provider network:\n%s", got)
	}

	// The active gateway chassis fails (its links go down): another
	// gateway chassis takes the port over (BFD) and traffic resumes.
	failed := e.chassis(gw)
	if err := failed.SetLinks("down"); err != nil {
		t.Fatal(err)
	}
	// The public IP does not depend on the gateway chassis: it answers at
	// once (ping tries for a few seconds), before any failover.
	if !ping(ext, publicIP) {
		t.Errorf("the public IP stopped answering when the gateway chassis %s failed", gw)
	}
	start := time.Now()
	testenv.Eventually(t, 60*time.Second, "the gateway port moves to another chassis", func() error {
		if now := e.activeChassisOfGateway(nw); now == gw || now == "" {
			return fmt.Errorf("gateway port on %q", now)
		}
		return nil
	})
	// What is centralized (the gateway port itself, NAT gateways, VIPs)
	// follows: the port answers at its transit address from the new chassis.
	if err := e.c.Get(context.Background(), client.ObjectKeyFromObject(nw), nw); err != nil {
		t.Fatal(err)
	}
	transit := nw.Annotations[apinetv1alpha1.AnnotationTransitIP]
	testenv.Eventually(t, 60*time.Second, "the gateway port answers at "+transit+" after failover", func() error {
		if !ping(ext, transit) {
			return fmt.Errorf("no answer")
		}
		return nil
	})
	t.Logf("gateway %s failed: its port moved and answered after %s", gw, time.Since(start).Round(100*time.Millisecond))
	if got := peerSeenBy(t, ext, vmP, upstream); got != publicIP {
		t.Errorf("after failover the external host saw %q, want %s", got, publicIP)
	}
	if err := failed.SetLinks("up"); err != nil {
		t.Fatal(err)
	}
}

// activeGateway is the chassis with the highest priority for nw's gateway
// port, as written by ovnet.
func (e *env) activeGateway(nw *apinetv1alpha1.Network) string {
	e.t.Helper()
	out := e.nbctl("--bare", "--columns=chassis_name,priority", "find", "Gateway_Chassis",
		"external_ids:apinet.ironcore.dev/owner-uid="+string(nw.UID))
	best, bestPrio := "", -1
	fields := strings.Fields(out)
	for i := 0; i+1 < len(fields); i += 2 {
		var prio int
		fmt.Sscan(fields[i+1], &prio)
		if prio > bestPrio {
			best, bestPrio = fields[i], prio
		}
	}
	if best == "" {
		e.t.Fatalf("no gateway chassis for %s: %q", nw.Name, out)
	}
	return best
}

// activeChassisOfGateway is the chassis that has claimed nw's gateway port
// (its chassisredirect port binding in the SB database).
func (e *env) activeChassisOfGateway(nw *apinetv1alpha1.Network) string {
	e.t.Helper()
	port := rows.NetworkRouterName(nw) + "/lr-gw"
	uuid := e.sbctl("--bare", "--columns=chassis", "find", "Port_Binding", "type=chassisredirect", `logical_port="cr-`+port+`"`)
	if uuid == "" {
		return ""
	}
	return e.sbctl("--bare", "--columns=name", "list", "Chassis", uuid)
}

func (e *env) chassis(name string) *devstack.Chassis {
	for _, ch := range e.s.Chassis {
		if ch.Name == name {
			return ch
		}
	}
	e.t.Fatalf("no chassis %s", name)
	return nil
}

// peerSeenBy opens a TCP connection from client to ip:9000 on server and
// returns the source address the server saw (nc -v reports it).
func peerSeenBy(t *testing.T, server, client *devstack.VM, ip string) string {
	t.Helper()
	var log syncBuffer
	srv := server.Command("timeout", "30", "nc", "-n", "-v", "-l", "9000")
	srv.Stdout, srv.Stderr = &log, &log
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer stopCmd(srv)
	time.Sleep(300 * time.Millisecond)
	for range 10 {
		cmd := client.Command("nc", "-w", "2", ip, "9000")
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

// TestNetworksShareTheProvider: every Network's gateway port is on the one
// provider switch. A NIC reaches another Network's NIC by its public IP
// (through the provider's next hop, with its own public IP as source),
// while no router holds a static neighbour flow for another Network's
// gateway port nor learns its MAC from its gratuitous ARPs: both would grow
// with the square of the Networks (ovn/rows/network.go).
func TestNetworksShareTheProvider(t *testing.T) {
	e := setup(t)
	nets := []*apinetv1alpha1.Network{e.network("net1"), e.network("net2")}
	public := func(n *apinetv1alpha1.NetworkInterface) {
		n.Spec.PublicIPs = []apinetv1alpha1.PublicIPRequest{{Name: "pub", IPFamily: apinetv1alpha1.IPv4}}
	}
	nic1, vm1 := e.nic("p1", "net1", "node-1", "10.0.0.1", public)
	nic2, vm2 := e.nic("p2", "net2", "node-2", "10.0.0.1", public)
	pub1, pub2 := e.publicIP(nic1), e.publicIP(nic2)

	mustReach(t, vm2, pub1)
	if got := peerSeenBy(t, vm1, vm2, pub1); got != pub2 {
		t.Errorf("net1's NIC saw net2's NIC's connection from %q, want its public IP %s", got, pub2)
	}
	if got := peerSeenBy(t, vm2, vm1, pub2); got != pub1 {
		t.Errorf("net2's NIC saw net1's NIC's connection from %q, want its public IP %s", got, pub1)
	}

	// Each router's neighbour resolution (lr_in_arp_resolve) names no
	// other Network's gateway port address.
	for i, nw := range nets {
		other := nets[1-i]
		if err := e.c.Get(context.Background(), client.ObjectKeyFromObject(other), other); err != nil {
			t.Fatal(err)
		}
		transit := other.Annotations[apinetv1alpha1.AnnotationTransitIP]
		if transit == "" {
			t.Fatalf("%s has no transit address annotation", other.Name)
		}
		// The router's datapath (its switch has the same name).
		lr := e.nbctl("--bare", "--columns=_uuid", "find", "Logical_Router", `name="`+rows.NetworkRouterName(nw)+`"`)
		dp := e.sbctl("--bare", "--columns=_uuid", "find", "Datapath_Binding", "external_ids:logical-router="+lr)
		var resolve, static []string
		for _, l := range strings.Split(e.sbctl("lflow-list", dp), "\n") {
			if strings.Contains(l, "lr_in_arp_resolve") {
				resolve = append(resolve, l)
				if strings.Contains(l, "reg0 == "+transit+")") {
					static = append(static, strings.TrimSpace(l))
				}
			}
		}
		if len(resolve) == 0 {
			t.Fatalf("no lr_in_arp_resolve flows listed for %s's router (datapath %q)", nw.Name, dp)
		}
		if len(static) != 0 {
			t.Errorf("%s's router resolves %s's gateway port %s statically:\n%s", nw.Name, other.Name, transit, strings.Join(static, "\n"))
		}
		// Its learned neighbours (MAC_Binding) on the provider switch: the
		// next hop it sent to, and not the other gateway port, whose
		// gratuitous ARPs it hears.
		learned := strings.Fields(e.sbctl("--bare", "--columns=ip", "find", "MAC_Binding", `logical_port="`+rows.NetworkRouterName(nw)+`/lr-gw"`))
		if !slices.Contains(learned, upstream) || slices.Contains(learned, transit) {
			t.Errorf("%s's router learned the neighbours %v on the provider switch, want %s and not %s's gateway port %s", nw.Name, learned, upstream, other.Name, transit)
		}
	}
}
