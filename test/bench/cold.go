package main

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"

	"github.com/ovnet-dev/ovnet/devstack"
	"github.com/ovnet-dev/ovnet/ovn"
)

// coldScale is the population of the cold-convergence entry (P1).
type coldScale struct {
	Name                       string
	Networks, NICs             int
	NATGateways, LoadBalancers int
	Nodes                      int
}

// scales are the -scale choices: 1k runs in CI as a smoke check, 10k
// (issue 11's population) and 30k (the growth check) by hand; the same
// shape at each size.
var scales = map[string]coldScale{
	"1k":  {Name: "1k", Networks: 50, NICs: 1000, NATGateways: 10, LoadBalancers: 10, Nodes: 4},
	"10k": {Name: "10k", Networks: 500, NICs: 10000, NATGateways: 100, LoadBalancers: 100, Nodes: 4},
	"30k": {Name: "30k", Networks: 1500, NICs: 30000, NATGateways: 300, LoadBalancers: 300, Nodes: 4},
}

// coldNamespace holds the cold entry's population.
const coldNamespace = "bench-cold"

// Every tenth NIC has a public IP; every LoadBalancer selects two NICs.
const (
	publicEvery = 10
	lbTargets   = 2
)

type coldResult struct {
	scale                  coldScale
	publicNICs, natedNICs  int
	created                time.Duration
	rowsDone, readyDone    time.Duration
	rows                   int
	floor                  time.Duration
	floorTxns              int
	apiFloor               time.Duration
	apiFloorTries          []time.Duration // apiFloor is the fastest
	apiFloorWrites         int
	restartAPIWrites       float64
	restartTxns            float64
	restartRowChanges      int64
	restartSettled         time.Duration
	peakRSS                int64   // bytes
	peakRSSRestart         int64   // bytes, the restarted controller until settled
	heapInUse              float64 // bytes, once converged
	cpuSeconds, cpuRestart float64
	// stackCPU is the CPU seconds of each of the stack's processes, cold
	// start until Ready.
	stackCPU map[string]float64
	// northdRecomputes is how often northd recomputed everything, cold
	// start until Ready.
	northdRecomputes int
	// logicalFlows is the SB database's Logical_Flow rows once northd
	// has caught up with the converged NB database.
	logicalFlows           int
	controllerTransactions float64
	// apiWrites are the API server's write requests from the controller's
	// start until everything was Ready (the benchmark writes nothing then).
	apiWrites map[string]float64
	// apiReads are the GETs and LISTs of the same time: the controller's
	// live reads, and the benchmark's own polls for Ready.
	apiReads map[string]float64
	// patchWrites are the controller's writes through internal/patch by
	// kind, part and change (ovnet_writes_total).
	patchWrites map[string]float64
	// reconciles are the controller's reconciles by controller, from
	// its start until it settled.
	reconciles map[string]float64
}

// byRequest writes counts by request, largest first.
func byRequest(b *strings.Builder, title string, counts map[string]float64) {
	if len(counts) == 0 {
		return
	}
	keys := slices.Collect(maps.Keys(counts))
	slices.SortFunc(keys, func(x, y string) int { return cmp.Compare(counts[y], counts[x]) })
	fmt.Fprintf(b, "\n%s: ", title)
	for i, k := range keys {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(b, "%s %.0f", k, counts[k])
	}
	b.WriteString(".\n")
}

func (r coldResult) markdown() string {
	var b strings.Builder
	s := r.scale
	fmt.Fprintf(&b, "## Cold convergence (P1), restart (P2) and the controller's footprint (P5) at %s\n\n", s.Name)
	fmt.Fprintf(&b, "%d Networks, %d NetworkInterfaces (%d with a public IP, %d NATed by %d NATGateways), %d public "+
		"LoadBalancers (%d backends each, an Instance on each of %d Nodes), created in %.1f s while no controller runs. "+
		"Then `ovnet-controller` (the binary, its own process) starts: the time until every expected NB row exists "+
		"(every NIC's port, public-IP and snat rows, every Network's router, every LoadBalancer's rows) and until every "+
		"Network, NIC, NATGateway and LoadBalancer reports Ready. Floor: the same final rows (%d, every row in the NB "+
		"database, copied from it) written straight to a fresh NB database with libovsdb in %d bulk transactions, "+
		"in the same run. Real kube-apiserver + etcd, OVN NB + SB + northd.\n\n",
		s.Networks, s.NICs, r.publicNICs, r.natedNICs, s.NATGateways, s.LoadBalancers, lbTargets, s.Nodes,
		r.created.Seconds(), r.rows, r.floorTxns)
	fmt.Fprintf(&b, "| measure | value |\n|---|---|\n")
	fmt.Fprintf(&b, "| P1: controller start → every expected NB row | %.1f s |\n", r.rowsDone.Seconds())
	fmt.Fprintf(&b, "| P1: controller start → everything Ready | %.1f s |\n", r.readyDone.Seconds())
	fmt.Fprintf(&b, "| P1 floor: the same rows written in bulk | %.2f s |\n", r.floor.Seconds())
	fmt.Fprintf(&b, "| P1 ratio: rows / NB floor | %.0f |\n", r.rowsDone.Seconds()/r.floor.Seconds())
	tries := make([]string, len(r.apiFloorTries))
	for i, d := range r.apiFloorTries {
		tries[i] = fmt.Sprintf("%.1f", d.Seconds())
	}
	fmt.Fprintf(&b, "| API floor: the fewest API writes (%d, %.2f per NIC) by %d parallel clients, the fastest of %d tries (%s s) | %.2f s |\n",
		r.apiFloorWrites, float64(r.apiFloorWrites)/float64(s.NICs), apiFloorWorkers, len(r.apiFloorTries), strings.Join(tries, ", "), r.apiFloor.Seconds())
	fmt.Fprintf(&b, "| P1 = Ready / (NB floor + API floor) (goal ≤ 1.5) | **%.1f** |\n", r.readyDone.Seconds()/(r.floor+r.apiFloor).Seconds())
	fmt.Fprintf(&b, "| NB transactions of the cold start | %.0f |\n", r.controllerTransactions)
	total := 0.0
	for _, v := range r.apiWrites {
		total += v
	}
	fmt.Fprintf(&b, "| API write requests of the cold start (per NIC) | %.0f (%.1f) |\n", total, total/float64(s.NICs))
	fmt.Fprintf(&b, "| P2: NB transactions of a restarted controller, nothing changed (goal 0) | **%.0f** |\n", r.restartTxns)
	fmt.Fprintf(&b, "| P2: NB rows changed after the restart | %d |\n", r.restartRowChanges)
	fmt.Fprintf(&b, "| P2: API writes of the restarted controller (goal 0) | **%.0f** |\n", r.restartAPIWrites)
	fmt.Fprintf(&b, "| P2: restart until settled (no reconcile for 2 s) | %.1f s |\n", r.restartSettled.Seconds())
	fmt.Fprintf(&b, "| P5: controller peak RSS (VmHWM) | %.0f MiB |\n", float64(r.peakRSS)/(1<<20))
	fmt.Fprintf(&b, "| P5: restarted controller's peak RSS until settled (its caches filled at once) | %.0f MiB |\n", float64(r.peakRSSRestart)/(1<<20))
	fmt.Fprintf(&b, "| P5: controller Go heap in use once converged | %.0f MiB |\n", r.heapInUse/(1<<20))
	fmt.Fprintf(&b, "| P5: controller CPU seconds, cold start until Ready | %.1f s |\n", r.cpuSeconds)
	fmt.Fprintf(&b, "| P5: controller CPU seconds, restart until settled | %.1f s |\n", r.cpuRestart)
	fmt.Fprintf(&b, "| ovn-northd CPU seconds, cold start until Ready | %.1f s |\n", r.stackCPU["ovn-northd"])
	fmt.Fprintf(&b, "| ovn-northd full recomputes, cold start until Ready | %d |\n", r.northdRecomputes)
	fmt.Fprintf(&b, "| ovn-northd's logical flows once caught up | %d |\n", r.logicalFlows)
	if len(r.stackCPU) > 0 {
		keys := slices.Sorted(maps.Keys(r.stackCPU))
		fmt.Fprintf(&b, "\nCPU seconds from the controller's start until everything was Ready (%.0f s × %d CPUs): ",
			r.readyDone.Seconds(), runtime.NumCPU())
		for i, k := range keys {
			if i > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "%s %.1f", k, r.stackCPU[k])
		}
		b.WriteString(".\n")
	}
	byRequest(&b, "API writes of the cold start by request (refused ones with their HTTP code)", r.apiWrites)
	byRequest(&b, "API reads of the same time by request (the benchmark's polls for Ready included)", r.apiReads)
	byRequest(&b, "The controller's writes of status and of recorded allocations (ovnet_writes_total) by kind, part and what they changed", r.patchWrites)
	byRequest(&b, "The controller's reconciles by controller until it settled (controller_runtime_reconcile_total)", r.reconciles)
	b.WriteString(`
Reading it: P1 divides the cold start by two floors of the same run: what
the NB database alone needs for these rows (written in bulk), and what the
API server alone needs for this API (each allocation its protocol records in
a user object's spec, the creates, the scheduler's bind of each Instance,
one status write per reporting object), issued by 16 parallel clients (the
fastest of two tries: on a shared machine one try alone moved from 43 to
84 s between runs). The API floor is the larger one: on 2 shared cores the
API server does about 250 writes a second. The controller sends about 1.07
times the floor's writes (an IP's address written into the IP after its
lock, since the lock names the IP's UID; the writes line by kind and change
says which, and the requests line which were refused), and every Network
passes through a chain of dependent requests (its ID and gateway address,
then its rows and status) before its NICs can be written; the restarted controller's peak RSS is its caches filled at once
(every NB row in one monitor reply, every object in its informers). The CPU
line shows where the time went: the machine is busy throughout (-progress
prints its busy share), the API server first, then the controller, northd
and the SB ovsdb-server. Neither floor includes northd: Debian's OVN 23.03
recomputes everything on every NB change (the recomputes row), so a
cheaper recompute only comes round more often, and on these 2 cores
northd and the SB server take about a quarter of the CPU while the cold
start runs. The logical flows row is what northd made of the rows: every
Network's router has its gateway port on the one provider switch, and
without dynamic_neigh_routers each router would hold a static neighbour
flow for every other router's port there, flows growing with the square
of the Networks (docs/ovn-mapping.md). The reconciles line says where the
controller's own work went (docs/benchmarks.md).
`)
	return b.String()
}

// benchCold measures P1, P2 and P5: the population is created with no
// controller running, then the controller binary starts, converges, and
// is restarted with nothing changed.
func benchCold(ctx context.Context, sc coldScale) (coldResult, error) {
	res := coldResult{scale: sc}
	env, err := devstack.StartEnv()
	if err != nil {
		return res, err
	}
	defer env.Stop()
	dir, err := os.MkdirTemp("/tmp", "bcold")
	if err != nil {
		return res, err
	}
	defer func() { _ = os.RemoveAll(dir) }()
	central, err := devstack.StartCentral(filepath.Join(dir, "ovn"))
	if err != nil {
		return res, err
	}
	defer central.Stop()
	watch, err := ovn.ConnectNB(ctx, ovn.Config{Endpoints: []string{central.NBEndpoint()}, Logger: logr.Discard()})
	if err != nil {
		return res, err
	}
	defer watch.Close()
	bin := filepath.Join(dir, "bin")
	if err := devstack.BuildBinaries(bin); err != nil {
		return res, err
	}

	start := time.Now()
	if err := createNodes(ctx, env.Client, sc); err != nil {
		return res, fmt.Errorf("create nodes: %w", err)
	}
	if err := createPopulation(ctx, env.Client, sc, coldNamespace, &res); err != nil {
		return res, fmt.Errorf("create population: %w", err)
	}
	res.created = time.Since(start)

	writesBefore, err := apiRequests(ctx, env.Config, writeVerbs)
	if err != nil {
		return res, err
	}
	readsBefore, err := apiRequests(ctx, env.Config, readVerbs)
	if err != nil {
		return res, err
	}
	ctl, err := startControllerProcess(filepath.Join(bin, "ovnet-controller"), env.Kubeconfig, central.NBEndpoint(), filepath.Join(dir, "controller.log"))
	if err != nil {
		return res, err
	}
	defer ctl.stop()
	stackBefore := stackCPU()
	northdCtl := filepath.Join(central.Dir, "northd.ctl")
	recomputesBefore, err := northdRecomputes(northdCtl)
	if err != nil {
		return res, err
	}
	t0 := time.Now()
	lastReport := t0
	lastBusy, lastTotal := machineTicks()
	if err := waitLong(200*time.Millisecond, func() (bool, error) {
		if showProgress && time.Since(lastReport) > 2*time.Second {
			busy, total := machineTicks()
			lastReport = time.Now()
			fmt.Fprintf(os.Stderr, "%5.1fs %s; machine busy %.0f%%\n", time.Since(t0).Seconds(), rowSummary(watch),
				100*float64(busy-lastBusy)/float64(max(total-lastTotal, 1)))
			lastBusy, lastTotal = busy, total
		}
		return expectedRows(watch, sc, res), nil
	}); err != nil {
		return res, fmt.Errorf("NB rows not complete (%s): %w", rowSummary(watch), err)
	}
	res.rowsDone = time.Since(t0)
	if err := waitLong(2*time.Second, func() (bool, error) { return allReady(ctx, env.Client) }); err != nil {
		return res, fmt.Errorf("not everything Ready: %w", err)
	}
	res.readyDone = time.Since(t0)
	res.stackCPU = stackCPU()
	for k, v := range stackBefore {
		res.stackCPU[k] -= v
	}
	res.stackCPU["ovnet-controller"] = ctl.cpuSeconds()
	recomputes, err := northdRecomputes(northdCtl)
	if err != nil {
		return res, err
	}
	res.northdRecomputes = recomputes - recomputesBefore
	if res.controllerTransactions, err = ctl.transactions(); err != nil {
		return res, err
	}
	// Trailing reconciles (status echoes) before the snapshot and the restart.
	if err := stable(func() int64 { t, _ := ctl.transactions(); return int64(t) }); err != nil {
		return res, err
	}
	res.cpuSeconds = ctl.cpuSeconds()
	res.peakRSS = ctl.peakRSS()
	if res.heapInUse, err = ctl.sum("go_memstats_heap_inuse_bytes"); err != nil {
		return res, err
	}
	if controllerPprof != "" {
		// The converged controller's live heap (after a forced GC), for go tool pprof.
		if err := saveURL("http://"+controllerPprof+"/debug/pprof/heap?gc=1", filepath.Join(os.TempDir(), "ovnet-controller-heap.pprof")); err != nil {
			return res, err
		}
	}
	writesAfter, err := apiRequests(ctx, env.Config, writeVerbs)
	if err != nil {
		return res, err
	}
	readsAfter, err := apiRequests(ctx, env.Config, readVerbs)
	if err != nil {
		return res, err
	}
	res.apiWrites, res.apiReads = since(writesBefore, writesAfter), since(readsBefore, readsAfter)
	if res.patchWrites, err = ctl.writes(); err != nil {
		return res, err
	}
	if res.reconciles, err = ctl.reconcilesByController(); err != nil {
		return res, err
	}

	// P2: restart with nothing changed, once northd has caught up: it
	// fills in NB columns of its own (a port's up), at 10k for minutes.
	if out, err := exec.Command("ovn-nbctl", "--db="+central.NBEndpoint(), "--wait=sb", "--timeout=900", "sync").CombinedOutput(); err != nil {
		return res, fmt.Errorf("ovn-nbctl --wait=sb sync: %v %s", err, out)
	}
	if res.logicalFlows, err = logicalFlows(central.SBEndpoint()); err != nil {
		return res, err
	}
	var changes atomic.Int64
	watch.Cache().AddEventHandler(rowChanges(&changes))
	if err := stable(changes.Load); err != nil {
		return res, err
	}
	changes.Store(0)
	ctl.stop()
	restartBefore, err := apiRequests(ctx, env.Config, writeVerbs)
	if err != nil {
		return res, err
	}
	t1 := time.Now()
	if ctl, err = startControllerProcess(filepath.Join(bin, "ovnet-controller"), env.Kubeconfig, central.NBEndpoint(), filepath.Join(dir, "controller-2.log")); err != nil {
		return res, err
	}
	defer ctl.stop()
	last, lastChange := -1.0, time.Now()
	if err := waitFor(func() bool {
		n, err := ctl.reconciles()
		if err != nil {
			return false
		}
		if n != last {
			last, lastChange = n, time.Now()
		}
		return n > 0 && time.Since(lastChange) > 2*time.Second
	}); err != nil {
		return res, fmt.Errorf("restarted controller did not settle: %w", err)
	}
	res.restartSettled = lastChange.Sub(t1)
	res.cpuRestart = ctl.cpuSeconds()
	res.peakRSSRestart = ctl.peakRSS()
	if res.restartTxns, err = ctl.transactions(); err != nil {
		return res, err
	}
	res.restartRowChanges = changes.Load()
	restartAfter, err := apiRequests(ctx, env.Config, writeVerbs)
	if err != nil {
		return res, err
	}
	for _, d := range since(restartBefore, restartAfter) {
		res.restartAPIWrites += d
	}
	ctl.stop()
	for i := range apiFloorTries {
		d, writes, err := apiFloor(ctx, env.Client, sc, fmt.Sprintf("%s-%d", floorNamespace, i+1))
		if err != nil {
			return res, err
		}
		res.apiFloorTries = append(res.apiFloorTries, d)
		if i == 0 || d < res.apiFloor {
			res.apiFloor = d
		}
		res.apiFloorWrites = writes
	}
	if p := ctl.peakRSS(); p > res.peakRSS {
		res.peakRSS = p
	}

	// Floor: the final rows, copied, written to a fresh NB database.
	snapshot := snapshotRows(watch)
	res.rows = len(snapshot)
	fresh, err := devstack.StartCentral(filepath.Join(dir, "floor"))
	if err != nil {
		return res, err
	}
	defer fresh.Stop()
	floorNB, err := ovn.ConnectNB(ctx, ovn.Config{Endpoints: []string{fresh.NBEndpoint()}, Logger: logr.Discard()})
	if err != nil {
		return res, err
	}
	defer floorNB.Close()
	t2 := time.Now()
	if res.floorTxns, err = writeBulk(ctx, floorNB, snapshot, 5000); err != nil {
		return res, fmt.Errorf("floor: %w", err)
	}
	res.floor = time.Since(t2)
	if got := len(snapshotRows(floorNB)); got != res.rows {
		return res, fmt.Errorf("floor database holds %d rows, want %d", got, res.rows)
	}
	return res, nil
}
