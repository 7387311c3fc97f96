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
		// The VM's interfaces skip duplicate address detection: its
		// addresses are its own, and a DHCPv6 client needs a usable
		// link-local address at once.
		{"ip", "netns", "exec", vmNS, "sysctl", "-qw", "net.ipv6.conf.default.accept_dad=0"},
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
// ips as a host address (/32, /128), 169.254.0.0/16 on-link and the
// default routes through the Network's link-local gateways 169.254.0.1 and
// fe80::1, as a VM's DHCP (ovn/rows/networkinterface.go) or cloud-init
// would configure it.
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
			[]string{"ip", "-n", vmNS, "route", "add", "169.254.0.0/16", "dev", "eth0", "scope", "link"},
			[]string{"ip", "-n", vmNS, "route", "add", "default", "via", "169.254.0.1", "dev", "eth0", "onlink"},
		)
	}
	if v6 {
		// Beside the route the router advertises (metric 1024), not in its way.
		steps = append(steps, []string{"ip", "-n", vmNS, "-6", "route", "add", "default", "via", "fe80::1", "dev", "eth0", "metric", "2048"})
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
ip -4 addr flush dev "$interface"
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

// dhcp6Script is the guest's DHCPv6 client script (ISC dhclient -6 calls
// it with the reply in its environment, and nothing else of ours: the lease
// file's path is written into the script): it configures the address, a
// /128, and keeps the reply's variables in the VM's IPv6 lease file. Its
// default route comes from the router's advertisements (the kernel's).
const dhcp6Script = `#!/bin/sh
LEASE_FILE=%s
case "$reason" in BOUND6|RENEW6|REBIND6|REBOOT6) ;; *) exit 0 ;; esac
env | grep -E '^new_(ip6_address|ip6_prefixlen|dhcp6_name_servers|dhcp6_server_id)=' > "$LEASE_FILE"
ip -6 addr replace "$new_ip6_address/$new_ip6_prefixlen" dev "$interface" nodad
exit 0
`

// AttachDHCPVMOn is AttachVMOn for a guest that configures itself: the VM
// gets the tap as eth0, up, and only runs DHCP clients that take its
// addresses, routes and MTU from OVN's answers: for IPv4 (v4) busybox
// udhcpc, for IPv6 (v6) ISC dhclient -6, with the default route from the
// router's advertisements. Each client quits once it has its lease, whose
// variables are in the VM's lease files (LeaseFile, LeaseFile6).
func AttachDHCPVMOn(host []string, tapNS, tap, vmNS string, v4, v6 bool) (*VM, error) {
	steps := plugSteps(tapNS, tap, vmNS)
	type stdin struct {
		step int
		text string
	}
	var scripts []stdin
	script := func(path, text string) {
		scripts = append(scripts, stdin{len(steps), text})
		steps = append(steps, []string{"sh", "-c", "cat > " + path + " && chmod +x " + path})
	}
	if v4 {
		sh := LeaseFile(vmNS) + ".sh"
		script(sh, dhcpScript)
		steps = append(steps, []string{"env", "LEASE_FILE=" + LeaseFile(vmNS), "ip", "netns", "exec", vmNS, "busybox", "udhcpc", "-i", "eth0", "-n", "-q", "-t", "10", "-T", "1", "-s", sh})
	}
	if v6 {
		sh, pid := LeaseFile6(vmNS)+".sh", LeaseFile6(vmNS)+".pid"
		script(sh, fmt.Sprintf(dhcp6Script, LeaseFile6(vmNS)))
		steps = append(steps,
			[]string{"ip", "netns", "exec", vmNS, "timeout", "30",
				"dhclient", "-6", "-1", "-v", "-sf", sh, "-lf", LeaseFile6(vmNS) + ".leases", "-pf", pid, "eth0"},
			// The lease is configured: the client that would renew it goes.
			[]string{"sh", "-c", "kill $(cat " + pid + ") 2>/dev/null; rm -f " + pid + " " + LeaseFile6(vmNS) + ".leases"})
	}
	for i := range steps {
		steps[i] = append(slices.Clone(host), steps[i]...)
	}
	for i, step := range steps {
		cmd := exec.Command(step[0], step[1:]...)
		for _, s := range scripts {
			if s.step == i {
				cmd.Stdin = strings.NewReader(s.text)
			}
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

// LeaseFile6 is the same for its DHCPv6 client.
func LeaseFile6(vmNS string) string { return "/tmp/" + vmNS + ".lease6" }

// StartExternalHost creates the external host: namespace netns on the
// fabric's provider bridge with addrs (CIDR) on eth0, acting as the
// upstream router (forwarding on); routes are extra on-link prefixes
// (the public prefixes, whose addresses OVN answers ARP and neighbor
// solicitations for).
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
		step := []string{"ip", "-n", netns, "addr", "add", a, "dev", "eth0"}
		if strings.Contains(a, ":") {
			// Usable at once, not after duplicate address detection.
			step = append(step, "nodad")
		}
		steps = append(steps, step)
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
