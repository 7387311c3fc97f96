package stack

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Chassis is one OVN chassis in its own network namespace: an Open_vSwitch
// database, a userspace (netdev) ovs-vswitchd with br-int, and ovn-controller
// connected to the central SB database.
type Chassis struct {
	Name    string
	NetNS   string
	Dir     string
	DB      string // unix socket of its Open_vSwitch database
	daemons []*Daemon
}

// StartChassis brings a chassis up in a new network namespace netns.
// (One userspace ovs-vswitchd per network namespace: its tap is always
// ovs-netdev.)
func StartChassis(name, netns, dir string, central *Central) (*Chassis, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	ch := &Chassis{Name: name, NetNS: netns, Dir: dir, DB: filepath.Join(dir, "db.sock")}
	if err := run("ip", "netns", "add", netns); err != nil {
		return nil, err
	}
	fail := func(err error) (*Chassis, error) { ch.Stop(); return nil, err }
	if err := ch.Exec("ip", "link", "set", "lo", "up"); err != nil {
		return fail(err)
	}
	conf := filepath.Join(dir, "conf.db")
	if err := run("ovsdb-tool", "create", conf, "/usr/share/openvswitch/vswitch.ovsschema"); err != nil {
		return fail(err)
	}
	env := []string{"OVS_RUNDIR=" + dir, "OVS_LOGDIR=" + dir, "OVS_DBDIR=" + dir, "OVN_RUNDIR=" + dir, "OVN_LOGDIR=" + dir}
	start := func(name string, args ...string) error {
		d, err := startDaemon(name, filepath.Join(dir, name+".out"), env, "ip", append([]string{"netns", "exec", netns}, args...)...)
		if err != nil {
			return err
		}
		ch.daemons = append(ch.daemons, d)
		return nil
	}
	if err := start("ovsdb-server", "ovsdb-server", "--remote=punix:"+ch.DB, "--unixctl="+filepath.Join(dir, "ovsdb.ctl"),
		"-vconsole:off", "--log-file="+filepath.Join(dir, "ovsdb.log"), "--no-chdir", conf); err != nil {
		return fail(err)
	}
	if err := waitForFile(ch.DB, 10*time.Second); err != nil {
		return fail(err)
	}
	vsctl := []string{"ovs-vsctl", "--db=unix:" + ch.DB, "--no-wait"}
	for _, args := range [][]string{
		{"init"},
		{"set", "Open_vSwitch", ".", "external_ids:system-id=" + name, "external_ids:ovn-remote=" + central.SBEndpoint(),
			"external_ids:ovn-encap-type=geneve", "external_ids:ovn-encap-ip=127.0.0.1", "external_ids:ovn-bridge-datapath-type=netdev"},
		{"add-br", "br-int", "--", "set", "Bridge", "br-int", "datapath_type=netdev", "fail-mode=secure"},
	} {
		if err := run(append(vsctl, args...)...); err != nil {
			return fail(err)
		}
	}
	if err := start("ovs-vswitchd", "ovs-vswitchd", "unix:"+ch.DB, "--unixctl="+filepath.Join(dir, "vswitchd.ctl"),
		"-vconsole:off", "--log-file="+filepath.Join(dir, "vswitchd.log"), "--no-chdir"); err != nil {
		return fail(err)
	}
	if err := start("ovn-controller", "ovn-controller", "unix:"+ch.DB,
		"-vconsole:off", "--log-file="+filepath.Join(dir, "ovn-controller.log"), "--no-chdir"); err != nil {
		return fail(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		out, _ := exec.Command("ovn-sbctl", "--db="+central.SBEndpoint(), "--bare", "--columns=name", "list", "Chassis").CombinedOutput()
		if strings.Contains(string(out), name) {
			return ch, nil
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "ovn-controller.log"))
			out, _ := os.ReadFile(filepath.Join(dir, "ovn-controller.out"))
			return fail(fmt.Errorf("chassis %s did not register in the SB database; ovn-controller log:\n%s%s", name, tail(string(log), 2000), out))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Exec runs a command inside the chassis's network namespace.
func (ch *Chassis) Exec(args ...string) error {
	return run(append([]string{"ip", "netns", "exec", ch.NetNS}, args...)...)
}

// Stop ends the chassis's daemons and removes its network namespace.
func (ch *Chassis) Stop() {
	for i := len(ch.daemons) - 1; i >= 0; i-- {
		ch.daemons[i].Stop()
	}
	ch.daemons = nil
	_ = run("ip", "netns", "del", ch.NetNS)
}

// VM is a network namespace standing in for a guest behind a NIC.
type VM struct {
	NetNS string
}

// AttachVM creates namespace vmNS behind a veth pair whose host end is
// plugged into the chassis's br-int as iface-id portName, and configures the
// guest end with mac, the /32 address ip and the routes to 169.254.0.1.
func (ch *Chassis) AttachVM(vmNS, hostIf, portName, mac, ip string) (*VM, error) {
	guestIf := hostIf + "g"
	steps := [][]string{
		{"ip", "netns", "add", vmNS},
		{"ip", "link", "add", hostIf, "type", "veth", "peer", "name", guestIf},
		{"ip", "link", "set", guestIf, "netns", vmNS},
		{"ip", "link", "set", hostIf, "netns", ch.NetNS},
		{"ip", "netns", "exec", ch.NetNS, "ip", "link", "set", hostIf, "up"},
		{"ovs-vsctl", "--db=unix:" + ch.DB, "add-port", "br-int", hostIf, "--", "set", "Interface", hostIf, "external_ids:iface-id=" + portName},
		{"ip", "netns", "exec", vmNS, "ip", "link", "set", "lo", "up"},
		{"ip", "netns", "exec", vmNS, "ip", "link", "set", guestIf, "address", mac},
		{"ip", "netns", "exec", vmNS, "ip", "link", "set", guestIf, "name", "eth0"},
		{"ip", "netns", "exec", vmNS, "ip", "link", "set", "eth0", "up"},
		{"ip", "netns", "exec", vmNS, "ip", "addr", "add", ip + "/32", "dev", "eth0"},
		{"ip", "netns", "exec", vmNS, "ip", "route", "add", "169.254.0.1", "dev", "eth0", "scope", "link"},
		{"ip", "netns", "exec", vmNS, "ip", "route", "add", "default", "via", "169.254.0.1", "dev", "eth0", "onlink"},
		// The userspace datapath does not fill in checksums the veth offloads.
		{"ip", "netns", "exec", vmNS, "ethtool", "-K", "eth0", "tx", "off"},
	}
	for _, s := range steps {
		if err := run(s...); err != nil {
			_ = run("ip", "netns", "del", vmNS)
			return nil, err
		}
	}
	return &VM{NetNS: vmNS}, nil
}

// Exec runs a command inside the VM and returns its output.
func (vm *VM) Exec(args ...string) (string, error) {
	out, err := exec.Command("ip", append([]string{"netns", "exec", vm.NetNS}, args...)...).CombinedOutput()
	return string(out), err
}

// Remove deletes the VM's namespace (and with it the veth pair).
func (vm *VM) Remove() { _ = run("ip", "netns", "del", vm.NetNS) }

func run(args ...string) error {
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %v: %s", strings.Join(args, " "), err, out)
	}
	return nil
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// AddProvider connects the chassis to a provider network: a netdev bridge
// br-ex mapped to physnet, whose uplink is a veth to the namespace extNS,
// the "external host" acting as upstream router with the given addresses
// (CIDR) and forwarding on.
func (ch *Chassis) AddProvider(physnet, extNS, hostIf string, addrs ...string) (*VM, error) {
	steps := [][]string{
		{"ovs-vsctl", "--db=unix:" + ch.DB, "add-br", "br-ex", "--", "set", "Bridge", "br-ex", "datapath_type=netdev"},
		{"ovs-vsctl", "--db=unix:" + ch.DB, "set", "Open_vSwitch", ".", "external_ids:ovn-bridge-mappings=" + physnet + ":br-ex"},
		{"ip", "netns", "add", extNS},
		{"ip", "link", "add", hostIf, "type", "veth", "peer", "name", hostIf + "g"},
		{"ip", "link", "set", hostIf + "g", "netns", extNS},
		{"ip", "link", "set", hostIf, "netns", ch.NetNS},
		{"ip", "netns", "exec", ch.NetNS, "ip", "link", "set", hostIf, "up"},
		{"ovs-vsctl", "--db=unix:" + ch.DB, "add-port", "br-ex", hostIf},
		{"ip", "netns", "exec", extNS, "ip", "link", "set", "lo", "up"},
		{"ip", "netns", "exec", extNS, "ip", "link", "set", hostIf + "g", "name", "eth0"},
		{"ip", "netns", "exec", extNS, "ip", "link", "set", "eth0", "up"},
		{"ip", "netns", "exec", extNS, "ethtool", "-K", "eth0", "tx", "off"},
		{"ip", "netns", "exec", extNS, "sysctl", "-qw", "net.ipv4.ip_forward=1"},
		{"ip", "netns", "exec", extNS, "sysctl", "-qw", "net.ipv4.conf.all.send_redirects=0"},
	}
	for _, a := range addrs {
		steps = append(steps, []string{"ip", "netns", "exec", extNS, "ip", "addr", "add", a, "dev", "eth0"})
	}
	for _, s := range steps {
		if err := run(s...); err != nil {
			_ = run("ip", "netns", "del", extNS)
			return nil, err
		}
	}
	return &VM{NetNS: extNS}, nil
}
