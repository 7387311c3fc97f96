package e2e

import (
	"context"
	"flag"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/config"
	"sigs.k8s.io/controller-runtime/pkg/log"

	apinetv1alpha1 "github.com/ovnet-dev/ovnet/apis/core/v1alpha1"
	"github.com/ovnet-dev/ovnet/apis/scheme"
	"github.com/ovnet-dev/ovnet/devstack"
	"github.com/ovnet-dev/ovnet/test/testenv"
)

// The suite's target: the local stack it starts itself (default), or a
// running cluster with ovnet and OVN (make kind-e2e, or make run's stack).
// Only the TestPortable tests run on a cluster; the others need powers only
// the local stack gives (restarting controllers in this process, cutting
// chassis links, capturing on the fabric) and skip.
var (
	target   = flag.String("target", "local", "local: start the local stack; cluster: use a running cluster (-kubeconfig or $KUBECONFIG, -node-exec, -external-exec, -nbctl)")
	nodeExec = flag.String("node-exec", "docker exec -i {node}", "cluster: command prefix that runs a command on a node ({node}: its name) in the network namespace where its agent creates veth pairs, passing its standard input (docker exec needs -i)")
	extExec  = flag.String("external-exec", "docker exec -i ovnet-external", "cluster: command prefix that runs a command on the external host, the provider network's upstream router, passing its standard input")
	extIP    = flag.String("external-ip", "100.64.0.1", "cluster: the external host's address on the provider network")
	nbctl    = flag.String("nbctl", "docker exec ovnet-control-plane ovn-nbctl", "cluster: command that runs ovn-nbctl against the cluster's NB database")
)

// site is where a portable test runs: API client, its namespace, the
// Nodes with agents, the external host, and how to put a VM behind a NIC.
type site struct {
	t        *testing.T
	c        client.Client
	ns       string
	nodes    []string
	external *devstack.VM
	extIP    string
	attach   func(*apinetv1alpha1.NetworkInterface) (*devstack.VM, error)
	nbctl    func(args ...string) (string, error)
}

func newSite(t *testing.T) *site {
	t.Helper()
	if *target == "local" {
		return setup(t).site()
	}
	if *target != "cluster" {
		t.Fatalf("-target=%q: want local or cluster", *target)
	}
	// The client's own warnings are not the test's output.
	log.SetLogger(logr.Discard())
	// --kubeconfig (controller-runtime's flag) or $KUBECONFIG.
	cfg, err := config.GetConfig()
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme.New()})
	if err != nil {
		t.Fatal(err)
	}
	// The external host is the machine -external-exec enters (no namespace
	// of its own on it).
	s := &site{t: t, c: c, extIP: *extIP, external: &devstack.VM{Host: strings.Fields(*extExec)}}
	var list apinetv1alpha1.NodeList
	if err := c.List(context.Background(), &list); err != nil {
		t.Fatal(err)
	}
	for _, n := range list.Items {
		s.nodes = append(s.nodes, n.Name)
	}
	if len(s.nodes) < 2 {
		t.Fatalf("cluster has %d ovnet Nodes (agents registered); want at least 2", len(s.nodes))
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "e2e-"}}
	if err := c.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Delete(context.Background(), ns) })
	s.ns = ns.Name
	s.attach = func(nic *apinetv1alpha1.NetworkInterface) (*devstack.VM, error) {
		host := strings.Fields(strings.ReplaceAll(*nodeExec, "{node}", nic.Spec.NodeRef.Name))
		return devstack.AttachNICOn(host, "", "vm-"+nic.Namespace+"-"+nic.Name, nic)
	}
	s.nbctl = func(args ...string) (string, error) {
		cmd := append(strings.Fields(*nbctl), args...)
		out, err := exec.Command(cmd[0], cmd[1:]...).CombinedOutput()
		return string(out), err
	}
	return s
}

// site is the local stack seen as a portable test's site.
func (e *env) site() *site {
	return &site{t: e.t, c: e.c, ns: e.ns, nodes: nodes, external: e.s.External, extIP: devstack.TestProvider().NextHop.String(),
		attach: e.s.Layout.AttachVM,
		nbctl: func(args ...string) (string, error) {
			out, err := exec.Command("ovn-nbctl", append([]string{"--db=" + e.s.Central.NBEndpoint()}, args...)...).CombinedOutput()
			return string(out), err
		}}
}

func (s *site) network(name string) *apinetv1alpha1.Network {
	s.t.Helper()
	nw := &apinetv1alpha1.Network{ObjectMeta: metav1.ObjectMeta{Namespace: s.ns, Name: name}}
	if err := s.c.Create(context.Background(), nw); err != nil {
		s.t.Fatal(err)
	}
	testenv.Eventually(s.t, time.Minute, name+" written to OVN", func() error {
		if err := s.c.Get(context.Background(), client.ObjectKeyFromObject(nw), nw); err != nil {
			return err
		}
		return conditionTrue(nw.Status.Conditions, apinetv1alpha1.ConditionReady)
	})
	return nw
}

// nic creates a NIC on node, waits for the controller's rows and the
// agent's Ready, and puts a VM behind it.
func (s *site) nic(name, network, node, ip string, mutate ...func(*apinetv1alpha1.NetworkInterface)) (*apinetv1alpha1.NetworkInterface, *devstack.VM) {
	s.t.Helper()
	n := &apinetv1alpha1.NetworkInterface{
		ObjectMeta: metav1.ObjectMeta{Namespace: s.ns, Name: name},
		Spec: apinetv1alpha1.NetworkInterfaceSpec{NodeRef: corev1.LocalObjectReference{Name: node},
			NetworkRef: corev1.LocalObjectReference{Name: network}, IPs: []apinetv1alpha1.IPAddr{apinetv1alpha1.IPAddr(ip)}},
	}
	for _, m := range mutate {
		m(n)
	}
	if err := s.c.Create(context.Background(), n); err != nil {
		s.t.Fatal(err)
	}
	testenv.Eventually(s.t, time.Minute, name+" attached", func() error {
		if err := s.c.Get(context.Background(), client.ObjectKeyFromObject(n), n); err != nil {
			return err
		}
		if err := conditionTrue(n.Status.Conditions, apinetv1alpha1.ConditionReady); err != nil {
			return err
		}
		if n.Status.State != apinetv1alpha1.NetworkInterfaceStateReady || n.Status.TapDevice == nil {
			return fmt.Errorf("state %q", n.Status.State)
		}
		return nil
	})
	vm, err := s.attach(n)
	if err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(vm.Remove)
	return n, vm
}

// waitFor re-reads obj until check passes.
func (s *site) waitFor(obj client.Object, what string, check func() error) {
	s.t.Helper()
	testenv.Eventually(s.t, time.Minute, what, func() error {
		if err := s.c.Get(context.Background(), client.ObjectKeyFromObject(obj), obj); err != nil {
			return err
		}
		return check()
	})
}
