package ovn

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/ovnet-dev/ovnet/ovn/nbdb"
	"github.com/ovnet-dev/ovnet/ovn/ovntest"
)

// TestApplyBatch against a real ovsdb-server: Applies that come while a
// transaction is in flight share the next one (group commit), every row
// arrives, and an Apply the database refuses fails alone: the others of
// its transaction are committed.
func TestApplyBatch(t *testing.T) {
	srv := ovntest.StartServer(t, "ovn-nb.ovsschema")
	c := connect(t, srv.Endpoint())
	const owners = 40
	rowsOf := func(i int, port string) []Row {
		return []Row{
			{Key: fmt.Sprintf("%d-ls", i), Model: &nbdb.LogicalSwitch{Name: fmt.Sprintf("sw%d", i)}},
			{Key: fmt.Sprintf("%d-lsp", i), Model: &nbdb.LogicalSwitchPort{Name: port},
				Parents: []Parent{{Table: nbdb.LogicalSwitchTable, Column: "ports", Key: fmt.Sprintf("%d-ls", i)}}},
		}
	}
	// Hold the flight, so that every Apply queues before the first is sent.
	c.batch.mu.Lock()
	c.batch.inFlight = true
	c.batch.mu.Unlock()
	errs := make([]error, owners)
	var wg sync.WaitGroup
	for i := range owners {
		port := fmt.Sprintf("port%d", i)
		if i == owners-1 {
			port = "port0" // Logical_Switch_Port names are unique: refused
		}
		o := Owner{Kind: "Network", Namespace: "default", Name: fmt.Sprintf("n%d", i), UID: fmt.Sprintf("uid-%d", i)}
		wg.Add(1)
		go func() { defer wg.Done(); _, errs[i] = c.Apply(context.Background(), o, rowsOf(i, port)) }()
	}
	waitFor(t, func() bool { c.batch.mu.Lock(); defer c.batch.mu.Unlock(); return len(c.batch.queue) == owners })
	before := c.Transactions()
	c.batch.mu.Lock()
	close(c.batch.queue[0].lead)
	c.batch.mu.Unlock()
	wg.Wait()

	// Of the two Applies naming port0, the one sent second fails.
	failed := 0
	for i, err := range errs {
		switch {
		case err != nil && (i == 0 || i == owners-1):
			failed++
		case err != nil:
			t.Errorf("apply %d: %v", i, err)
		}
	}
	if failed != 1 {
		t.Errorf("%d of the two Applies of port0 failed, want 1", failed)
	}
	// One shared transaction, refused as a whole; then each Apply alone.
	if got, want := c.Transactions()-before, int64(1+owners); got != want {
		t.Errorf("%d transactions, want %d (one shared, then one each after its refusal)", got, want)
	}
	waitCache(t, c)
	if got := c.Cache().Table(nbdb.LogicalSwitchPortTable).Len(); got != owners-1 {
		t.Errorf("%d ports in the database, want %d", got, owners-1)
	}

	// Without the duplicate, the queued Applies go in one transaction.
	c.batch.mu.Lock()
	c.batch.inFlight = true
	c.batch.mu.Unlock()
	for i := range owners {
		o := Owner{Kind: "Network", Namespace: "default", Name: fmt.Sprintf("m%d", i), UID: fmt.Sprintf("uid-m%d", i)}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := c.Apply(context.Background(), o, rowsOf(100+i, fmt.Sprintf("mport%d", i))); err != nil {
				t.Errorf("apply %s: %v", o, err)
			}
		}()
	}
	waitFor(t, func() bool { c.batch.mu.Lock(); defer c.batch.mu.Unlock(); return len(c.batch.queue) == owners })
	before = c.Transactions()
	c.batch.mu.Lock()
	close(c.batch.queue[0].lead)
	c.batch.mu.Unlock()
	wg.Wait()
	if got := c.Transactions() - before; got != 1 {
		t.Errorf("%d queued Applies took %d transactions, want 1", owners, got)
	}
	waitCache(t, c)
	if got := c.Cache().Table(nbdb.LogicalSwitchPortTable).Len(); got != 2*owners-1 {
		t.Errorf("%d ports in the database, want %d", got, 2*owners-1)
	}
	// Alone, an Apply goes at once, in its own transaction.
	before = c.Transactions()
	mustApply(t, c, Owner{Kind: "Network", Namespace: "default", Name: "alone", UID: "uid-alone"}, rowsOf(999, "alone"))
	if got := c.Transactions() - before; got != 1 {
		t.Errorf("a lone Apply took %d transactions, want 1", got)
	}
}
