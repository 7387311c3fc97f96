package stack

import (
	"fmt"
	"os/exec"
)

// VM is a network namespace standing in for a guest behind a NIC, or for
// the external host on the provider network.
type VM struct {
	NetNS string
}

// Exec runs a command inside the VM and returns its output.
func (vm *VM) Exec(args ...string) (string, error) {
	out, err := exec.Command("ip", append([]string{"netns", "exec", vm.NetNS}, args...)...).CombinedOutput()
	return string(out), err
}

// Remove deletes the VM's namespace (and with it its veth pair).
func (vm *VM) Remove() { _ = run("ip", "netns", "del", vm.NetNS) }

// AttachVM creates namespace vmNS and moves the tap device tap (the guest
// end of a NIC's veth pair, in namespace chassisNS where the agent created
// it) into it as eth0, with each of ips as a /32 and the routes through
// the Network's link-local gateway 169.254.0.1, as a VM's DHCP or
// cloud-init would configure it.
func AttachVM(chassisNS, tap, vmNS string, ips []string) (*VM, error) {
	steps := [][]string{
		{"ip", "netns", "add", vmNS},
		{"ip", "-n", chassisNS, "link", "set", tap, "netns", vmNS},
		{"ip", "-n", vmNS, "link", "set", "lo", "up"},
		{"ip", "-n", vmNS, "link", "set", tap, "name", "eth0"},
		{"ip", "-n", vmNS, "link", "set", "eth0", "up"},
	}
	for _, ip := range ips {
		steps = append(steps, []string{"ip", "-n", vmNS, "addr", "add", ip + "/32", "dev", "eth0"})
	}
	steps = append(steps,
		[]string{"ip", "-n", vmNS, "route", "add", "169.254.0.1", "dev", "eth0", "scope", "link"},
		[]string{"ip", "-n", vmNS, "route", "add", "default", "via", "169.254.0.1", "dev", "eth0", "onlink"},
		// The userspace datapath does not fill in the checksums a veth offloads.
		[]string{"ip", "netns", "exec", vmNS, "ethtool", "-K", "eth0", "tx", "off"},
	)
	if err := runAll(steps); err != nil {
		_ = run("ip", "netns", "del", vmNS)
		return nil, fmt.Errorf("attach VM %s to %s: %w", vmNS, tap, err)
	}
	return &VM{NetNS: vmNS}, nil
}

// StartExternalHost creates the external host: namespace netns on the
// fabric's provider bridge with addrs (CIDR) on eth0, acting as the
// upstream router (forwarding on); routes are extra on-link prefixes
// (the public prefixes, whose addresses OVN answers ARP for).
func StartExternalHost(fabric *Fabric, netns string, addrs, routes []string) (*VM, error) {
	if err := run("ip", "netns", "add", netns); err != nil {
		return nil, err
	}
	steps := [][]string{{"ip", "-n", netns, "link", "set", "lo", "up"}}
	if err := runAll(steps); err != nil {
		_ = run("ip", "netns", "del", netns)
		return nil, err
	}
	if err := fabric.connect(netns, "eth0", "pv", "pv-ext", "1500"); err != nil {
		_ = run("ip", "netns", "del", netns)
		return nil, err
	}
	steps = [][]string{
		{"ip", "netns", "exec", netns, "ethtool", "-K", "eth0", "tx", "off"},
		{"ip", "netns", "exec", netns, "sysctl", "-qw", "net.ipv4.ip_forward=1"},
		{"ip", "netns", "exec", netns, "sysctl", "-qw", "net.ipv4.conf.all.send_redirects=0"},
	}
	for _, a := range addrs {
		steps = append(steps, []string{"ip", "-n", netns, "addr", "add", a, "dev", "eth0"})
	}
	for _, r := range routes {
		steps = append(steps, []string{"ip", "-n", netns, "route", "add", r, "dev", "eth0"})
	}
	if err := runAll(steps); err != nil {
		_ = run("ip", "netns", "del", netns)
		return nil, err
	}
	return &VM{NetNS: netns}, nil
}
