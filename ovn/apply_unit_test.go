package ovn

import (
	"context"
	"testing"
	"time"

	"github.com/go-logr/logr"

	"github.com/ovnet-dev/ovnet/ovn/nbdb"
	"github.com/ovnet-dev/ovnet/ovn/ovntest"
)

// Fast tests of Apply's diff against libovsdb's in-memory server.
func inMemoryClient(t *testing.T) *Client {
	t.Helper()
	full, err := nbdb.FullDatabaseModel()
	if err != nil {
		t.Fatal(err)
	}
	endpoint := ovntest.StartInMemory(t, full, nbdb.Schema())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := ConnectNB(ctx, Config{Endpoints: []string{endpoint}, Logger: logr.Discard()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func TestApplyDiff(t *testing.T) {
	c := inMemoryClient(t)
	ctx := context.Background()
	n, err := c.Apply(ctx, netOwner, networkRows(10))
	if err != nil {
		t.Fatal(err)
	}
	// 7 rows: 7 inserts, waits for the 4 rows of tables without an index
	// (switch, router, route... gateway chassis and ports have name indexes),
	// and 5 parent links.
	if n == 0 {
		t.Fatal("first apply sent nothing")
	}
	waitRows(t, c, nbdb.LogicalRouterPortTable, 2)
	if n, err := c.Apply(ctx, netOwner, networkRows(10)); err != nil || n != 0 {
		t.Fatalf("unchanged apply: %d operations, %v; want 0", n, err)
	}
	rows := networkRows(10)
	rows[0].Model.(*nbdb.LogicalSwitch).OtherConfig["requested-tnl-key"] = "302"
	if n, err := c.Apply(ctx, netOwner, rows); err != nil || n != 1 {
		t.Fatalf("one changed column: %d operations, %v; want 1", n, err)
	}
	// Sets compare unordered: the same networks in another order change nothing.
	waitFor(t, func() bool {
		for _, m := range c.Cache().Table(nbdb.LogicalSwitchTable).RowsShallow() {
			return m.(*nbdb.LogicalSwitch).OtherConfig["requested-tnl-key"] == "302"
		}
		return false
	})
	rows[2].Model.(*nbdb.LogicalRouterPort).Networks = []string{"169.254.0.1/32"}
	if n, err := c.Apply(ctx, netOwner, rows); err != nil || n != 0 {
		t.Fatalf("reapply: %d operations, %v; want 0", n, err)
	}
	// Deleting the owner deletes its 7 rows.
	if _, err := c.Delete(ctx, netOwner); err != nil {
		t.Fatal(err)
	}
	waitRows(t, c, nbdb.LogicalRouterPortTable, 0)
	waitRows(t, c, nbdb.LogicalSwitchTable, 0)
	waitRows(t, c, nbdb.GatewayChassisTable, 0)
}

func TestApplyRejectsBadRows(t *testing.T) {
	c := inMemoryClient(t)
	ctx := context.Background()
	if _, err := c.Apply(ctx, Owner{Name: "x"}, networkRows(1)); err == nil {
		t.Error("owner without UID accepted")
	}
	twice := append(networkRows(1), networkRows(1)[0])
	if _, err := c.Apply(ctx, netOwner, twice); err == nil {
		t.Error("two rows with one key accepted")
	}
	if _, err := c.Apply(ctx, netOwner, []Row{{Model: &nbdb.LogicalSwitch{Name: "k"}}}); err == nil {
		t.Error("row without key accepted")
	}
}

func waitRows(t *testing.T, c *Client, table string, n int) {
	t.Helper()
	waitFor(t, func() bool { return c.Cache().Table(table).Len() == n })
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
