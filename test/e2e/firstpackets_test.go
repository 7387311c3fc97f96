// Package e2e proves dataplane claims with packets between network
// namespaces that the tests create, on OVN chassis started by test/stack.
package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"sync"
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

// env is one chassis with OVN central, the API server and the controllers.
type env struct {
	t       *testing.T
	api     *testenv.Env
	central *stack.Central
	chassis *stack.Chassis
	tag     string
	ns      string
}

func setup(t *testing.T) *env {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("the dataplane tests need root (network namespaces, OVS): run make test as root")
	}
	e := &env{t: t, api: testenv.Start(t), tag: fmt.Sprintf("%04x", rand.IntN(1<<16))}
	dir, err := os.MkdirTemp("/tmp", "e2e")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if e.central, err = stack.StartCentral(dir + "/c"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.central.Stop)
	if e.chassis, err = stack.StartChassis("chassis-1", "ovnet-"+e.tag+"-ch1", dir+"/n1", e.central); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.chassis.Stop)
	p, err := stack.StartInProcess(e.api.Config, e.central.NBEndpoint(), stack.TestProvider(), 300, 400)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Stop)
	t.Cleanup(func() {
		if t.Failed() {
			e.dump()
		}
	})
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "e2e-"}}
	if err := e.api.Client.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	e.ns = ns.Name
	node := &apinetv1alpha1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node1", Annotations: map[string]string{apinetv1alpha1.AnnotationChassis: "chassis-1"}}}
	if err := e.api.Client.Create(context.Background(), node); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *env) network(name string) {
	e.t.Helper()
	if err := e.api.Client.Create(context.Background(), &apinetv1alpha1.Network{ObjectMeta: metav1.ObjectMeta{Namespace: e.ns, Name: name}}); err != nil {
		e.t.Fatal(err)
	}
}

// nic creates a NetworkInterface, waits for its rows, and puts a VM behind it.
func (e *env) nic(name, network, ip string, prefixes ...string) (*apinetv1alpha1.NetworkInterface, *stack.VM) {
	e.t.Helper()
	n := &apinetv1alpha1.NetworkInterface{
		ObjectMeta: metav1.ObjectMeta{Namespace: e.ns, Name: name},
		Spec: apinetv1alpha1.NetworkInterfaceSpec{NodeRef: corev1.LocalObjectReference{Name: "node1"},
			NetworkRef: corev1.LocalObjectReference{Name: network}, IPs: []apinetv1alpha1.IPAddr{apinetv1alpha1.IPAddr(ip)}},
	}
	for _, p := range prefixes {
		n.Spec.Prefixes = append(n.Spec.Prefixes, apinetv1alpha1.IPPrefix(p))
	}
	c := e.api.Client
	if err := c.Create(context.Background(), n); err != nil {
		e.t.Fatal(err)
	}
	testenv.Eventually(e.t, 30*time.Second, name+" rows written", func() error {
		if err := c.Get(context.Background(), client.ObjectKeyFromObject(n), n); err != nil {
			return err
		}
		for _, cond := range n.Status.Conditions {
			if cond.Type == "Ready" && cond.Status == "True" {
				return nil
			}
		}
		return fmt.Errorf("conditions %+v", n.Status.Conditions)
	})
	vm, err := e.chassis.AttachVM("ovnet-"+e.tag+"-"+name, "v"+e.tag+name[len(name)-1:], rows.PortName(n), rows.MAC(n), ip)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(vm.Remove)
	return n, vm
}

// transfer sends one line from client to ip:8000 on server with nc over
// proto and returns what the server received.
func transfer(t *testing.T, server, client *stack.VM, ip, proto string) string {
	t.Helper()
	udp := []string{}
	if proto == "udp" {
		udp = []string{"-u"}
	}
	got := &syncBuffer{}
	srv := exec.Command("ip", append(append([]string{"netns", "exec", server.NetNS, "nc", "-l"}, udp...), "8000")...)
	srv.Stdout = got
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = srv.Process.Kill(); _ = srv.Wait() }()
	time.Sleep(300 * time.Millisecond)
	for range 3 {
		cmd := exec.Command("ip", append(append([]string{"netns", "exec", client.NetNS, "nc", "-w", "1"}, udp...), ip, "8000")...)
		cmd.Stdin = strings.NewReader("ovnet-" + proto + "\n")
		_ = cmd.Run()
		time.Sleep(300 * time.Millisecond)
		if strings.TrimSpace(got.String()) != "" {
			break
		}
	}
	return strings.TrimSpace(got.String())
}

// ping reports whether vm gets an answer from dst within a few tries.
func ping(vm *stack.VM, dst string) bool {
	for range 3 {
		if out, err := vm.Exec("ping", "-c", "1", "-W", "1", dst); err == nil && strings.Contains(out, "1 received") {
			return true
		}
	}
	return false
}

func mustReach(t *testing.T, vm *stack.VM, dst string) {
	t.Helper()
	testenv.Eventually(t, 30*time.Second, vm.NetNS+" reaches "+dst, func() error {
		if !ping(vm, dst) {
			return fmt.Errorf("no answer")
		}
		return nil
	})
}

// TestFirstPackets: two NICs of one Network with unrelated IPs talk through
// OVN; a prefix routed to one NIC is reached from the other; a second
// Network with the same IPs is isolated; deleting a NIC stops its traffic.
func TestFirstPackets(t *testing.T) {
	e := setup(t)
	e.network("net1")
	e.network("net2")
	_, a := e.nic("nic-a", "net1", "192.168.178.1", "10.50.0.0/24")
	nicB, b := e.nic("nic-b", "net1", "10.0.0.7")
	_, c := e.nic("nic-c", "net2", "192.168.178.1")

	mustReach(t, b, "192.168.178.1")
	mustReach(t, a, "10.0.0.7")
	for _, proto := range []string{"tcp", "udp"} {
		if got := transfer(t, b, a, "10.0.0.7", proto); got != "ovnet-"+proto {
			t.Errorf("%s from A to B: server got %q", proto, got)
		}
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

	// Deleting NIC B removes its rows: A's traffic to it stops.
	if err := e.api.Client.Delete(context.Background(), nicB); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 30*time.Second, "traffic to a deleted NIC stops", func() error {
		if ping(a, "10.0.0.7") {
			return fmt.Errorf("10.0.0.7 still answers")
		}
		return nil
	})
}

// dump prints what a person debugging the dataplane would look at.
func (e *env) dump() {
	for _, args := range [][]string{
		{"ovn-nbctl", "--db=" + e.central.NBEndpoint(), "show"},
		{"ovn-sbctl", "--db=" + e.central.SBEndpoint(), "show"},
		{"ovs-vsctl", "--db=unix:" + e.chassis.DB, "show"},
		{"sh", "-c", "tail -n 30 " + e.chassis.Dir + "/ovn-controller.log " + e.chassis.Dir + "/vswitchd.log"},
	} {
		out, _ := exec.Command(args[0], args[1:]...).CombinedOutput()
		e.t.Logf("$ %s\n%s", strings.Join(args, " "), out)
	}
}

// syncBuffer is written by exec's copying goroutine and read by the test.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }
