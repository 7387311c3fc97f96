package nodeagent

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"sync"

	"github.com/k8snetworkplumbingwg/sriovnet"
	utilfs "github.com/k8snetworkplumbingwg/sriovnet/pkg/utils/filesystem"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/vishvananda/netlink"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	apinetv1alpha1 "github.com/ovnet-dev/ovnet/apis/core/v1alpha1"
	"github.com/ovnet-dev/ovnet/ovn"
	"github.com/ovnet-dev/ovnet/ovn/vswitchd"
)

var vfsFree = prometheus.NewGauge(prometheus.GaugeOpts{
	Name: "ovnet_agent_vfs_free", Help: "VFs this node's agent may still hand out (SR-IOV mode).",
})

func init() { metrics.Registry.MustRegister(vfsFree) }

// VFs is what the agent needs to know about the VFs of one PF: the PCI
// address of VF i and its representor netdev (switchdev mode). PFVFs
// implements it with sriovnet; tests stand veth pairs in for VFs.
type VFs interface {
	PCIAddress(vf int) (string, error)
	Representor(vf int) (string, error)
	// Uplink is the PF's uplink representor (its netdev in switchdev mode).
	Uplink() string
}

// LinkOps are the netlink operations on VFs and representors.
type LinkOps interface {
	// SetVFMAC sets VF vf's MAC through the PF's uplink.
	SetVFMAC(uplink string, vf int, mac net.HardwareAddr) error
	// SetUp sets a netdev up.
	SetUp(name string) error
}

// PFVFs are the VFs of a PF found with sriovnet (sysfs, and devlink where
// the kernel has it). sriovnet reads sysfs through its filesystem
// abstraction, which tests point at a fake sysfs.
type PFVFs struct {
	PF     string // PCI address of the PF
	uplink string
}

// NewPFVFs finds the uplink representor of the PF at pciAddress.
func NewPFVFs(pciAddress string) (*PFVFs, error) {
	uplink, err := sriovnet.GetUplinkRepresentor(pciAddress)
	if err != nil {
		return nil, fmt.Errorf("PF %s: no uplink representor (is the eswitch in switchdev mode?): %w", pciAddress, err)
	}
	return &PFVFs{PF: pciAddress, uplink: uplink}, nil
}

func (p *PFVFs) Uplink() string { return p.uplink }

// PCIAddress follows the PF's virtfn<vf> link, and checks that the VF's
// physfn points back at the PF.
func (p *PFVFs) PCIAddress(vf int) (string, error) {
	target, err := utilfs.Fs.Readlink(filepath.Join(sriovnet.PciSysDir, p.PF, fmt.Sprintf("virtfn%d", vf)))
	if err != nil {
		return "", fmt.Errorf("PF %s has no VF %d: %w", p.PF, vf, err)
	}
	pci := filepath.Base(target)
	if pf, err := sriovnet.GetPfPciFromVfPci(pci); err != nil || pf != p.PF {
		return "", fmt.Errorf("VF %s does not belong to PF %s (%s, %v)", pci, p.PF, pf, err)
	}
	return pci, nil
}

func (p *PFVFs) Representor(vf int) (string, error) {
	return sriovnet.GetVfRepresentor(p.uplink, vf)
}

// NetlinkOps are the LinkOps of the host.
type NetlinkOps struct{}

func (NetlinkOps) SetVFMAC(uplink string, vf int, mac net.HardwareAddr) error {
	l, err := netlink.LinkByName(uplink)
	if err != nil {
		return err
	}
	return netlink.LinkSetVfHardwareAddr(l, vf, mac)
}

func (NetlinkOps) SetUp(name string) error {
	l, err := netlink.LinkByName(name)
	if err != nil {
		return err
	}
	return netlink.LinkSetUp(l)
}

// SRIOV carries each NetworkInterface on a VF of one PF: the VF takes the
// NIC's MAC, its representor goes into br-int. The allocation of VFs is
// in memory and recovered from the Open_vSwitch database (the br-int
// ports ovnet owns name the representors), so an agent restart never
// hands out a VF twice.
type SRIOV struct {
	VFs VFs
	// MaxVFs: the agent uses VFs 0..MaxVFs-1.
	MaxVFs int
	Links  LinkOps
	// Plugged lists the representors in br-int that carry NICs, by NIC UID.
	Plugged func() map[string]types.UID

	mu    sync.Mutex
	byNIC map[types.UID]int
	reps  map[int]string
}

// PluggedFromOVS reads the representors of ovnet's br-int ports.
func PluggedFromOVS(ovs *ovn.Client) func() map[string]types.UID {
	return func() map[string]types.UID {
		out := map[string]types.UID{}
		for _, m := range ovs.Cache().Table(vswitchd.InterfaceTable).Rows() {
			ids := m.(*vswitchd.Interface).ExternalIDs
			if ovn.IsManaged(ids) && ids[ovn.KeyOwnerKind] == "NetworkInterface" {
				out[m.(*vswitchd.Interface).Name] = types.UID(ids[ovn.KeyOwnerUID])
			}
		}
		return out
	}
}

func (s *SRIOV) representor(vf int) (string, error) {
	if s.reps == nil {
		s.reps = map[int]string{}
	}
	if r, ok := s.reps[vf]; ok {
		return r, nil
	}
	r, err := s.VFs.Representor(vf)
	if err != nil {
		return "", err
	}
	s.reps[vf] = r
	return r, nil
}

// Attach gives nic a VF: the one it had (in memory, or plugged in br-int
// before a restart), or the lowest free one.
func (s *SRIOV) Attach(_ context.Context, nic *apinetv1alpha1.NetworkInterface) (Device, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.byNIC == nil {
		s.byNIC = map[types.UID]int{}
	}
	vf, ok := s.byNIC[nic.UID]
	if !ok {
		used := map[int]bool{}
		for _, v := range s.byNIC {
			used[v] = true
		}
		plugged := s.Plugged()
		vf = -1
		for i := range s.MaxVFs {
			rep, err := s.representor(i)
			if err != nil {
				return Device{}, &DeviceError{Reason: "VFFailed", Err: fmt.Errorf("VF %d: %w", i, err)}
			}
			if owner, in := plugged[rep]; in {
				if owner == nic.UID {
					vf = i // plugged for this NIC before a restart
					break
				}
				used[i] = true
			}
		}
		for i := 0; vf < 0 && i < s.MaxVFs; i++ {
			if !used[i] {
				vf = i
			}
		}
		if vf < 0 {
			return Device{}, &DeviceError{Reason: "NoFreeVF", Err: fmt.Errorf("all %d VFs the agent may use are in use", s.MaxVFs)}
		}
	}
	rep, err := s.representor(vf)
	if err != nil {
		return Device{}, &DeviceError{Reason: "VFFailed", Err: err}
	}
	pci, err := s.VFs.PCIAddress(vf)
	if err != nil {
		return Device{}, &DeviceError{Reason: "VFFailed", Err: err}
	}
	mac, err := net.ParseMAC(apinetv1alpha1.NetworkInterfaceMAC(nic))
	if err != nil {
		return Device{}, err
	}
	if err := s.Links.SetVFMAC(s.VFs.Uplink(), vf, mac); err != nil {
		return Device{}, &DeviceError{Reason: "VFFailed", Err: fmt.Errorf("set MAC of VF %d: %w", vf, err)}
	}
	s.byNIC[nic.UID] = vf
	vfsFree.Set(float64(s.MaxVFs - len(s.byNIC)))
	return Device{Port: rep, PCI: ParsePCIAddress(pci)}, nil
}

// Up sets the representor up (after it is in br-int).
func (s *SRIOV) Up(_ context.Context, dev Device) error { return s.Links.SetUp(dev.Port) }

// Detach frees the NIC's VF (the br-int port is removed by the caller).
func (s *SRIOV) Detach(_ context.Context, nic *apinetv1alpha1.NetworkInterface) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.byNIC, nic.UID)
	vfsFree.Set(float64(s.MaxVFs - len(s.byNIC)))
	return nil
}

// ParsePCIAddress splits "0000:3b:00.2" into domain, bus, slot, function.
func ParsePCIAddress(addr string) *apinetv1alpha1.PCIAddress {
	domain, rest, ok1 := strings.Cut(addr, ":")
	bus, rest, ok2 := strings.Cut(rest, ":")
	slot, fn, ok3 := strings.Cut(rest, ".")
	if !ok1 || !ok2 || !ok3 {
		return &apinetv1alpha1.PCIAddress{}
	}
	return &apinetv1alpha1.PCIAddress{Domain: domain, Bus: bus, Slot: slot, Function: fn}
}

// EswitchMode is the devlink eswitch mode of the PCI device ("switchdev"
// or "legacy").
func EswitchMode(pciAddress string) (string, error) {
	dev, err := netlink.DevLinkGetDeviceByName("pci", pciAddress)
	if err != nil {
		return "", fmt.Errorf("devlink device pci/%s: %w", pciAddress, err)
	}
	return dev.Attrs.Eswitch.Mode, nil
}

// CheckSwitchdev refuses a PF whose eswitch is not in switchdev mode.
func CheckSwitchdev(pciAddress string, mode func(string) (string, error)) error {
	m, err := mode(pciAddress)
	if err != nil {
		return fmt.Errorf("SR-IOV mode needs devlink on PF %s: %w", pciAddress, err)
	}
	if m != "switchdev" {
		return fmt.Errorf("SR-IOV mode needs PF %s's eswitch in switchdev mode, it is %q: run `devlink dev eswitch set pci/%s mode switchdev` (after creating the VFs)", pciAddress, m, pciAddress)
	}
	return nil
}
