package ovn

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"

	"github.com/ovnet-dev/ovnet/ovn/ovntest"
	"github.com/ovnet-dev/ovnet/ovn/vswitchd"
)

// TestApplyOVS plugs a port into a br-int that another tool created (found
// by name, never owned), as the node agent will, against a real
// ovsdb-server with the Open_vSwitch schema.
func TestApplyOVS(t *testing.T) {
	srv := ovntest.StartServer(t, "vswitch.ovsschema")
	vsctl := func(args ...string) string {
		t.Helper()
		out, err := runCmd("ovs-vsctl", append([]string{"--db=" + srv.Endpoint(), "--no-wait"}, args...)...)
		if err != nil {
			t.Fatalf("ovs-vsctl %v: %v %s", args, err, out)
		}
		return strings.TrimSpace(out)
	}
	vsctl("init")
	vsctl("add-br", "br-int", "--", "set", "Bridge", "br-int", "datapath_type=netdev", "fail-mode=secure")
	vsctl("add-port", "br-int", "other-port")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := ConnectOVS(ctx, Config{Endpoints: []string{srv.Endpoint()}, Logger: logr.Discard()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	nic := Owner{Kind: "NetworkInterface", Namespace: "default", Name: "nic-a", UID: "uid-nic-a"}
	plug := func(mac string) []Row {
		return []Row{
			{Key: "uid-nic-a/iface", Model: &vswitchd.Interface{Name: "veth-a"},
				Extra:   map[string]string{"iface-id": "default/nic-a", "attached-mac": mac, "iface-status": "active"},
				Parents: []Parent{{Table: vswitchd.PortTable, Column: "interfaces", Key: "uid-nic-a/port"}}},
			{Key: "uid-nic-a/port", Model: &vswitchd.Port{Name: "veth-a"},
				Parents: []Parent{{Table: vswitchd.BridgeTable, Column: "ports", Name: "br-int"}}},
		}
	}
	// Port.interfaces may never be empty: the port is inserted listing its
	// new interface.
	if _, err := c.Apply(ctx, nic, plug("0a:00:00:00:00:01")); err != nil {
		t.Fatal(err)
	}
	if got := vsctl("list-ports", "br-int"); got != "other-port\nveth-a" {
		t.Fatalf("br-int ports = %q", got)
	}
	if got := vsctl("get", "Interface", "veth-a", "external_ids:iface-id"); got != `"default/nic-a"` {
		t.Errorf("iface-id = %s", got)
	}
	waitFor(t, func() bool { return c.Cache().Table(vswitchd.InterfaceTable).Len() == 3 }) // br-int, other-port, veth-a
	if n, err := c.Apply(ctx, nic, plug("0a:00:00:00:00:01")); err != nil || n != 0 {
		t.Errorf("unchanged re-apply: %d operations, %v", n, err)
	}
	// ovn-controller marks the interface installed; re-applying (even with
	// a change) keeps its mark and writes nothing when nothing else changed.
	vsctl("set", "Interface", "veth-a", "external_ids:ovn-installed=true")
	waitFor(t, func() bool {
		for _, m := range c.Cache().Table(vswitchd.InterfaceTable).Rows() {
			if i := m.(*vswitchd.Interface); i.Name == "veth-a" && i.ExternalIDs["ovn-installed"] == "true" {
				return true
			}
		}
		return false
	})
	if n, err := c.Apply(ctx, nic, plug("0a:00:00:00:00:01")); err != nil || n != 0 {
		t.Errorf("re-apply after ovn-installed: %d operations, %v", n, err)
	}
	if _, err := c.Apply(ctx, nic, plug("0a:00:00:00:00:02")); err != nil {
		t.Fatal(err)
	}
	if got := vsctl("get", "Interface", "veth-a", "external_ids:ovn-installed", "external_ids:attached-mac"); got != "\"true\"\n\"0a:00:00:00:00:02\"" {
		t.Errorf("after a MAC change: ovn-installed, attached-mac = %q", got)
	}
	if _, err := c.Delete(ctx, nic); err != nil {
		t.Fatal(err)
	}
	if got := vsctl("list-ports", "br-int"); got != "other-port" {
		t.Fatalf("after unplug br-int ports = %q, want only the other tool's port", got)
	}
}
