package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	apinetv1alpha1 "github.com/ovnet-dev/ovnet/apis/core/v1alpha1"
	"github.com/ovnet-dev/ovnet/nodeagent"
	"github.com/ovnet-dev/ovnet/test/testenv"
)

// TestFirstPackets: two NICs of one Network on different chassis, with
// unrelated IPs, talk through OVN over geneve; a prefix routed to one NIC
// is reached from the other; a second Network with the same IPs is
// isolated; restarted controllers and agents write nothing; deleting a NIC
// or a Network removes exactly its rows and stops its traffic.
func TestFirstPackets(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	e.network("net1")
	net2 := e.network("net2")
	_, a := e.nic("nic-a", "net1", "node-1", "192.168.178.1", func(n *apinetv1alpha1.NetworkInterface) {
		n.Spec.Prefixes = []apinetv1alpha1.IPPrefix{"10.50.0.0/24"}
	})
	nicB, b := e.nic("nic-b", "net1", "node-2", "10.0.0.7")
	nicC, c := e.nic("nic-c", "net2", "node-3", "192.168.178.1")

	// Across chassis, through geneve on the underlay.
	geneve := capture(t, e.s.Layout.Fabric, "ul", "udp port 6081")
	mustReach(t, b, "192.168.178.1")
	mustReach(t, a, "10.0.0.7")
	if got := geneve(); !strings.Contains(got, "Geneve") {
		t.Errorf("no geneve on the underlay while A and B talked:\n%s", got)
	}
	for _, proto := range []string{"tcp", "udp"} {
		if got := transfer(t, b, a, "10.0.0.7", proto); got != "ovnet-"+proto {
			t.Errorf("%s from A to B: server got %q", proto, got)
		}
	}
	// 1500-byte frames fit: the underlay carries the geneve overhead.
	if out, err := a.Exec("ping", "-c", "1", "-W", "2", "-M", "do", "-s", "1472", "10.0.0.7"); err != nil {
		t.Errorf("full-size DF ping across chassis: %v\n%s", err, out)
	}

	// A prefix routed to NIC A: an address of it on A's loopback answers B.
	if out, err := a.Exec("ip", "addr", "add", "10.50.0.5/32", "dev", "lo"); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	mustReach(t, b, "10.50.0.5")

	// net2 has the same 192.168.178.1 (C) but no 10.0.0.7: C must not reach
	// net1's B, nor net1's prefix.
	if ping(c, "10.0.0.7") || ping(c, "10.50.0.5") {
		t.Error("a NIC of net2 reached net1")
	}

	// Restarted controllers and an agent find everything in place and write
	// nothing: no NB transaction, no Open_vSwitch transaction.
	e.startController()
	agent := e.restartAgent("node-2")
	time.Sleep(5 * time.Second)
	if n := e.ctrl.NB.Transactions(); n != 0 {
		t.Errorf("restarted controllers issued %d NB transactions, want 0", n)
	}
	if n := agent.OVS.Transactions(); n != 0 {
		t.Errorf("restarted agent issued %d Open_vSwitch transactions, want 0", n)
	}
	mustReach(t, a, "10.0.0.7")

	// Deleting NIC B removes its rows (NB port, br-int port, veth) and
	// nothing else; A's traffic to it stops.
	before := e.managedRows()
	bRows := e.rowsOf(string(nicB.UID))
	if bRows == 0 {
		t.Fatal("NIC B owns no NB rows")
	}
	host, _ := nodeagent.VethNames(nicB)
	if err := e.c.Delete(ctx, nicB); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 30*time.Second, "NIC B and its rows gone", func() error {
		if err := e.c.Get(ctx, client.ObjectKeyFromObject(nicB), nicB); err == nil {
			return fmt.Errorf("NIC still there (finalizers %v)", nicB.Finalizers)
		}
		if n := e.rowsOf(string(nicB.UID)); n != 0 {
			return fmt.Errorf("%d NB rows left", n)
		}
		return nil
	})
	if got := e.managedRows(); got != before-bRows {
		t.Errorf("after deleting NIC B: %d managed NB rows, want %d - %d", got, before, bRows)
	}
	if out, _ := exec.Command("ovs-vsctl", "--db="+e.s.Chassis[1].Endpoint(), "list-ports", "br-int").CombinedOutput(); strings.Contains(string(out), host) {
		t.Errorf("br-int of node-2 still has %s: %s", host, out)
	}
	if exec.Command("ip", "-n", e.s.Chassis[1].NetNS, "link", "show", host).Run() == nil {
		t.Errorf("veth %s still exists on node-2", host)
	}
	testenv.Eventually(t, 30*time.Second, "traffic to a deleted NIC stops", func() error {
		if ping(a, "10.0.0.7") {
			return fmt.Errorf("10.0.0.7 still answers")
		}
		return nil
	})

	// Deleting net2 (after its NIC) removes its switch and router; net1 and
	// its traffic are untouched.
	if err := e.c.Delete(ctx, nicC); err != nil {
		t.Fatal(err)
	}
	net1Rows := e.rowsOfName("net1")
	if err := e.c.Delete(ctx, net2); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 30*time.Second, "net2's rows gone", func() error {
		if n := e.rowsOf(string(net2.UID)); n != 0 {
			return fmt.Errorf("%d NB rows of net2 left", n)
		}
		return nil
	})
	if got := e.rowsOfName("net1"); got != net1Rows {
		t.Errorf("net1 owns %d NB rows after net2 went, had %d", got, net1Rows)
	}
	if out := e.nbctl("--bare", "--columns=name", "find", "Logical_Switch", "external_ids:apinet.ironcore.dev/owner-name=net2"); out != "" {
		t.Errorf("net2's switch is still there: %s", out)
	}
	mustReach(t, a, "10.50.0.5")
}

// managedRows counts ovnet's rows in the NB tables a Network and a NIC
// write.
func (e *env) managedRows() int {
	return e.countRows("external_ids:apinet.ironcore.dev/managed-by=ovnet")
}

func (e *env) rowsOf(uid string) int {
	return e.countRows("external_ids:apinet.ironcore.dev/owner-uid=" + uid)
}

func (e *env) rowsOfName(name string) int {
	return e.countRows("external_ids:apinet.ironcore.dev/owner-name=" + name)
}

func (e *env) countRows(cond string) int {
	n := 0
	for _, table := range []string{"Logical_Switch", "Logical_Switch_Port", "Logical_Router", "Logical_Router_Port",
		"Logical_Router_Static_Route", "NAT", "Gateway_Chassis", "Address_Set", "ACL"} {
		out := e.nbctl("--bare", "--columns=_uuid", "find", table, cond)
		n += len(strings.Fields(out))
	}
	return n
}

// captured is the number of packets in tcpdump's "N packets captured"
// summary of out (-1: no summary).
func captured(out string) int {
	m := regexp.MustCompile(`(?m)^(\d+) packets? captured`).FindStringSubmatch(out)
	if m == nil {
		return -1
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// capture starts tcpdump on dev in netns and returns a function that stops
// it and returns what it printed. Immediate mode: a packet is printed when
// it arrives, not when the capture buffer's timeout expires (a stop right
// after the traffic would otherwise lose it).
func capture(t *testing.T, netns, dev, filter string) func() string {
	t.Helper()
	var out syncBuffer
	cmd := exec.Command("ip", append([]string{"netns", "exec", netns, "tcpdump", "--immediate-mode", "-n", "-l", "-i", dev}, strings.Fields(filter)...)...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// tcpdump says when it listens; packets before that are not seen.
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(out.String(), "listening on") && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	stopped := false
	stop := func() string {
		if !stopped {
			stopped = true
			// SIGINT: tcpdump prints its "N packets captured" summary.
			_ = cmd.Process.Signal(os.Interrupt)
			done := make(chan struct{})
			go func() { _ = cmd.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				_ = cmd.Process.Kill()
				<-done
			}
		}
		return out.String()
	}
	t.Cleanup(func() { stop() })
	return stop
}
