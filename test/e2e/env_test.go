// Package e2e proves dataplane claims with packets between network
// namespaces, on the local stack of devstack: three OVN chassis joined by
// geneve, an external host on the provider network, ovnet's controllers
// and one node agent per chassis.
package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	apinetv1alpha1 "github.com/ovnet-dev/ovnet/apis/core/v1alpha1"
	"github.com/ovnet-dev/ovnet/devstack"
	"github.com/ovnet-dev/ovnet/test/testenv"
)

var nodes = []string{"node-1", "node-2", "node-3"}

// env is a running stack with the controllers and agents in this process.
type env struct {
	t      *testing.T
	s      *devstack.Stack
	c      client.Client
	ctrl   *devstack.InProcess
	agents map[string]*devstack.Agent
	ns     string
}

func setup(t *testing.T) *env {
	t.Helper()
	if *target != "local" {
		t.Skip("needs the local stack (in-process controllers and agents, chassis links, the fabric): -target=local")
	}
	if os.Geteuid() != 0 {
		t.Fatal("the dataplane tests need root (network namespaces, OVS): run make test as root")
	}
	dir, err := os.MkdirTemp("/tmp", "e2e")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	s, err := devstack.Up(devstack.Options{RunDir: dir, Nodes: nodes, Provider: devstack.TestProvider()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Down)
	e := &env{t: t, s: s, c: s.API.Client, agents: map[string]*devstack.Agent{}}
	e.startController()
	for _, node := range nodes {
		e.restartAgent(node)
	}
	t.Cleanup(func() {
		if t.Failed() {
			e.dump()
		}
	})
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "e2e-"}}
	if err := e.c.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	e.ns = ns.Name
	testenv.Eventually(t, 30*time.Second, "agents registered their Nodes", func() error {
		var list apinetv1alpha1.NodeList
		if err := e.c.List(context.Background(), &list); err != nil {
			return err
		}
		if len(list.Items) != len(nodes) {
			return fmt.Errorf("%d nodes", len(list.Items))
		}
		return nil
	})
	return e
}

// startController starts ovnet-controller's controllers in this process
// (stopping those started before).
func (e *env) startController() {
	e.t.Helper()
	if e.ctrl != nil {
		e.ctrl.Stop()
	}
	p, err := devstack.StartInProcess(e.s.API.Config, e.s.Central, devstack.TestProvider(), 300, 400)
	if err != nil {
		e.t.Fatal(err)
	}
	e.ctrl = p
	e.t.Cleanup(p.Stop)
}

// restartAgent starts (or restarts) the node agent of node in this process.
func (e *env) restartAgent(node string) *devstack.Agent {
	e.t.Helper()
	if a := e.agents[node]; a != nil {
		a.Stop()
	}
	for _, ch := range e.s.Chassis {
		if ch.Name == node {
			a, err := devstack.StartInProcessAgent(e.s.API.Config, ch, map[string]string{apinetv1alpha1.LabelGateway: "true"})
			if err != nil {
				e.t.Fatal(err)
			}
			e.agents[node] = a
			e.t.Cleanup(a.Stop)
			return a
		}
	}
	e.t.Fatalf("no chassis %s", node)
	return nil
}

func (e *env) network(name string) *apinetv1alpha1.Network {
	e.t.Helper()
	return e.site().network(name)
}

// nic creates a NetworkInterface on node, waits until its agent reports it
// Ready, and puts a VM behind its tap device.
func (e *env) nic(name, network, node, ip string, mutate ...func(*apinetv1alpha1.NetworkInterface)) (*apinetv1alpha1.NetworkInterface, *devstack.VM) {
	e.t.Helper()
	return e.site().nic(name, network, node, ip, mutate...)
}

// publicIP waits until nic reports its one public IP and returns it.
func (e *env) publicIP(nic *apinetv1alpha1.NetworkInterface) string {
	e.t.Helper()
	testenv.Eventually(e.t, 30*time.Second, nic.Name+"'s public IP realized", func() error {
		if err := e.c.Get(context.Background(), client.ObjectKeyFromObject(nic), nic); err != nil {
			return err
		}
		if len(nic.Status.PublicIPs) != 1 {
			return fmt.Errorf("status.publicIPs %v", nic.Status.PublicIPs)
		}
		return nil
	})
	return string(nic.Status.PublicIPs[0])
}

func conditionTrue(conds []metav1.Condition, typ string) error {
	for _, c := range conds {
		if c.Type == typ && c.Status == metav1.ConditionTrue {
			return nil
		}
	}
	return fmt.Errorf("condition %s not True: %+v", typ, conds)
}

func (e *env) nbctl(args ...string) string {
	e.t.Helper()
	out, err := exec.Command("ovn-nbctl", append([]string{"--db=" + e.s.Central.NBEndpoint()}, args...)...).CombinedOutput()
	if err != nil {
		e.t.Fatalf("ovn-nbctl %v: %v %s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

func (e *env) sbctl(args ...string) string {
	e.t.Helper()
	out, err := exec.Command("ovn-sbctl", append([]string{"--db=" + e.s.Central.SBEndpoint()}, args...)...).CombinedOutput()
	if err != nil {
		e.t.Fatalf("ovn-sbctl %v: %v %s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// transfer sends one line from client to ip:8000 on server with nc over
// proto and returns what the server received.
func transfer(t *testing.T, server, client *devstack.VM, ip, proto string) string {
	t.Helper()
	udp := []string{}
	if proto == "udp" {
		udp = []string{"-u"}
	}
	got := &syncBuffer{}
	// timeout ends the listener also where killing the local command does
	// not reach it (a node entered with docker exec).
	srv := server.Command(append(append([]string{"timeout", "20", "nc", "-l"}, udp...), "8000")...)
	srv.Stdout = got
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer stopCmd(srv)
	time.Sleep(300 * time.Millisecond)
	for range 3 {
		cmd := client.Command(append(append([]string{"nc", "-w", "1"}, udp...), ip, "8000")...)
		cmd.Stdin = strings.NewReader("ovnet-" + proto + "\n")
		_ = cmd.Run()
		time.Sleep(300 * time.Millisecond)
		if strings.TrimSpace(got.String()) != "" {
			break
		}
	}
	return strings.TrimSpace(got.String())
}

// path is a TCP connection from vm to ip:port and the name its server
// answers with ("": the connection must be dropped).
type path struct {
	vm             *devstack.VM
	ip, port, want string
}

func reaches(vm *devstack.VM, ip, port, want string) path { return path{vm, ip, port, want} }

// expectPaths waits until every open path answers, then requires every
// dropped path to fail four times in a row (a single failure could be a
// lost first packet; a drop must be steady).
func expectPaths(t *testing.T, what string, paths ...path) {
	t.Helper()
	testenv.Eventually(t, 30*time.Second, what, func() error {
		for _, c := range paths {
			if got := ask(c.vm, "tcp", c.ip, c.port); c.want != "" && got != c.want {
				return fmt.Errorf("%s -> %s:%s answered %q, want %q", c.vm.NetNS, c.ip, c.port, got, c.want)
			}
		}
		return nil
	})
	for _, c := range paths {
		for range 4 {
			if got := ask(c.vm, "tcp", c.ip, c.port); c.want == "" && got != "" {
				t.Errorf("%s: %s -> %s:%s answered %q, want it dropped", what, c.vm.NetNS, c.ip, c.port, got)
				break
			}
		}
	}
}

// ping reports whether vm gets an answer from dst within a few tries.
func ping(vm *devstack.VM, dst string) bool {
	for range 3 {
		if out, err := vm.Exec("ping", "-c", "1", "-W", "1", dst); err == nil && strings.Contains(out, "1 received") {
			return true
		}
	}
	return false
}

func mustReach(t *testing.T, vm *devstack.VM, dst string) {
	t.Helper()
	testenv.Eventually(t, 30*time.Second, vm.NetNS+" reaches "+dst, func() error {
		if !ping(vm, dst) {
			return fmt.Errorf("no answer")
		}
		return nil
	})
}

// dump prints what a person debugging the dataplane would look at.
func (e *env) dump() {
	cmds := [][]string{
		{"ovn-nbctl", "--db=" + e.s.Central.NBEndpoint(), "show"},
		// show leaves out whether a NAT row is distributed (logical_port,
		// external_mac) and which ports are up.
		{"ovn-nbctl", "--db=" + e.s.Central.NBEndpoint(), "--columns=type,external_ip,logical_ip,logical_port,external_mac,external_port_range", "list", "NAT"},
		{"ovn-sbctl", "--db=" + e.s.Central.SBEndpoint(), "show"},
		{"ovn-sbctl", "--db=" + e.s.Central.SBEndpoint(), "--columns=logical_port,chassis,up", "list", "Port_Binding"},
	}
	for _, ch := range e.s.Chassis {
		cmds = append(cmds, []string{"ovs-vsctl", "--db=" + ch.Endpoint(), "show"},
			[]string{"sh", "-c", "tail -n 20 " + ch.Dir + "/ovn-controller.log " + ch.Dir + "/vswitchd.log"})
	}
	for _, args := range cmds {
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

// stopCmd ends a command started inside a VM with SIGTERM, which timeout
// (the commands' wrapper) passes on to its child: killing timeout would
// orphan the child, and Wait would hang on the output pipe it still holds.
func stopCmd(cmd *exec.Cmd) {
	_ = cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
	}
}
