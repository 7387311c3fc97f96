package main

import (
	"context"
	"net/netip"
	"strings"
	"testing"

	"go.uber.org/zap/zapcore"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
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

// TestNICBenchSmoke runs the NIC entry at a small scale: every NIC gets its
// port, and restarted controllers write nothing.
func TestNICBenchSmoke(t *testing.T) {
	res, err := benchNIC(context.Background(), 100, 20)
	if err != nil {
		t.Fatal(err)
	}
	if res.p50 <= 0 || res.p99 < res.p50 {
		t.Errorf("latencies p50 %v p99 %v", res.p50, res.p99)
	}
	if res.restartTxns != 0 || res.portsAfterQuiet != res.portsAtRestart {
		t.Errorf("restart: %d NB transactions, ports %d -> %d", res.restartTxns, res.portsAtRestart, res.portsAfterQuiet)
	}
	t.Log("\n" + res.markdown())
}

func init() { ctrl.SetLogger(zap.New(zap.Level(zapcore.ErrorLevel))) }

// TestColdBenchSmoke runs the cold-convergence entry at -scale 1k: every
// expected row and Ready condition must arrive, the restarted controller
// must write nothing, and the floor must hold the same rows. It prints the
// figures and asserts no timing.
func TestColdBenchSmoke(t *testing.T) {
	res, err := benchCold(context.Background(), scales["1k"])
	if err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + res.markdown())
	if res.restartTxns != 0 || res.restartRowChanges != 0 {
		t.Errorf("restarted controller: %v transactions, %d row changes; want none", res.restartTxns, res.restartRowChanges)
	}
	if res.rows < scales["1k"].NICs || res.peakRSS <= 0 || res.cpuSeconds <= 0 || res.northdRecomputes <= 0 || res.logicalFlows < scales["1k"].NICs || len(res.reconciles) == 0 {
		t.Errorf("implausible figures: %d rows, peak RSS %d, CPU %.1f s, %d northd recomputes, %d logical flows, reconciles %v",
			res.rows, res.peakRSS, res.cpuSeconds, res.northdRecomputes, res.logicalFlows, res.reconciles)
	}
}
