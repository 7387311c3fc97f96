package main

import (
	"context"
	"net/netip"
	"strings"
	"testing"
)

// TestAllocBenchSmoke runs the allocation benchmark on a small pool: it must
// allocate every IP exactly once at every fill level and print its table.
func TestAllocBenchSmoke(t *testing.T) {
	res, err := benchAlloc(context.Background(), netip.MustParsePrefix("10.200.0.0/24"), []float64{0.10, 0.50, 0.90}, 20)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.steps) != 3 {
		t.Fatalf("%d steps, want 3", len(res.steps))
	}
	for _, s := range res.steps {
		if s.elapsed <= 0 || s.triesPerIP < 1 {
			t.Errorf("step %+v: no allocation measured", s)
		}
	}
	if md := res.markdown(); !strings.Contains(md, "| 90% |") || !strings.Contains(md, "IPs/s") {
		t.Errorf("table:\n%s", md)
	}
}

// TestNATBenchSmoke runs the NAT churn at a small scale: every added or
// removed NIC must cost exactly one snat row write.
func TestNATBenchSmoke(t *testing.T) {
	res, err := benchNAT(context.Background(), 150, 20)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.steps) != 2 {
		t.Fatalf("%d steps", len(res.steps))
	}
	for _, s := range res.steps {
		if s.rowsPerChange != 1 {
			t.Errorf("%s: %d inserted, %d updated, %d deleted for %d NICs", s.name, s.ins, s.upd, s.del, s.nics)
		}
	}
	t.Log("\n" + res.markdown())
}
