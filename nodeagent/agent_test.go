package nodeagent_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	apinetv1alpha1 "github.com/ovnet-dev/ovnet/apis/core/v1alpha1"
	"github.com/ovnet-dev/ovnet/apis/scheme"
	"github.com/ovnet-dev/ovnet/nodeagent"
	"github.com/ovnet-dev/ovnet/ovn"
	"github.com/ovnet-dev/ovnet/ovn/ovntest"
	"github.com/ovnet-dev/ovnet/test/testenv"
)

// failing makes Attach of one NIC fail as a device backend would when it
// has no device left.
type failing struct {
	nodeagent.Devices
	name string
}

func (f failing) Attach(ctx context.Context, nic *apinetv1alpha1.NetworkInterface) (nodeagent.Device, error) {
	if nic.Name == f.name {
		return nodeagent.Device{}, &nodeagent.DeviceError{Reason: "NoFreeVF", Err: errors.New("all 0 VFs are in use")}
	}
	return f.Devices.Attach(ctx, nic)
}

// agentFixture is a real API server and a real Open_vSwitch database
// (ovn-controller's part, marking a port installed, is done by hand) with
// a network namespace for devices.
type agentFixture struct {
	t     *testing.T
	c     client.Client
	cfg   *rest.Config
	db    *ovntest.Server
	netns string
	env   *testenv.Env
}

func newAgentFixture(t *testing.T) *agentFixture {
	if os.Geteuid() != 0 {
		t.Fatal("the agent test needs root (network namespaces): run make test as root")
	}
	api := testenv.Start(t)
	f := &agentFixture{t: t, c: api.Client, cfg: api.Config, db: ovntest.StartServer(t, "vswitch.ovsschema"), env: api,
		netns: fmt.Sprintf("ovnet-agent-%04x", rand.IntN(1<<16))}
	f.vsctl("init")
	f.vsctl("set", "Open_vSwitch", ".", "external_ids:system-id=chassis-7")
	f.vsctl("add-br", "br-int", "--", "set", "Bridge", "br-int", "datapath_type=netdev", "fail-mode=secure")
	if out, err := exec.Command("ip", "netns", "add", f.netns).CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", f.netns).Run() })
	return f
}

func (f *agentFixture) vsctl(args ...string) string {
	f.t.Helper()
	out, err := exec.Command("ovs-vsctl", append([]string{"--db=" + f.db.Endpoint(), "--no-wait"}, args...)...).CombinedOutput()
	if err != nil {
		f.t.Fatalf("ovs-vsctl %v: %v %s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// asAgent makes the agents that startAgent runs from now on use the
// identity of a deployed agent on node-7: manifests/default's RBAC and
// own-node admission policy applied, the agent's service account with a
// token bound to node-7 (impersonated, with the node name the API server
// puts into a pod-bound token).
func (f *agentFixture) asAgent() {
	f.t.Helper()
	testenv.ApplyManifests(f.t, f.env)
	f.cfg = testenv.AsAgent(f.cfg, "node-7")
	// The policy takes a moment to be enforced after it is created.
	other := f.nic("nic-policy-probe", "node-8")
	agent, err := client.New(f.cfg, client.Options{Scheme: scheme.New()})
	if err != nil {
		f.t.Fatal(err)
	}
	testenv.Eventually(f.t, 30*time.Second, "own-node policy enforced", func() error {
		patch := client.MergeFrom(other.DeepCopy())
		o := other.DeepCopy()
		o.Status.State = apinetv1alpha1.NetworkInterfaceStateReady
		if err := agent.Status().Patch(context.Background(), o, patch); err == nil || !strings.Contains(err.Error(), "may only") {
			return fmt.Errorf("status of node-8's NIC: %v", err)
		}
		return nil
	})
	if err := f.c.Delete(context.Background(), other); err != nil {
		f.t.Fatal(err)
	}
}

// startAgent runs an agent for node-7 with devices (made from its OVS
// client) until the returned stop is called or the test ends.
func (f *agentFixture) startAgent(devices func(ovs *ovn.Client) nodeagent.Devices) (stop func()) {
	f.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ovs, err := ovn.ConnectOVS(ctx, ovn.Config{Endpoints: []string{f.db.Endpoint()}, Logger: logr.Discard()})
	if err != nil {
		f.t.Fatal(err)
	}
	skip := true
	mgr, err := ctrl.NewManager(f.cfg, ctrl.Options{Scheme: scheme.New(), Metrics: metricsserver.Options{BindAddress: "0"},
		Cache: nodeagent.CacheOptions("node-7"), Controller: config.Controller{SkipNameValidation: &skip}})
	if err != nil {
		f.t.Fatal(err)
	}
	if err := nodeagent.Setup(mgr, nodeagent.Options{NodeName: "node-7", Labels: map[string]string{apinetv1alpha1.LabelTopologyZone: "z1"},
		OVS: ovs, Devices: devices(ovs)}); err != nil {
		f.t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = mgr.Start(ctx); close(done) }()
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			cancel()
			<-done
			ovs.Close()
		}
	}
	f.t.Cleanup(stop)
	return stop
}

func (f *agentFixture) nic(name, node string) *apinetv1alpha1.NetworkInterface {
	f.t.Helper()
	n := &apinetv1alpha1.NetworkInterface{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name},
		Spec: apinetv1alpha1.NetworkInterfaceSpec{NodeRef: corev1.LocalObjectReference{Name: node},
			NetworkRef: corev1.LocalObjectReference{Name: "net"}, IPs: []apinetv1alpha1.IPAddr{"10.0.0.1"}}}
	if err := f.c.Create(context.Background(), n); err != nil {
		f.t.Fatal(err)
	}
	return n
}

// attached waits for the NIC's state and Attached reason.
func (f *agentFixture) attached(n *apinetv1alpha1.NetworkInterface, state apinetv1alpha1.NetworkInterfaceState, reason string) {
	f.t.Helper()
	testenv.Eventually(f.t, 5*time.Second, fmt.Sprintf("%s %s/%s", n.Name, state, reason), func() error {
		if err := f.c.Get(context.Background(), client.ObjectKeyFromObject(n), n); err != nil {
			return err
		}
		cond := meta.FindStatusCondition(n.Status.Conditions, nodeagent.ConditionAttached)
		if n.Status.State != state || cond == nil || cond.Reason != reason {
			return fmt.Errorf("state %q condition %+v", n.Status.State, cond)
		}
		return nil
	})
}

// TestAgent runs the agent in veth mode.
func TestAgent(t *testing.T) {
	f := newAgentFixture(t)
	ctx := context.Background()
	c, netns, vsctl := f.c, f.netns, f.vsctl
	f.startAgent(func(*ovn.Client) nodeagent.Devices {
		return failing{Devices: &nodeagent.Veth{NetNS: netns}, name: "nic-bad"}
	})
	nic, attached := f.nic, f.attached

	// The Node is registered with its chassis name and labels.
	node := &apinetv1alpha1.Node{}
	testenv.Eventually(t, 20*time.Second, "node registered", func() error {
		if err := c.Get(ctx, client.ObjectKey{Name: "node-7"}, node); err != nil {
			return err
		}
		if node.Annotations[apinetv1alpha1.AnnotationChassis] != "chassis-7" || node.Labels[apinetv1alpha1.LabelTopologyZone] != "z1" {
			return fmt.Errorf("annotations %v labels %v", node.Annotations, node.Labels)
		}
		return nil
	})

	// A NIC of this node: veth pair with the NIC's MAC on the guest end,
	// host end in br-int with the logical port as iface-id; Pending until
	// ovn-controller marks it installed, then Ready (woken by the OVS
	// update, well before the periodic re-check).
	a := nic("nic-a", "node-7")
	attached(a, apinetv1alpha1.NetworkInterfaceStatePending, "WaitingForOVN")
	host, guest := nodeagent.VethNames(a)
	if a.Status.TapDevice == nil || a.Status.TapDevice.Name != guest {
		t.Errorf("status.tapDevice = %+v, want %s", a.Status.TapDevice, guest)
	}
	if got := vsctl("list-ports", "br-int"); got != host {
		t.Errorf("br-int ports %q, want %s", got, host)
	}
	if got := vsctl("get", "Interface", host, "external_ids:iface-id", "external_ids:attached-mac"); got != fmt.Sprintf("%q\n%q", apinetv1alpha1.NetworkInterfacePortName(a), apinetv1alpha1.NetworkInterfaceMAC(a)) {
		t.Errorf("iface-id, attached-mac = %q", got)
	}
	out, err := exec.Command("ip", "-n", netns, "-o", "link", "show", guest).CombinedOutput()
	if err != nil || !strings.Contains(string(out), apinetv1alpha1.NetworkInterfaceMAC(a)) || !strings.Contains(string(out), "UP") {
		t.Errorf("guest end: %v %s (want MAC %s, up)", err, out, apinetv1alpha1.NetworkInterfaceMAC(a))
	}
	vsctl("set", "Interface", host, "external_ids:ovn-installed=true")
	attached(a, apinetv1alpha1.NetworkInterfaceStateReady, "Installed")

	// A NIC of another node is none of this agent's business.
	other := nic("nic-other", "node-8")
	time.Sleep(time.Second)
	if err := c.Get(ctx, client.ObjectKeyFromObject(other), other); err != nil || other.Status.State != "" || len(other.Finalizers) != 0 {
		t.Errorf("another node's NIC was touched: %v state %q finalizers %v", err, other.Status.State, other.Finalizers)
	}

	// A device failure is an Error with its reason and a Warning event; the
	// other NIC is undisturbed.
	bad := nic("nic-bad", "node-7")
	attached(bad, apinetv1alpha1.NetworkInterfaceStateError, "NoFreeVF")
	testenv.Eventually(t, 10*time.Second, "NoFreeVF event", func() error {
		var evs eventsv1.EventList
		if err := c.List(ctx, &evs, client.InNamespace("default")); err != nil {
			return err
		}
		for _, ev := range evs.Items {
			if ev.Regarding.Name == "nic-bad" && ev.Reason == "NoFreeVF" && ev.Type == "Warning" {
				return nil
			}
		}
		return fmt.Errorf("no event among %d", len(evs.Items))
	})
	if err := c.Get(ctx, client.ObjectKeyFromObject(a), a); err != nil || a.Status.State != apinetv1alpha1.NetworkInterfaceStateReady {
		t.Errorf("nic-a disturbed: %v %q", err, a.Status.State)
	}

	// Delete: port and veth go, then the NIC.
	if err := c.Delete(ctx, a); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 10*time.Second, "nic-a gone", func() error {
		if err := c.Get(ctx, client.ObjectKeyFromObject(a), a); !apierrors.IsNotFound(err) {
			return fmt.Errorf("still there: %v", err)
		}
		return nil
	})
	if got := vsctl("list-ports", "br-int"); got != "" {
		t.Errorf("br-int ports after delete: %q", got)
	}
	if exec.Command("ip", "-n", netns, "link", "show", host).Run() == nil {
		t.Errorf("veth %s still exists", host)
	}
}

// TestAgentRepairs: the agent heartbeats its Lease, puts back a br-int
// port or veth deleted behind its back, and on start removes the devices
// of NICs deleted while it was away. It runs as a deployed agent does
// (asAgent): with manifests/default's RBAC and admission policy, nothing
// more.
func TestAgentRepairs(t *testing.T) {
	f := newAgentFixture(t)
	f.asAgent()
	ctx := context.Background()
	c, netns, vsctl := f.c, f.netns, f.vsctl
	veth := func(*ovn.Client) nodeagent.Devices { return &nodeagent.Veth{NetNS: netns} }
	stop := f.startAgent(veth)

	lease := &coordinationv1.Lease{}
	leaseKey := client.ObjectKey{Namespace: apinetv1alpha1.NodeAgentLeaseNamespace, Name: apinetv1alpha1.NodeAgentLeaseName("node-7")}
	testenv.Eventually(t, 10*time.Second, "agent lease", func() error {
		if err := c.Get(ctx, leaseKey, lease); err != nil {
			return err
		}
		if lease.Spec.HolderIdentity == nil || *lease.Spec.HolderIdentity != "node-7" || lease.Spec.RenewTime == nil {
			return fmt.Errorf("lease spec %+v", lease.Spec)
		}
		return nil
	})
	firstRenewal := lease.Spec.RenewTime.Time

	a := f.nic("nic-a", "node-7")
	f.attached(a, apinetv1alpha1.NetworkInterfaceStatePending, "WaitingForOVN")
	host, _ := nodeagent.VethNames(a)
	linkExists := func(name string) bool { return exec.Command("ip", "-n", netns, "link", "show", name).Run() == nil }

	// Ready: no periodic re-check, so only the link event brings it back.
	vsctl("set", "Interface", host, "external_ids:ovn-installed=true")
	f.attached(a, apinetv1alpha1.NetworkInterfaceStateReady, "Installed")
	if out, err := exec.Command("ip", "-n", netns, "link", "del", host).CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	testenv.Eventually(t, 5*time.Second, "deleted veth put back and plugged", func() error {
		if !linkExists(host) {
			return fmt.Errorf("no %s", host)
		}
		if got := vsctl("list-ports", "br-int"); got != host {
			return fmt.Errorf("br-int ports %q", got)
		}
		return nil
	})

	vsctl("del-port", "br-int", host)
	testenv.Eventually(t, 10*time.Second, "deleted br-int port put back", func() error {
		if got := vsctl("list-ports", "br-int"); got != host {
			return fmt.Errorf("br-int ports %q", got)
		}
		return nil
	})
	testenv.Eventually(t, apinetv1alpha1.NodeAgentLeaseRenewal+5*time.Second, "lease renewed by the heartbeat", func() error {
		if err := c.Get(ctx, leaseKey, lease); err != nil {
			return err
		}
		if !lease.Spec.RenewTime.After(firstRenewal) {
			return fmt.Errorf("renewed at %v, first %v", lease.Spec.RenewTime, firstRenewal)
		}
		return nil
	})

	// Away, the agent cannot unplug a NIC whose finalizer the controller
	// removed (its Lease expired); back, it removes the orphan's devices.
	stop()
	if err := c.Get(ctx, client.ObjectKeyFromObject(a), a); err != nil {
		t.Fatal(err)
	}
	a.Finalizers = nil
	if err := c.Update(ctx, a); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(ctx, a); err != nil {
		t.Fatal(err)
	}
	if !linkExists(host) || vsctl("list-ports", "br-int") != host {
		t.Fatal("the orphan's devices are not there to be removed")
	}
	f.startAgent(veth)
	testenv.Eventually(t, 10*time.Second, "orphan's devices removed", func() error {
		if got := vsctl("list-ports", "br-int"); got != "" || linkExists(host) {
			return fmt.Errorf("br-int ports %q, veth there: %v", got, linkExists(host))
		}
		return nil
	})

}
