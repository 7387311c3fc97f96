package ovn

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/ovn-kubernetes/libovsdb/ovsdb"

	"github.com/ovnet-dev/ovnet/ovn/nbdb"
	"github.com/ovnet-dev/ovnet/ovn/ovntest"
)

var (
	netOwner    = Owner{Kind: "Network", Namespace: "default", Name: "net", UID: "uid-net"}
	nicOwner    = Owner{Kind: "NetworkInterface", Namespace: "default", Name: "nic-a", UID: "uid-nic-a"}
	lbOwner     = Owner{Kind: "LoadBalancer", Namespace: "default", Name: "lb", UID: "uid-lb"}
	policyOwner = Owner{Kind: "NetworkPolicy", Namespace: "default", Name: "pol", UID: "uid-pol"}
)

func ptr[T any](v T) *T { return &v }

// networkRows is a Network's part of the topology of docs/ovn-mapping.md,
// written here with the generated models directly.
func networkRows(gatewayPriority int) []Row {
	return []Row{
		{Key: "ls", Model: &nbdb.LogicalSwitch{Name: "net301", OtherConfig: map[string]string{"requested-tnl-key": "301"}}},
		{Key: "lr", Model: &nbdb.LogicalRouter{Name: "net301-lr", Options: map[string]string{"requested-tnl-key": "8388909"}}},
		{Key: "lrp-ls", Model: &nbdb.LogicalRouterPort{Name: "net301-lr-ls", MAC: "0a:58:00:01:2d:01", Networks: []string{"169.254.0.1/32"}},
			Parents: []Parent{{Table: nbdb.LogicalRouterTable, Column: "ports", Key: "lr"}}},
		{Key: "lsp-to-lr", Model: &nbdb.LogicalSwitchPort{Name: "net301-to-lr", Type: "router", Addresses: []string{"router"}, Options: map[string]string{"router-port": "net301-lr-ls"}},
			Parents: []Parent{{Table: nbdb.LogicalSwitchTable, Column: "ports", Key: "ls"}}},
		{Key: "lrp-gw", Model: &nbdb.LogicalRouterPort{Name: "net301-lr-gw", MAC: "0a:58:00:01:2d:02", Networks: []string{"100.64.0.11/16"}},
			Parents: []Parent{{Table: nbdb.LogicalRouterTable, Column: "ports", Key: "lr"}}},
		{Key: "gc-node1", Model: &nbdb.GatewayChassis{Name: "net301-lr-gw-node1", ChassisName: "node1", Priority: gatewayPriority},
			Parents: []Parent{{Table: nbdb.LogicalRouterPortTable, Column: "gateway_chassis", Key: "lrp-gw"}}},
		{Key: "default-route", Model: &nbdb.LogicalRouterStaticRoute{IPPrefix: "0.0.0.0/0", Nexthop: "100.64.0.1"},
			Parents: []Parent{{Table: nbdb.LogicalRouterTable, Column: "static_routes", Key: "lr"}}},
	}
}

func nicRows(portRange string) []Row {
	return []Row{
		{Key: "lsp", Model: &nbdb.LogicalSwitchPort{Name: "nic-a", Addresses: []string{"0a:00:01:2d:00:0a 192.168.178.1"},
			PortSecurity: []string{"0a:00:01:2d:00:0a 192.168.178.1 10.50.0.0/24"}, Options: map[string]string{"requested-chassis": "node1"}},
			Parents: []Parent{{Table: nbdb.LogicalSwitchTable, Column: "ports", Key: "ls"}}},
		{Key: "route-ip", Model: &nbdb.LogicalRouterStaticRoute{IPPrefix: "192.168.178.1/32", Nexthop: "192.168.178.1", OutputPort: ptr("net301-lr-ls")},
			Parents: []Parent{{Table: nbdb.LogicalRouterTable, Column: "static_routes", Key: "lr"}}},
		{Key: "nat-public", Model: &nbdb.NAT{Type: nbdb.NATTypeDNATAndSNAT, ExternalIP: "203.0.113.21", LogicalIP: "192.168.178.1"},
			Parents: []Parent{{Table: nbdb.LogicalRouterTable, Column: "nat", Key: "lr"}}},
		{Key: "nat-gw", Model: &nbdb.NAT{Type: nbdb.NATTypeSNAT, ExternalIP: "203.0.113.30", LogicalIP: "192.168.178.1", ExternalPortRange: portRange},
			Parents: []Parent{{Table: nbdb.LogicalRouterTable, Column: "nat", Key: "lr"}}},
	}
}

func lbRows(backends string) []Row {
	return []Row{{Key: "lb-tcp", Model: &nbdb.LoadBalancer{Name: "lb-tcp", Protocol: ptr(nbdb.LoadBalancerProtocolTCP),
		Vips: map[string]string{"203.0.113.50:80": backends}, Options: map[string]string{"neighbor_responder": "all"}},
		Parents: []Parent{{Table: nbdb.LogicalSwitchTable, Column: "load_balancer", Key: "ls"}, {Table: nbdb.LogicalRouterTable, Column: "load_balancer", Key: "lr"}}}}
}

func policyRows(port int) []Row {
	return []Row{
		{Key: "pg", Model: &nbdb.PortGroup{Name: "pg_pol"}},
		{Key: "acl-allow", Model: &nbdb.ACL{Direction: nbdb.ACLDirectionToLport, Priority: 1001, Action: nbdb.ACLActionAllowRelated,
			Match: "outport == @pg_pol && tcp.dst == " + itoa(port)},
			Parents: []Parent{{Table: nbdb.PortGroupTable, Column: "acls", Key: "pg"}}},
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

func connect(t *testing.T, endpoint string) *Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := ConnectNB(ctx, Config{Endpoints: []string{endpoint}, Logger: logr.Discard(), InactivityProbe: 2 * time.Second, TransactTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func mustApply(t *testing.T, c *Client, o Owner, rows []Row) int {
	t.Helper()
	n, err := c.Apply(context.Background(), o, rows)
	if err != nil {
		t.Fatalf("apply %s: %v", o, err)
	}
	// The next read must see the write: wait for our own update to reach the cache.
	waitCache(t, c)
	return n
}

// waitCache waits until the cache reflects every committed transaction: a
// no-op plan of an owner that has no rows is cheap, so instead compare the
// server's view with a fresh read through ovsdb's "select".
func waitCache(t *testing.T, c *Client) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		res, err := c.Client.Transact(context.Background(), ovsdb.Operation{Op: ovsdb.OperationSelect, Table: nbdb.NATTable, Columns: []string{"_uuid"}})
		if err == nil && len(res) == 1 && len(res[0].Rows) == c.Cache().Table(nbdb.NATTable).Len() &&
			selectCount(c, nbdb.LogicalSwitchPortTable) == c.Cache().Table(nbdb.LogicalSwitchPortTable).Len() &&
			selectCount(c, nbdb.LogicalRouterStaticRouteTable) == c.Cache().Table(nbdb.LogicalRouterStaticRouteTable).Len() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("cache did not catch up")
}

func selectCount(c *Client, table string) int {
	res, err := c.Client.Transact(context.Background(), ovsdb.Operation{Op: ovsdb.OperationSelect, Table: table, Columns: []string{"_uuid"}})
	if err != nil || len(res) != 1 {
		return -1
	}
	return len(res[0].Rows)
}

func TestApplyRealServer(t *testing.T) {
	srv := ovntest.StartServer(t, "ovn-nb.ovsschema")
	c := connect(t, srv.Endpoint())

	// A row of another tool in the same database, and one in our router.
	srv.NBCtl("ls-add", "foreign-ls", "--", "lsp-add", "foreign-ls", "foreign-port")

	// Create.
	mustApply(t, c, netOwner, networkRows(10))
	srv.NBCtl("lr-route-add", "net301-lr", "10.99.0.0/16", "100.64.0.99")
	mustApply(t, c, nicOwner, nicRows("1024-2047"))
	mustApply(t, c, lbOwner, lbRows("192.168.178.1:80"))
	mustApply(t, c, policyOwner, policyRows(80))

	show := srv.NBCtl("show")
	for _, want := range []string{"switch", "(net301)", "port nic-a", "addresses: [\"0a:00:01:2d:00:0a 192.168.178.1\"]", "router", "(net301-lr)",
		"port net301-lr-gw", "gateway chassis: [node1]", "203.0.113.30", "192.168.178.1"} {
		if !strings.Contains(show, want) {
			t.Errorf("ovn-nbctl show lacks %q:\n%s", want, show)
		}
	}
	if got := srv.NBCtl("--bare", "--columns=external_port_range", "find", "NAT", "type=snat"); got != "1024-2047" {
		t.Errorf("snat external_port_range = %q, want 1024-2047", got)
	}
	if got := srv.NBCtl("lr-route-list", "net301-lr"); !strings.Contains(got, "192.168.178.1             192.168.178.1 dst-ip net301-lr-ls") || !strings.Contains(got, "0.0.0.0/0") {
		t.Errorf("routes:\n%s", got)
	}
	if got := srv.NBCtl("ls-lb-list", "net301"); !strings.Contains(got, "203.0.113.50:80") {
		t.Errorf("switch LBs:\n%s", got)
	}
	if got := srv.NBCtl("lr-lb-list", "net301-lr"); !strings.Contains(got, "203.0.113.50:80") {
		t.Errorf("router LBs:\n%s", got)
	}
	if got := srv.NBCtl("acl-list", "pg_pol"); !strings.Contains(got, "tcp.dst == 80") {
		t.Errorf("ACLs:\n%s", got)
	}
	if got := srv.NBCtl("--bare", "--columns=name", "find", "Logical_Switch_Port", "external_ids:apinet.ironcore.dev/owner-name=nic-a"); got != "nic-a" {
		t.Errorf("find by owner-name = %q, want nic-a", got)
	}

	// A repeated apply of unchanged rows sends nothing.
	before := c.Transactions()
	for _, step := range []struct {
		o    Owner
		rows []Row
	}{{netOwner, networkRows(10)}, {nicOwner, nicRows("1024-2047")}, {lbOwner, lbRows("192.168.178.1:80")}, {policyOwner, policyRows(80)}} {
		if n := mustApply(t, c, step.o, step.rows); n != 0 {
			t.Errorf("repeated apply of %s: %d operations, want 0", step.o, n)
		}
	}
	if d := c.Transactions() - before; d != 0 {
		t.Errorf("repeated applies issued %d transactions, want 0", d)
	}

	// Update: one changed column of one row is one update operation.
	if n := mustApply(t, c, nicOwner, nicRows("2048-3071")); n != 1 {
		t.Errorf("changing the NAT port range: %d operations, want 1", n)
	}
	if got := srv.NBCtl("--bare", "--columns=external_port_range", "find", "NAT", "type=snat"); got != "2048-3071" {
		t.Errorf("after update external_port_range = %q", got)
	}
	mustApply(t, c, netOwner, networkRows(20))
	if got := srv.NBCtl("--bare", "--columns=priority", "find", "Gateway_Chassis", "chassis_name=node1"); got != "20" {
		t.Errorf("gateway priority = %q, want 20", got)
	}
	mustApply(t, c, lbOwner, lbRows("192.168.178.1:80,10.0.0.7:80"))
	if got := srv.NBCtl("lr-lb-list", "net301-lr"); !strings.Contains(got, "10.0.0.7:80") {
		t.Errorf("router LBs after update:\n%s", got)
	}
	mustApply(t, c, policyOwner, policyRows(443))
	if got := srv.NBCtl("acl-list", "pg_pol"); !strings.Contains(got, "tcp.dst == 443") || strings.Contains(got, "tcp.dst == 80\n") {
		t.Errorf("ACLs after update:\n%s", got)
	}

	// Dropping a row of an owner deletes exactly it.
	mustApply(t, c, nicOwner, nicRows("2048-3071")[:3])
	if got := srv.NBCtl("--bare", "--columns=_uuid", "find", "NAT", "type=snat"); got != "" {
		t.Errorf("dropped snat row still there: %q", got)
	}
	if got := srv.NBCtl("--bare", "--columns=external_ip", "find", "NAT", "type=dnat_and_snat"); got != "203.0.113.21" {
		t.Errorf("kept dnat_and_snat row = %q", got)
	}

	// Deleting owners removes exactly their rows.
	for _, o := range []Owner{nicOwner, lbOwner, policyOwner} {
		if _, err := c.Delete(context.Background(), o); err != nil {
			t.Fatal(err)
		}
	}
	waitCache(t, c)
	if got := srv.NBCtl("--bare", "--columns=name", "list", "Logical_Switch_Port"); strings.Contains(got, "nic-a") {
		t.Errorf("NIC port left after delete: %q", got)
	}
	for _, table := range []string{"NAT", "Load_Balancer", "ACL", "Port_Group"} {
		if got := srv.NBCtl("--bare", "--columns=_uuid", "list", table); got != "" {
			t.Errorf("%s rows left after deleting their owners: %q", table, got)
		}
	}
	routes := srv.NBCtl("lr-route-list", "net301-lr")
	if strings.Contains(routes, "192.168.178.1") || !strings.Contains(routes, "0.0.0.0/0") || !strings.Contains(routes, "10.99.0.0/16") {
		t.Errorf("routes after NIC delete (want default and the foreign route only):\n%s", routes)
	}
	if _, err := c.Delete(context.Background(), netOwner); err != nil {
		t.Fatal(err)
	}
	waitCache(t, c)
	if got := srv.NBCtl("--bare", "--columns=name", "list", "Logical_Switch"); got != "foreign-ls" {
		t.Errorf("switches after deleting the network = %q, want only foreign-ls", got)
	}
	if got := srv.NBCtl("--bare", "--columns=name", "list", "Logical_Switch_Port"); got != "foreign-port" {
		t.Errorf("ports after deleting the network = %q, want only foreign-port", got)
	}
}

func TestApplyParentMissing(t *testing.T) {
	srv := ovntest.StartServer(t, "ovn-nb.ovsschema")
	c := connect(t, srv.Endpoint())
	_, err := c.Apply(context.Background(), nicOwner, nicRows("1024-2047"))
	if !errors.Is(err, ErrParentMissing) {
		t.Fatalf("apply without the network's rows: %v, want ErrParentMissing", err)
	}
	if got := srv.NBCtl("--bare", "--columns=_uuid", "list", "Static_MAC_Binding"); got != "" {
		t.Errorf("a failed apply wrote rows: %q", got)
	}
}

// TestApplyDuplicateGuard races a second writer between planning and commit:
// the wait operation must fail the insert instead of leaving two copies.
func TestApplyDuplicateGuard(t *testing.T) {
	srv := ovntest.StartServer(t, "ovn-nb.ovsschema")
	c := connect(t, srv.Endpoint())
	mustApply(t, c, netOwner, networkRows(10))
	racer := connect(t, srv.Endpoint())

	rows := nicRows("1024-2047")[2:3] // the dnat_and_snat row: NAT has no index
	p, err := c.plan(nicOwner, rows)
	if err != nil {
		t.Fatal(err)
	}
	mustApply(t, racer, nicOwner, nicRows("1024-2047")[2:3])
	if _, err := c.Transact(context.Background(), p.ops...); err == nil {
		t.Fatal("second insert of the same NAT row committed, want it refused")
	}
	if got := srv.NBCtl("--bare", "--columns=_uuid", "find", "NAT", "type=dnat_and_snat"); strings.Count(got, "\n") != 0 || got == "" {
		t.Fatalf("want exactly one NAT row, got %q", got)
	}
}

// TestReconnect kills the server and starts it again on the same socket: the
// client reconnects, its cache resyncs, and the next apply succeeds.
func TestReconnect(t *testing.T) {
	srv := ovntest.StartServer(t, "ovn-nb.ovsschema")
	c := connect(t, srv.Endpoint())
	mustApply(t, c, netOwner, networkRows(10))

	srv.Stop()
	time.Sleep(300 * time.Millisecond)
	srv.Start()
	// A change made by someone else while we were away must reach the cache.
	srv.NBCtl("ls-add", "made-after-restart")
	deadline := time.Now().Add(20 * time.Second)
	for {
		found := false
		for _, m := range c.Cache().Table(nbdb.LogicalSwitchTable).RowsShallow() {
			if m.(*nbdb.LogicalSwitch).Name == "made-after-restart" {
				found = true
			}
		}
		if found && c.Connected() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("cache did not resync after restart (connected=%v)", c.Connected())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if n := mustApply(t, c, netOwner, networkRows(10)); n != 0 {
		t.Errorf("apply after resync: %d operations, want 0 (nothing changed)", n)
	}
	mustApply(t, c, nicOwner, nicRows("1024-2047"))
	if got := srv.NBCtl("--bare", "--columns=external_port_range", "find", "NAT", "type=snat"); got != "1024-2047" {
		t.Errorf("after reconnect: snat range %q", got)
	}
}

// TestDeleteOthers: the rows of an earlier object of the same kind,
// namespace and name go when its successor's are written, or all of them
// once the name is gone; other names' and kinds' rows stay.
func TestDeleteOthers(t *testing.T) {
	srv := ovntest.StartServer(t, "ovn-nb.ovsschema")
	c := connect(t, srv.Endpoint())
	ctx := context.Background()
	mustApply(t, c, netOwner, networkRows(10))
	earlier := nicOwner
	later := Owner{Kind: nicOwner.Kind, Namespace: nicOwner.Namespace, Name: nicOwner.Name, UID: "uid-nic-a-2"}
	other := Owner{Kind: nicOwner.Kind, Namespace: nicOwner.Namespace, Name: "nic-b", UID: "uid-nic-b"}
	sameNameOtherKind := Owner{Kind: "LoadBalancer", Namespace: nicOwner.Namespace, Name: nicOwner.Name, UID: "uid-lb-a"}
	mustApply(t, c, earlier, nicRows("1024-2047")[2:3])
	mustApply(t, c, other, []Row{{Key: "uid-nic-b/nat", Model: &nbdb.NAT{Type: nbdb.NATTypeSNAT, ExternalIP: "203.0.113.9", LogicalIP: "10.0.0.9"},
		Parents: []Parent{{Table: nbdb.LogicalRouterTable, Column: "nat", Key: "lr"}}}})
	mustApply(t, c, sameNameOtherKind, lbRows("10.0.0.5:80"))
	owners := func() string {
		var uids []string
		for _, o := range c.Owners() {
			uids = append(uids, o.UID)
		}
		return strings.Join(uids, " ")
	}
	if _, err := c.DeleteOthers(ctx, later); err != nil {
		t.Fatal(err)
	}
	waitCache(t, c)
	if got, want := owners(), "uid-lb-a uid-net uid-nic-b"; got != want {
		t.Errorf("owners after DeleteOthers(later) = %q, want %q", got, want)
	}
	mustApply(t, c, later, nicRows("1024-2047")[2:3])
	if _, err := c.DeleteOthers(ctx, Owner{Kind: nicOwner.Kind, Namespace: nicOwner.Namespace, Name: nicOwner.Name}); err != nil {
		t.Fatal(err)
	}
	waitCache(t, c)
	if got, want := owners(), "uid-lb-a uid-net uid-nic-b"; got != want {
		t.Errorf("owners after the name is gone = %q, want %q", got, want)
	}
}
