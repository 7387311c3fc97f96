// Command bench measures ovnet against real components and prints figures
// (make bench). Entries:
//
//	cold:  P1 cold convergence of a population (-scale) created while no
//	       controller runs, against the floor of the same rows written in
//	       bulk; P2 a restart with nothing changed; P5 the controller
//	       process's peak RSS and CPU seconds.
//	alloc: public IPs allocated per second end to end (IP created → spec.ip
//	       set) at 10%, 50% and 95% fill of a pool, and the candidates
//	       tried per allocated IP, on a real kube-apiserver.
//	nic:   latency from a NIC's creation to its port in NB at a given
//	       scale (P3), and NB transactions of restarted controllers (P2).
//	nat:   snat rows written per NIC added to or removed from a NAT gateway
//	       that already NATs thousands of NICs (goal: exactly one), with
//	       real OVN NB + northd.
package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	_ "net/http/pprof"
	"net/netip"
	"os"
	"runtime"
	"runtime/pprof"
	"strings"
	"time"

	"go.uber.org/zap/zapcore"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
)

func main() {
	pool := flag.String("pool", "10.128.0.0/16", "public prefix of the allocation benchmark")
	perStep := flag.Int("ips", 300, "IPs allocated at each fill level")
	natNICs := flag.Int("nat-nics", 5000, "NATed NICs before the NAT churn")
	natChurn := flag.Int("nat-churn", 100, "NICs added and removed in the NAT churn")
	nicBase := flag.Int("nic-base", 2000, "NICs that exist before the NIC latency samples and the restart")
	nicSamples := flag.Int("nic-samples", 200, "NICs created one at a time for the latency percentiles")
	scale := flag.String("scale", "1k", "population of the cold entry and default size of the others: 1k (minutes), 10k or 30k (by hand, longer)")
	entries := flag.String("run", "cold,alloc,nat,nic", "entries to run, comma-separated")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the benchmark process (controllers included) to this file")
	pprofAddr := flag.String("pprof", "", "serve net/http/pprof on this address (e.g. 127.0.0.1:6060) while running")
	flag.BoolVar(&showProgress, "progress", false, "print the cold entry's NB rows every two seconds while it converges")
	flag.StringVar(&controllerPprof, "controller-pprof", "", "the cold entry's controller process serves /debug/pprof on this address")
	ctlArgs := flag.String("controller-args", "", "extra flags for the cold entry's controller, space-separated")
	ctlEnv := flag.String("controller-env", "", "extra environment of the cold entry's controller, space-separated NAME=value (e.g. GOMEMLIMIT=256MiB)")
	out := flag.String("out", "", "also write the results as Markdown to this file")
	flag.Parse()
	controllerArgs, controllerEnv = strings.Fields(*ctlArgs), strings.Fields(*ctlEnv)
	sc, ok := scales[*scale]
	if !ok {
		fail(fmt.Errorf("-scale %q: want 1k, 10k or 30k", *scale))
	}
	// The other entries follow the scale unless set; one NAT gateway's
	// table holds about 7,000 NICs, so the NAT churn stops at 5,000.
	set := map[string]bool{}
	flag.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if !set["nic-base"] {
		*nicBase = sc.NICs
	}
	if !set["nat-nics"] {
		*natNICs = min(sc.NICs, 5000)
	}
	ctrl.SetLogger(zap.New(zap.Level(zapcore.ErrorLevel)))
	prefix, err := netip.ParsePrefix(*pool)
	if err != nil {
		fail(err)
	}
	if *pprofAddr != "" {
		go func() { _ = http.ListenAndServe(*pprofAddr, nil) }()
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fail(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fail(err)
		}
		defer pprof.StopCPUProfile()
	}
	ctx := context.Background()
	run := map[string]bool{}
	for _, e := range strings.Split(*entries, ",") {
		run[strings.TrimSpace(e)] = true
	}
	var table string
	if run["cold"] {
		res, err := benchCold(ctx, sc)
		if err != nil {
			fail(err)
		}
		fmt.Print(res.markdown())
		table += res.markdown() + "\n"
	}
	if run["alloc"] {
		res, err := benchAlloc(ctx, prefix, []float64{0.10, 0.50, 0.95}, *perStep)
		if err != nil {
			fail(err)
		}
		fmt.Print(res.markdown())
		table += res.markdown()
	}
	if run["nic"] {
		res, err := benchNIC(ctx, *nicBase, *nicSamples)
		if err != nil {
			fail(err)
		}
		fmt.Print("\n" + res.markdown())
		table += "\n" + res.markdown()
	}
	if run["nat"] {
		res, err := benchNAT(ctx, *natNICs, *natChurn)
		if err != nil {
			fail(err)
		}
		fmt.Print("\n" + res.markdown())
		table += "\n" + res.markdown()
	}
	if *out != "" {
		doc := "# Benchmarks\n\nWritten by `make bench` (test/bench). " + machine() + "\n\n" + table
		if err := os.WriteFile(*out, []byte(doc), 0o644); err != nil {
			fail(err)
		}
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "bench:", err)
	os.Exit(1)
}

func machine() string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "model name") {
				model = strings.TrimSpace(strings.SplitN(l, ":", 2)[1])
				break
			}
		}
	}
	return fmt.Sprintf("Machine: %d CPUs (%s), %s, measured %s; figures are from one run, ratios compare steps of that run.",
		runtime.NumCPU(), model, runtime.Version(), time.Now().UTC().Format("2006-01-02"))
}
