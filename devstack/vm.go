package devstack

import (
	"fmt"
	"os/exec"
	"slices"
	"strings"
)

// VM is a network namespace standing in for a guest behind a NIC, or for
// the external host on the provider network.
type VM struct {
	// NetNS is the VM's network namespace; empty: Host itself is the VM.
	NetNS string
	// Host is the command prefix that enters the machine the namespace
	// lives on (for a kind node: docker exec <node>); empty for this one.
	Host []string
}

// Command builds a command that runs inside the VM.
func (vm *VM) Command(args ...string) *exec.Cmd {
	full := slices.Clone(vm.Host)
	if vm.NetNS != "" {
		full = append(full, "ip", "netns", "exec", vm.NetNS)
	}
	full = append(full, args...)
	return exec.Command(full[0], full[1:]...)
}

// Exec runs a command inside the VM and returns its output.
func (vm *VM) Exec(args ...string) (string, error) {
	out, err := vm.Command(args...).CombinedOutput()
	return string(out), err
}

// Remove deletes the VM's namespace (and with it its veth pair).
func (vm *VM) Remove() {
	if vm.NetNS != "" {
		_ = run(append(slices.Clone(vm.Host), "ip", "netns", "del", vm.NetNS)...)
	}
}

// plugSteps create namespace vmNS and move tap there as eth0, up.
func plugSteps(tapNS, tap, vmNS string) [][]string {
	move := []string{"ip", "link", "set", tap, "netns", vmNS}
	if tapNS != "" {
		move = []string{"ip", "-n", tapNS, "link", "set", tap, "netns", vmNS}
	}
	return [][]string{
		{"ip", "netns", "add", vmNS},
		move,
		{"ip", "-n", vmNS, "link", "set", "lo", "up"},
		{"ip", "-n", vmNS, "link", "set", tap, "name", "eth0"},
		{"ip", "-n", vmNS, "link", "set", "eth0", "up"},
		// The userspace datapath does not fill in the checksums a veth offloads.
		{"ip", "netns", "exec", vmNS, "ethtool", "-K", "eth0", "tx", "off"},
	}
}

// AttachVMOn creates namespace vmNS on the machine host enters (nil: this
// one; for a kind node: docker exec <node>), moves tap there from
// namespace tapNS of that machine (empty: its own) as eth0, with each of
// ips as a host address (/32, /128) and the default routes through the
// Network's link-local gateways 169.254.0.1 and fe80::1, as a VM's DHCP or
// cloud-init would configure it.
func AttachVMOn(host []string, tapNS, tap, vmNS string, ips []string) (*VM, error) {
	steps := plugSteps(tapNS, tap, vmNS)
	var v4, v6 bool
	for _, ip := range ips {
		if strings.Contains(ip, ":") {
			v6 = true
			// nodad: the address is the NIC's own; waiting for duplicate
			// detection only delays the guest.
			steps = append(steps, []string{"ip", "-n", vmNS, "addr", "add", ip + "/128", "dev", "eth0", "nodad"})
		} else {
			v4 = true
			steps = append(steps, []string{"ip", "-n", vmNS, "addr", "add", ip + "/32", "dev", "eth0"})
		}
	}
	if v4 {
		steps = append(steps,
			[]string{"ip", "-n", vmNS, "route", "add", "169.254.0.1", "dev", "eth0", "scope", "link"},
			[]string{"ip", "-n", vmNS, "route", "add", "default", "via", "169.254.0.1", "dev", "eth0", "onlink"},
		)
	}
	if v6 {
		steps = append(steps, []string{"ip", "-n", vmNS, "-6", "route", "add", "default", "via", "fe80::1", "dev", "eth0"})
	}
	for i := range steps {
		steps[i] = append(slices.Clone(host), steps[i]...)
	}
	if err := runAll(steps); err != nil {
		_ = run(append(slices.Clone(host), "ip", "netns", "del", vmNS)...)
		return nil, fmt.Errorf("attach VM %s to %s: %w", vmNS, tap, err)
	}
	return &VM{NetNS: vmNS, Host: host}, nil
}

// dhcpScript is the guest's DHCP client script (busybox udhcpc calls it
// with the lease in its environment): it configures eth0 from the answer
// alone — address and mask, MTU, the classless static routes (a gateway
// 0.0.0.0 is on-link) — and keeps the lease's variables in the VM's
// lease file, as a cloud image's dhclient-script would.
const dhcpScript = `#!/bin/sh
[ "$1" = bound ] || [ "$1" = renew ] || exit 0
env | grep -E '^(ip|mask|router|staticroutes|mtu|hostname|dns|serverid|lease)=' > "$LEASE_FILE"
ip addr flush dev "$interface"
ip addr add "$ip/$mask" dev "$interface"
[ -n "$mtu" ] && ip link set "$interface" mtu "$mtu"
set -- $staticroutes
while [ $# -ge 2 ]; do
  if [ "$2" = 0.0.0.0 ]; then ip route replace "$1" dev "$interface" scope link
  else ip route replace "$1" via "$2" dev "$interface" onlink; fi
  shift 2
done
exit 0
`

// AttachDHCPVMOn is AttachVMOn for a guest that configures itself: the VM
// gets the tap as eth0, up, and only runs a DHCP client (busybox udhcpc)
// that takes address, routes and MTU from OVN's answer. The lease's
// variables are in the VM's lease file (LeaseFile).
func AttachDHCPVMOn(host []string, tapNS, tap, vmNS string) (*VM, error) {
	script := LeaseFile(vmNS) + ".sh"
	steps := append(plugSteps(tapNS, tap, vmNS),
		[]string{"sh", "-c", "cat > " + script + " && chmod +x " + script},
		[]string{"env", "LEASE_FILE=" + LeaseFile(vmNS), "ip", "netns", "exec", vmNS, "busybox", "udhcpc", "-i", "eth0", "-n", "-q", "-t", "10", "-T", "1", "-s", script},
	)
	for i := range steps {
		steps[i] = append(slices.Clone(host), steps[i]...)
	}
	for i, step := range steps {
		cmd := exec.Command(step[0], step[1:]...)
		if i == len(steps)-2 {
			cmd.Stdin = strings.NewReader(dhcpScript)
		}
		if out, err := cmd.CombinedOutput(); err != nil {
			_ = run(append(slices.Clone(host), "ip", "netns", "del", vmNS)...)
			return nil, fmt.Errorf("attach DHCP VM %s to %s: %v: %v\n%s", vmNS, tap, step, err, out)
		}
	}
	return &VM{NetNS: vmNS, Host: host}, nil
}

// LeaseFile is where a DHCP VM's client keeps its lease's variables.
func LeaseFile(vmNS string) string { return "/tmp/" + vmNS + ".lease" }

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
