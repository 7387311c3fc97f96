package devstack

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Fabric is the network namespace that joins the chassis: a Linux bridge
// "ul" for the geneve underlay (MTU 9000, so that 1500-byte guest frames
// fit after encapsulation) and a bridge "pv" for the provider network, on
// which the external host sits (docs/testing.md has the picture).
type Fabric struct {
	NetNS string
}

// StartFabric creates the fabric namespace and its two bridges.
func StartFabric(netns string) (*Fabric, error) {
	f := &Fabric{NetNS: netns}
	steps := [][]string{
		{"ip", "netns", "add", netns},
		{"ip", "-n", netns, "link", "set", "lo", "up"},
		{"ip", "-n", netns, "link", "add", "ul", "mtu", "9000", "type", "bridge"},
		{"ip", "-n", netns, "link", "add", "pv", "type", "bridge"},
		{"ip", "-n", netns, "link", "set", "ul", "up"},
		{"ip", "-n", netns, "link", "set", "pv", "up"},
	}
	if err := runAll(steps); err != nil {
		f.Stop()
		return nil, err
	}
	return f, nil
}

// Stop removes the fabric namespace.
func (f *Fabric) Stop() { _ = run("ip", "netns", "del", f.NetNS) }

// connect creates a veth from dev in netns to a port named port on the
// fabric bridge br.
func (f *Fabric) connect(netns, dev, br, port, mtu string) error {
	return runAll([][]string{
		{"ip", "link", "add", dev, "mtu", mtu, "netns", netns, "type", "veth", "peer", "name", port, "mtu", mtu, "netns", f.NetNS},
		{"ip", "-n", f.NetNS, "link", "set", port, "master", br, "up"},
		{"ip", "-n", netns, "link", "set", dev, "up"},
	})
}

// Chassis is one OVN chassis in its own network namespace: an Open_vSwitch
// database, a userspace (netdev) ovs-vswitchd with br-int, br-phy (the
// geneve underlay, encap IP on its tap) and br-ex (the provider network,
// mapped to the physical network name), and ovn-controller connected to
// the central SB database.
type Chassis struct {
	Name    string
	NetNS   string
	Dir     string
	DB      string // unix socket of its Open_vSwitch database
	EncapIP string
	daemons []*Daemon
}

// ChassisOptions place a chassis on the fabric.
type ChassisOptions struct {
	Name  string
	NetNS string
	Dir   string
	// Index is the chassis's number on the fabric (1..250): its encap IP
	// is 172.30.0.<Index>.
	Index int
	// PhysicalNetwork is mapped to br-ex (ovn-bridge-mappings).
	PhysicalNetwork string
}

// StartChassis brings a chassis up in a new network namespace. (One
// userspace ovs-vswitchd per network namespace: its tap is always
// ovs-netdev.)
func StartChassis(opts ChassisOptions, central *Central, fabric *Fabric) (*Chassis, error) {
	dir := opts.Dir
	// A chassis starts afresh: what a stopped or crashed stack left in dir
	// (its database, sockets, pid files) is removed.
	if err := os.RemoveAll(dir); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	ch := &Chassis{Name: opts.Name, NetNS: opts.NetNS, Dir: dir, DB: filepath.Join(dir, "db.sock"), EncapIP: fmt.Sprintf("172.30.0.%d", opts.Index)}
	if err := run("ip", "netns", "add", ch.NetNS); err != nil {
		return nil, err
	}
	fail := func(err error) (*Chassis, error) { ch.Stop(); return nil, err }
	if err := run("ip", "-n", ch.NetNS, "link", "set", "lo", "up"); err != nil {
		return fail(err)
	}
	if err := fabric.connect(ch.NetNS, "ul0", "ul", fmt.Sprintf("ul-%d", opts.Index), "9000"); err != nil {
		return fail(err)
	}
	if err := fabric.connect(ch.NetNS, "pv0", "pv", fmt.Sprintf("pv-%d", opts.Index), "1500"); err != nil {
		return fail(err)
	}
	conf := filepath.Join(dir, "conf.db")
	if err := run("ovsdb-tool", "create", conf, "/usr/share/openvswitch/vswitch.ovsschema"); err != nil {
		return fail(err)
	}
	env := []string{"OVS_RUNDIR=" + dir, "OVS_LOGDIR=" + dir, "OVS_DBDIR=" + dir, "OVN_RUNDIR=" + dir, "OVN_LOGDIR=" + dir}
	start := func(name string, args ...string) error {
		d, err := startDaemon(name, filepath.Join(dir, name+".out"), env, "ip", append([]string{"netns", "exec", ch.NetNS}, args...)...)
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
		{"set", "Open_vSwitch", ".", "external_ids:system-id=" + ch.Name, "external_ids:ovn-remote=" + central.SBEndpoint(),
			"external_ids:ovn-encap-type=geneve", "external_ids:ovn-encap-ip=" + ch.EncapIP,
			"external_ids:ovn-bridge-datapath-type=netdev", "external_ids:ovn-bridge-mappings=" + opts.PhysicalNetwork + ":br-ex"},
		{"add-br", "br-int", "--", "set", "Bridge", "br-int", "datapath_type=netdev", "fail-mode=secure"},
		{"add-br", "br-phy", "--", "set", "Bridge", "br-phy", "datapath_type=netdev", "--", "set", "Interface", "br-phy", "mtu_request=9000"},
		{"add-port", "br-phy", "ul0"},
		{"add-br", "br-ex", "--", "set", "Bridge", "br-ex", "datapath_type=netdev"},
		{"add-port", "br-ex", "pv0"},
	} {
		if err := run(append(vsctl, args...)...); err != nil {
			return fail(err)
		}
	}
	if err := start("ovs-vswitchd", "ovs-vswitchd", "unix:"+ch.DB, "--unixctl="+filepath.Join(dir, "vswitchd.ctl"),
		"-vconsole:off", "--log-file="+filepath.Join(dir, "vswitchd.log"), "--no-chdir"); err != nil {
		return fail(err)
	}
	// The encap IP lives on br-phy's tap, which ovs-vswitchd creates: its
	// userspace tunnel code routes and ARPs through it.
	if err := waitFor(10*time.Second, "br-phy tap in "+ch.NetNS, func() bool {
		return run("ip", "-n", ch.NetNS, "link", "show", "br-phy") == nil
	}); err != nil {
		return fail(err)
	}
	if err := runAll([][]string{
		{"ip", "-n", ch.NetNS, "addr", "add", ch.EncapIP + "/24", "dev", "br-phy"},
		{"ip", "-n", ch.NetNS, "link", "set", "br-phy", "up"},
	}); err != nil {
		return fail(err)
	}
	if err := start("ovn-controller", "ovn-controller", "unix:"+ch.DB,
		"-vconsole:off", "--log-file="+filepath.Join(dir, "ovn-controller.log"), "--no-chdir"); err != nil {
		return fail(err)
	}
	err := waitFor(20*time.Second, "chassis "+ch.Name+" in the SB database", func() bool {
		out, _ := exec.Command("ovn-sbctl", "--db="+central.SBEndpoint(), "--bare", "--columns=name", "list", "Chassis").CombinedOutput()
		return strings.Contains(string(out), ch.Name)
	})
	if err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "ovn-controller.log"))
		return fail(fmt.Errorf("%w; ovn-controller log:\n%s", err, tail(string(log), 2000)))
	}
	return ch, nil
}

// Endpoint is the chassis's Open_vSwitch database for the node agent.
func (ch *Chassis) Endpoint() string { return "unix:" + ch.DB }

// SetLinks takes the chassis off the fabric (down) or puts it back (up):
// its underlay and provider links, as when a node fails.
func (ch *Chassis) SetLinks(state string) error {
	return runAll([][]string{
		{"ip", "-n", ch.NetNS, "link", "set", "ul0", state},
		{"ip", "-n", ch.NetNS, "link", "set", "pv0", state},
	})
}

// Stop ends the chassis's daemons and removes its network namespace.
func (ch *Chassis) Stop() {
	for i := len(ch.daemons) - 1; i >= 0; i-- {
		ch.daemons[i].Stop()
	}
	ch.daemons = nil
	_ = run("ip", "netns", "del", ch.NetNS)
}

func run(args ...string) error {
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %v: %s", strings.Join(args, " "), err, out)
	}
	return nil
}

func runAll(steps [][]string) error {
	for _, s := range steps {
		if err := run(s...); err != nil {
			return err
		}
	}
	return nil
}

func waitFor(timeout time.Duration, what string, ok func() bool) error {
	deadline := time.Now().Add(timeout)
	for !ok() {
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return nil
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
