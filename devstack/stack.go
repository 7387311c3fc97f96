package devstack

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	apinetv1alpha1 "github.com/ovnet-dev/ovnet/apis/core/v1alpha1"
	"github.com/ovnet-dev/ovnet/ovn/rows"
)

// Options describe a local stack.
type Options struct {
	// RunDir holds databases, sockets, logs, kubeconfig, env.sh and
	// stack.json. Keep it short: unix socket paths are limited to 108 bytes.
	RunDir string
	// Nodes name the chassis, one Node each; every one may host gateways.
	Nodes []string
	// Provider is the provider network the external host sits on.
	Provider rows.Provider
}

// Layout is where a running stack's pieces are; it is written to
// RunDir/stack.json for `ovnet-dev vm attach` and the tests.
type Layout struct {
	// Prefix starts the name of every network namespace of the stack.
	Prefix string `json:"prefix"`
	// Chassis maps a Node name to its chassis's network namespace.
	Chassis map[string]string `json:"chassis"`
	// OVSDB maps a Node name to its Open_vSwitch database endpoint.
	OVSDB map[string]string `json:"ovsdb"`
	// External is the external host's network namespace.
	External string `json:"external"`
	Fabric   string `json:"fabric"`
}

// Stack is the local stack: the API server with the CRDs, OVN central, the
// chassis on their fabric, and the external host.
type Stack struct {
	RunDir   string
	Layout   Layout
	API      *Env
	Central  *Central
	Fabric   *Fabric
	Chassis  []*Chassis
	External *VM
	// Provider is the provider network of Options.
	Provider rows.Provider
	daemons  []*Daemon // ovnet-controller and ovnet-agents started from binaries
}

// Up starts the stack and writes RunDir/env.sh, which sets KUBECONFIG,
// OVN_NB_DB and OVN_SB_DB for kubectl and ovn-nbctl. What a stack that
// died in the same RunDir left behind is removed first.
func Up(opts Options) (*Stack, error) {
	if err := os.MkdirAll(opts.RunDir, 0o755); err != nil {
		return nil, err
	}
	sum := sha256.Sum256([]byte(opts.RunDir))
	s := &Stack{RunDir: opts.RunDir, Provider: opts.Provider, Layout: Layout{
		Prefix: "ovnet-" + hex.EncodeToString(sum[:])[:6], Chassis: map[string]string{}, OVSDB: map[string]string{},
	}}
	RemoveNamespaces(s.Layout.Prefix)
	EndLeftovers(opts.RunDir)
	fail := func(err error) (*Stack, error) { s.Down(); return nil, err }
	api, err := StartEnv()
	if err != nil {
		return nil, err
	}
	s.API = api
	if err := recordAPIProcesses(opts.RunDir); err != nil {
		return fail(err)
	}
	if s.Central, err = StartCentral(filepath.Join(opts.RunDir, "ovn")); err != nil {
		return fail(err)
	}
	s.Layout.Fabric = s.Layout.Prefix + "-fabric"
	if s.Fabric, err = StartFabric(s.Layout.Fabric); err != nil {
		return fail(err)
	}
	for i, node := range opts.Nodes {
		ch, err := StartChassis(ChassisOptions{
			Name: node, NetNS: fmt.Sprintf("%s-n%d", s.Layout.Prefix, i+1), Dir: filepath.Join(opts.RunDir, fmt.Sprintf("n%d", i+1)),
			Index: i + 1, PhysicalNetwork: opts.Provider.PhysicalNetwork,
		}, s.Central, s.Fabric)
		if err != nil {
			return fail(err)
		}
		s.Chassis = append(s.Chassis, ch)
		s.Layout.Chassis[node] = ch.NetNS
		s.Layout.OVSDB[node] = ch.Endpoint()
	}
	s.Layout.External = s.Layout.Prefix + "-ext"
	transitBits := opts.Provider.TransitPrefix.Bits()
	var routes []string
	for _, p := range opts.Provider.PublicPrefixes {
		routes = append(routes, p.String())
	}
	addrs := []string{netip.PrefixFrom(opts.Provider.NextHop, transitBits).String()}
	if opts.Provider.IPv6() {
		addrs = append(addrs, netip.PrefixFrom(opts.Provider.NextHop6, opts.Provider.TransitPrefix6.Bits()).String())
	}
	if s.External, err = StartExternalHost(s.Fabric, s.Layout.External, addrs, routes); err != nil {
		return fail(err)
	}
	if err := s.writeFiles(); err != nil {
		return fail(err)
	}
	return s, nil
}

func (s *Stack) writeFiles() error {
	kubeconfig := filepath.Join(s.RunDir, "kubeconfig")
	if err := WriteKubeconfig(s.API.Config, kubeconfig); err != nil {
		return err
	}
	env := strings.Join([]string{
		"# source this file: kubectl and ovn-nbctl then talk to the local ovnet stack",
		fmt.Sprintf("export KUBECONFIG=%s", kubeconfig),
		fmt.Sprintf("export OVN_NB_DB=%s", s.Central.NBEndpoint()),
		fmt.Sprintf("export OVN_SB_DB=%s", s.Central.SBEndpoint()),
		fmt.Sprintf("export PATH=%s:$PATH", Assets()),
		fmt.Sprintf("# the external host on the provider network: ip netns exec $OVNET_EXTERNAL ping ..."),
		fmt.Sprintf("export OVNET_EXTERNAL=%s", s.Layout.External),
		"",
	}, "\n")
	if err := os.WriteFile(filepath.Join(s.RunDir, "env.sh"), []byte(env), 0o644); err != nil {
		return err
	}
	b, err := json.MarshalIndent(s.Layout, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(s.RunDir, "stack.json"), b, 0o644)
}

// ReadLayout reads the layout of the stack running in runDir.
func ReadLayout(runDir string) (Layout, error) {
	var l Layout
	b, err := os.ReadFile(filepath.Join(runDir, "stack.json"))
	if err != nil {
		return l, fmt.Errorf("no stack in %s (make run starts one): %w", runDir, err)
	}
	return l, json.Unmarshal(b, &l)
}

// AttachVM puts a VM namespace behind nic, whose agent has reported its tap
// device: the namespace is <prefix>-vm-<namespace>-<name>.
func (l Layout) AttachVM(nic *apinetv1alpha1.NetworkInterface) (*VM, error) {
	chassisNS, ok := l.Chassis[nic.Spec.NodeRef.Name]
	if !ok {
		return nil, fmt.Errorf("node %q is not a chassis of this stack", nic.Spec.NodeRef.Name)
	}
	return AttachNICOn(nil, chassisNS, l.VMNamespace(nic.Namespace, nic.Name), nic)
}

// AttachDHCPVM puts a VM namespace behind nic that configures itself by
// DHCP (AttachDHCPVMOn): <prefix>-vm-<namespace>-<name>, as AttachVM.
func (l Layout) AttachDHCPVM(nic *apinetv1alpha1.NetworkInterface) (*VM, error) {
	chassisNS, ok := l.Chassis[nic.Spec.NodeRef.Name]
	if !ok {
		return nil, fmt.Errorf("node %q is not a chassis of this stack", nic.Spec.NodeRef.Name)
	}
	if nic.Status.TapDevice == nil || nic.Status.TapDevice.Name == "" {
		return nil, fmt.Errorf("%s/%s has no tap device yet (state %q): is its node's agent running?", nic.Namespace, nic.Name, nic.Status.State)
	}
	var v4, v6 bool
	for _, ip := range nic.Spec.IPs {
		f := apinetv1alpha1.FamilyOf(ip)
		v4, v6 = v4 || f == apinetv1alpha1.IPv4, v6 || f == apinetv1alpha1.IPv6
	}
	return AttachDHCPVMOn(nil, chassisNS, nic.Status.TapDevice.Name, l.VMNamespace(nic.Namespace, nic.Name), v4, v6)
}

// AttachNICOn puts VM namespace vmNS behind nic's tap device (AttachVMOn
// with the NIC's tap device and IPs).
func AttachNICOn(host []string, tapNS, vmNS string, nic *apinetv1alpha1.NetworkInterface) (*VM, error) {
	if nic.Status.TapDevice == nil || nic.Status.TapDevice.Name == "" {
		return nil, fmt.Errorf("%s/%s has no tap device yet (state %q): is its node's agent running?", nic.Namespace, nic.Name, nic.Status.State)
	}
	ips := make([]string, len(nic.Spec.IPs))
	for i, ip := range nic.Spec.IPs {
		ips[i] = string(ip)
	}
	return AttachVMOn(host, tapNS, nic.Status.TapDevice.Name, vmNS, ips)
}

// VMNamespace is the network namespace of the VM behind a NIC.
func (l Layout) VMNamespace(namespace, name string) string {
	return l.Prefix + "-vm-" + namespace + "-" + name
}

// Down stops everything the stack started and removes its namespaces,
// VMs included.
func (s *Stack) Down() {
	for i := len(s.daemons) - 1; i >= 0; i-- {
		s.daemons[i].Stop()
	}
	s.daemons = nil
	for _, ch := range s.Chassis {
		ch.Stop()
	}
	s.Chassis = nil
	RemoveNamespaces(s.Layout.Prefix)
	if s.Central != nil {
		s.Central.Stop()
	}
	if s.API != nil {
		s.API.Stop()
	}
	// env.sh and stack.json describe a running stack only.
	_ = os.Remove(filepath.Join(s.RunDir, "env.sh"))
	_ = os.Remove(filepath.Join(s.RunDir, "stack.json"))
	_ = os.Remove(filepath.Join(s.RunDir, apiProcessesFile))
}

// RemoveNamespaces deletes every network namespace whose name starts with
// prefix + "-" (and only those).
func RemoveNamespaces(prefix string) {
	entries, _ := os.ReadDir("/run/netns")
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), prefix+"-") {
			_ = run("ip", "netns", "del", e.Name())
		}
	}
}
