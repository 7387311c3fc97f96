package nodeagent_test

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	apinetv1alpha1 "github.com/ovnet-dev/ovnet/apis/core/v1alpha1"
	"github.com/ovnet-dev/ovnet/nodeagent"
	"github.com/ovnet-dev/ovnet/ovn"
	"github.com/ovnet-dev/ovnet/test/testenv"
)

// vethVFs stands veth pairs in for VF/representor pairs: "rep<i>" is the
// representor (in br-int), "vf<i>" the VF (the guest's device).
type vethVFs struct{ netns string }

func (v vethVFs) PCIAddress(vf int) (string, error)  { return fmt.Sprintf("0000:99:00.%d", vf), nil }
func (v vethVFs) Representor(vf int) (string, error) { return fmt.Sprintf("rep%d", vf), nil }
func (v vethVFs) Uplink() string                     { return "uplink" }

// vethLinks sets the "VF" end's MAC directly (a veth has no VFs) and the
// representor up, in the test namespace.
type vethLinks struct{ netns string }

func (v vethLinks) handle() (*netlink.Handle, error) {
	ns, err := netns.GetFromName(v.netns)
	if err != nil {
		return nil, err
	}
	defer ns.Close()
	return netlink.NewHandleAt(ns)
}

func (v vethLinks) SetVFMAC(_ string, vf int, mac net.HardwareAddr) error {
	h, err := v.handle()
	if err != nil {
		return err
	}
	defer h.Close()
	l, err := h.LinkByName(fmt.Sprintf("vf%d", vf))
	if err != nil {
		return err
	}
	return h.LinkSetHardwareAddr(l, mac)
}

func (v vethLinks) SetUp(name string) error {
	h, err := v.handle()
	if err != nil {
		return err
	}
	defer h.Close()
	l, err := h.LinkByName(name)
	if err != nil {
		return err
	}
	return h.LinkSetUp(l)
}

// TestSRIOVAgent runs the agent in SR-IOV mode against a real API server
// and Open_vSwitch database, with two veth pairs as VFs: the representor
// goes into br-int with the NIC's iface-id, the VF takes the NIC's MAC,
// the status carries the VF's PCI address and the state; hardware offload
// is switched on; a third NIC gets NoFreeVF and its VF once one frees; a
// restarted agent keeps the VFs it had handed out.
func TestSRIOVAgent(t *testing.T) {
	f := newAgentFixture(t)
	ctx := context.Background()
	for i := range 2 {
		if out, err := exec.Command("ip", "-n", f.netns, "link", "add", fmt.Sprintf("rep%d", i), "type", "veth", "peer", "name", fmt.Sprintf("vf%d", i)).CombinedOutput(); err != nil {
			t.Fatalf("%v %s", err, out)
		}
	}
	sriov := func(ovs *ovn.Client) nodeagent.Devices {
		return &nodeagent.SRIOV{VFs: vethVFs{f.netns}, MaxVFs: 2, Links: vethLinks{f.netns}, Plugged: nodeagent.PluggedFromOVS(ovs)}
	}
	stop := f.startAgent(sriov)

	// Hardware offload, as ovnet-agent --hw-offload sets it.
	ovs, err := ovn.ConnectOVS(ctx, ovn.Config{Endpoints: []string{f.db.Endpoint()}})
	if err != nil {
		t.Fatal(err)
	}
	defer ovs.Close()
	if changed, err := nodeagent.EnableHWOffload(ctx, ovs); err != nil || !changed {
		t.Errorf("EnableHWOffload: changed %v, %v", changed, err)
	}
	if got := f.vsctl("get", "Open_vSwitch", ".", "other_config:hw-offload"); got != `"true"` {
		t.Errorf("other_config:hw-offload = %s", got)
	}
	testenv.Eventually(t, 5*time.Second, "offload seen in the cache", func() error {
		if changed, err := nodeagent.EnableHWOffload(ctx, ovs); err != nil || changed {
			return fmt.Errorf("second EnableHWOffload: changed %v, %v", changed, err)
		}
		return nil
	})

	a := f.nic("nic-a", "node-7")
	f.attached(a, apinetv1alpha1.NetworkInterfaceStatePending, "WaitingForOVN")
	if a.Status.PCIAddress == nil || *a.Status.PCIAddress != (apinetv1alpha1.PCIAddress{Domain: "0000", Bus: "99", Slot: "00", Function: "0"}) || a.Status.TapDevice != nil {
		t.Errorf("status: pciAddress %+v tapDevice %+v", a.Status.PCIAddress, a.Status.TapDevice)
	}
	if got := f.vsctl("get", "Interface", "rep0", "external_ids:iface-id", "external_ids:attached-mac"); got != fmt.Sprintf("%q\n%q", apinetv1alpha1.NetworkInterfacePortName(a), apinetv1alpha1.NetworkInterfaceMAC(a)) {
		t.Errorf("rep0 iface-id, attached-mac = %q", got)
	}
	out, _ := exec.Command("ip", "-n", f.netns, "-o", "link", "show").CombinedOutput()
	for _, want := range []string{"vf0@rep0: <BROADCAST,MULTICAST> mtu 1500 qdisc noop state DOWN mode DEFAULT group default qlen 1000\\    link/ether " + apinetv1alpha1.NetworkInterfaceMAC(a)} {
		if !strings.Contains(string(out), want) {
			t.Errorf("links lack %q:\n%s", want, out)
		}
	}
	if up := strings.Contains(string(out), "rep0@vf0: <") && strings.Contains(strings.SplitN(strings.SplitN(string(out), "rep0@vf0: <", 2)[1], ">", 2)[0], "UP"); !up {
		t.Errorf("representor rep0 not up:\n%s", out)
	}
	f.vsctl("set", "Interface", "rep0", "external_ids:ovn-installed=true")
	f.attached(a, apinetv1alpha1.NetworkInterfaceStateReady, "Installed")

	b := f.nic("nic-b", "node-7")
	f.attached(b, apinetv1alpha1.NetworkInterfaceStatePending, "WaitingForOVN")
	c := f.nic("nic-c", "node-7")
	f.attached(c, apinetv1alpha1.NetworkInterfaceStateError, "NoFreeVF")

	// Restart: the new agent reads the VFs in use from br-int; a is kept
	// on rep0, b on rep1, c still waits.
	stop()
	f.startAgent(sriov)
	time.Sleep(2 * time.Second)
	if got := f.vsctl("list-ports", "br-int"); got != "rep0\nrep1" {
		t.Errorf("br-int ports after restart: %q", got)
	}
	f.attached(c, apinetv1alpha1.NetworkInterfaceStateError, "NoFreeVF")
	if err := f.c.Get(ctx, client.ObjectKeyFromObject(b), b); err != nil || b.Status.PCIAddress == nil || b.Status.PCIAddress.Function != "1" {
		t.Errorf("b after restart: %v %+v", err, b.Status.PCIAddress)
	}

	// a goes: its VF is released and c gets it.
	if err := f.c.Delete(ctx, a); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 30*time.Second, "c on the freed VF", func() error {
		if err := f.c.Get(ctx, client.ObjectKeyFromObject(a), a); !apierrors.IsNotFound(err) {
			return fmt.Errorf("a still there")
		}
		if err := f.c.Get(ctx, client.ObjectKeyFromObject(c), c); err != nil {
			return err
		}
		if c.Status.PCIAddress == nil || c.Status.PCIAddress.Function != "0" || c.Status.State != apinetv1alpha1.NetworkInterfaceStatePending {
			return fmt.Errorf("c: %q %+v", c.Status.State, c.Status.PCIAddress)
		}
		return nil
	})
	if got := f.vsctl("get", "Interface", "rep0", "external_ids:iface-id"); got != fmt.Sprintf("%q", apinetv1alpha1.NetworkInterfacePortName(c)) {
		t.Errorf("rep0 now carries %s", got)
	}
}
