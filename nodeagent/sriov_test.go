package nodeagent_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"

	utilfs "github.com/k8snetworkplumbingwg/sriovnet/pkg/utils/filesystem"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	apinetv1alpha1 "github.com/ovnet-dev/ovnet/apis/core/v1alpha1"
	"github.com/ovnet-dev/ovnet/nodeagent"
)

// fakeSysfs lays out, on sriovnet's fake filesystem, a PF 0000:3b:00.0
// in switchdev mode (uplink representor p0) with vfs VFs 0000:3b:00.<2+i>
// and their representors pf0vf<i>, as the kernel shows them in sysfs.
func fakeSysfs(t *testing.T, vfs int) {
	t.Helper()
	fs, teardown, err := utilfs.NewFakeFs(filepath.Join(t.TempDir(), "sysfs"))
	if err != nil {
		t.Fatal(err)
	}
	saved := utilfs.Fs
	utilfs.Fs = fs
	t.Cleanup(func() { utilfs.Fs = saved; teardown() })
	pci, net := "/sys/bus/pci/devices", "/sys/class/net"
	pf := "0000:3b:00.0"
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	file := func(path, content string) {
		t.Helper()
		must(fs.MkdirAll(filepath.Dir(path), 0o755))
		must(fs.WriteFile(path, []byte(content), 0o644))
	}
	netdev := func(name, portName string) {
		file(filepath.Join(net, name, "phys_switch_id"), "c2cfc60003a1420c\n")
		file(filepath.Join(net, name, "phys_port_name"), portName+"\n")
		must(fs.MkdirAll(filepath.Join(pci, pf, "net", name), 0o755))
	}
	netdev("p0", "p0")
	must(fs.Symlink(filepath.Join(pci, pf), filepath.Join(net, "p0", "device")))
	for i := range vfs {
		vf := fmt.Sprintf("0000:3b:00.%d", 2+i)
		must(fs.MkdirAll(filepath.Join(pci, vf), 0o755))
		must(fs.Symlink(filepath.Join(pci, vf), filepath.Join(pci, pf, fmt.Sprintf("virtfn%d", i))))
		must(fs.Symlink(filepath.Join(pci, pf), filepath.Join(pci, vf, "physfn")))
		netdev(fmt.Sprintf("pf0vf%d", i), fmt.Sprintf("pf0vf%d", i))
	}
}

// recordedLinks records what the agent asks of netlink.
type recordedLinks struct{ calls []string }

func (r *recordedLinks) SetVFMAC(uplink string, vf int, mac net.HardwareAddr) error {
	r.calls = append(r.calls, fmt.Sprintf("vf-mac %s %d %s", uplink, vf, mac))
	return nil
}
func (r *recordedLinks) SetUp(name string) error { r.calls = append(r.calls, "up "+name); return nil }

func sriovNIC(name string) *apinetv1alpha1.NetworkInterface {
	return &apinetv1alpha1.NetworkInterface{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name, UID: types.UID("uid-" + name)}}
}

// TestSRIOVOnFakeSysfs: VFs are found with sriovnet on a fake sysfs; each
// NIC gets its own VF (MAC set through the uplink, PCI address reported);
// when the VFs run out the NIC gets NoFreeVF; a freed VF is reused.
func TestSRIOVOnFakeSysfs(t *testing.T) {
	fakeSysfs(t, 3)
	vfs, err := nodeagent.NewPFVFs("0000:3b:00.0")
	if err != nil {
		t.Fatal(err)
	}
	if vfs.Uplink() != "p0" {
		t.Errorf("uplink %q, want p0", vfs.Uplink())
	}
	links := &recordedLinks{}
	s := &nodeagent.SRIOV{VFs: vfs, MaxVFs: 2, Links: links, Plugged: func() map[string]types.UID { return nil }}
	ctx := context.Background()
	a, b, c := sriovNIC("a"), sriovNIC("b"), sriovNIC("c")
	devA, err := s.Attach(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	if devA.Port != "pf0vf0" || *devA.PCI != (apinetv1alpha1.PCIAddress{Domain: "0000", Bus: "3b", Slot: "00", Function: "2"}) {
		t.Errorf("a: %+v %+v", devA, devA.PCI)
	}
	if again, _ := s.Attach(ctx, a); again.Port != "pf0vf0" {
		t.Errorf("a again on %s", again.Port)
	}
	devB, err := s.Attach(ctx, b)
	if err != nil || devB.Port != "pf0vf1" || devB.PCI.Function != "3" {
		t.Fatalf("b: %+v %v", devB, err)
	}
	if got := strings.Join(links.calls, "; "); got != "vf-mac p0 0 "+apinetv1alpha1.NetworkInterfaceMAC(a)+"; vf-mac p0 0 "+apinetv1alpha1.NetworkInterfaceMAC(a)+"; vf-mac p0 1 "+apinetv1alpha1.NetworkInterfaceMAC(b) {
		t.Errorf("netlink calls: %s", got)
	}
	// MaxVFs is 2 (the PF has 3): c waits with NoFreeVF.
	_, err = s.Attach(ctx, c)
	var de *nodeagent.DeviceError
	if !errors.As(err, &de) || de.Reason != "NoFreeVF" {
		t.Fatalf("c: %v, want NoFreeVF", err)
	}
	if err := s.Detach(ctx, a); err != nil {
		t.Fatal(err)
	}
	if devC, err := s.Attach(ctx, c); err != nil || devC.Port != "pf0vf0" {
		t.Errorf("c after a left: %+v %v", devC, err)
	}
}

// TestSRIOVRestart: a new agent learns from br-int which representors carry
// which NICs: a NIC keeps its VF, and a new NIC never gets a VF in use.
func TestSRIOVRestart(t *testing.T) {
	fakeSysfs(t, 3)
	vfs, err := nodeagent.NewPFVFs("0000:3b:00.0")
	if err != nil {
		t.Fatal(err)
	}
	plugged := map[string]types.UID{"pf0vf0": "uid-b", "pf0vf2": "uid-x"}
	s := &nodeagent.SRIOV{VFs: vfs, MaxVFs: 3, Links: &recordedLinks{}, Plugged: func() map[string]types.UID { return plugged }}
	ctx := context.Background()
	devC, err := s.Attach(ctx, sriovNIC("c"))
	if err != nil || devC.Port != "pf0vf1" {
		t.Errorf("new NIC on %+v (%v), want the only free VF pf0vf1", devC, err)
	}
	devB, err := s.Attach(ctx, sriovNIC("b"))
	if err != nil || devB.Port != "pf0vf0" {
		t.Errorf("b on %+v (%v), want its own pf0vf0", devB, err)
	}
	if _, err := s.Attach(ctx, sriovNIC("d")); err == nil {
		t.Error("d got a VF although all three are in use")
	}
}

func TestCheckSwitchdev(t *testing.T) {
	if err := nodeagent.CheckSwitchdev("0000:3b:00.0", func(string) (string, error) { return "switchdev", nil }); err != nil {
		t.Errorf("switchdev refused: %v", err)
	}
	err := nodeagent.CheckSwitchdev("0000:3b:00.0", func(string) (string, error) { return "legacy", nil })
	if err == nil || !strings.Contains(err.Error(), `it is "legacy"`) || !strings.Contains(err.Error(), "devlink dev eswitch set pci/0000:3b:00.0 mode switchdev") {
		t.Errorf("legacy: %v", err)
	}
}
