package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	pmodel "github.com/prometheus/common/model"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// showProgress (-progress) prints the rows reached every two seconds
// while the cold start converges.
var showProgress bool

// controllerPprof, when set (-controller-pprof), is where the controller
// process serves /debug/pprof.
var (
	controllerPprof string
	// controllerArgs are added to the cold entry's controller command line
	// (to compare flags such as --kube-api-qps in paired runs).
	controllerArgs []string
	// controllerEnv is added to its environment (e.g. GOMEMLIMIT).
	controllerEnv []string
)

// controllerProcess is ovnet-controller running as its own process, so
// that its memory and CPU are its own.
type controllerProcess struct {
	cmd     *exec.Cmd
	metrics string
	done    chan struct{}
}

func startControllerProcess(bin, kubeconfig, nb, logFile string) (*controllerProcess, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	log, err := os.Create(logFile)
	if err != nil {
		return nil, err
	}
	p := &controllerProcess{metrics: fmt.Sprintf("127.0.0.1:%d", port), done: make(chan struct{})}
	p.cmd = exec.Command(bin, "--kubeconfig", kubeconfig, "--ovn-nb", nb,
		"--public-prefix", "198.18.0.0/15", "--metrics-bind-address", p.metrics, "--health-probe-bind-address", "0",
		"--zap-log-level", "error")
	if controllerPprof != "" {
		p.cmd.Args = append(p.cmd.Args, "--pprof-bind-address", controllerPprof)
	}
	p.cmd.Args = append(p.cmd.Args, controllerArgs...)
	p.cmd.Env = append(os.Environ(), controllerEnv...)
	p.cmd.Stdout, p.cmd.Stderr = log, log
	if err := p.cmd.Start(); err != nil {
		_ = log.Close()
		return nil, err
	}
	go func() { _ = p.cmd.Wait(); _ = log.Close(); close(p.done) }()
	if err := waitFor(func() bool { _, err := p.scrape(); return err == nil }); err != nil {
		p.stop()
		out, _ := os.ReadFile(logFile)
		return nil, fmt.Errorf("controller serves no metrics: %s", out)
	}
	return p, nil
}

func (p *controllerProcess) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// scrape reads the process's Prometheus metrics.
func (p *controllerProcess) scrape() (map[string]*dto.MetricFamily, error) {
	resp, err := http.Get("http://" + p.metrics + "/metrics")
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	return parseMetrics(resp.Body)
}

// sum adds the samples of a metric family (every label set): counters,
// gauges, and a histogram's count.
func (p *controllerProcess) sum(name string) (float64, error) {
	families, err := p.scrape()
	if err != nil {
		return 0, err
	}
	total := 0.0
	if f := families[name]; f != nil {
		for _, m := range f.GetMetric() {
			total += m.GetCounter().GetValue() + m.GetGauge().GetValue() + float64(m.GetHistogram().GetSampleCount())
		}
	}
	return total, nil
}

func parseMetrics(r io.Reader) (map[string]*dto.MetricFamily, error) {
	parser := expfmt.NewTextParser(pmodel.UTF8Validation)
	return parser.TextToMetricFamilies(r)
}

// transactions is the NB transactions the process committed (the count
// of its transaction-latency histogram).
func (p *controllerProcess) transactions() (float64, error) {
	return p.sum("ovnet_ovsdb_transaction_duration_seconds")
}

// writes is ovnet_writes_total by "kind part change".
func (p *controllerProcess) writes() (map[string]float64, error) {
	return p.byLabels("ovnet_writes_total", "kind", "part", "change")
}

// reconcilesByController is controller_runtime_reconcile_total by
// controller: where
// the reconciles went, wasted ones included.
func (p *controllerProcess) reconcilesByController() (map[string]float64, error) {
	return p.byLabels("controller_runtime_reconcile_total", "controller")
}

// byLabels sums a counter by the values of the given labels, joined by
// spaces.
func (p *controllerProcess) byLabels(name string, keys ...string) (map[string]float64, error) {
	families, err := p.scrape()
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	for _, m := range families[name].GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		values := make([]string, len(keys))
		for i, k := range keys {
			values[i] = labels[k]
		}
		out[strings.Join(values, " ")] += m.GetCounter().GetValue()
	}
	return out, nil
}

func (p *controllerProcess) reconciles() (float64, error) {
	return p.sum("controller_runtime_reconcile_total")
}

// cpuSeconds is user + system time from /proc/<pid>/stat.
func (p *controllerProcess) cpuSeconds() float64 { return cpuSecondsOf(p.cmd.Process.Pid) }

// cpuSecondsOf is a process's user + system time from /proc/<pid>/stat.
func cpuSecondsOf(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return -1
	}
	// Fields after the command name (which may hold spaces) start at ") ".
	fields := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	utime, _ := strconv.ParseFloat(fields[11], 64)
	stime, _ := strconv.ParseFloat(fields[12], 64)
	const clockTicks = 100 // USER_HZ on Linux
	return (utime + stime) / clockTicks
}

// peakRSS is VmHWM from /proc/<pid>/status.
func (p *controllerProcess) peakRSS() int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return -1
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmHWM:") {
			kb, _ := strconv.ParseInt(strings.Fields(l)[1], 10, 64)
			return kb << 10
		}
	}
	return -1
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// writeVerbs and readVerbs are apiserver_request_total's verbs of writes
// and of reads (watches are neither).
var (
	writeVerbs = []string{"POST", "PUT", "PATCH", "DELETE"}
	readVerbs  = []string{"GET", "LIST"}
)

// apiRequests reads the API server's apiserver_request_total and returns
// the requests of the given verbs by verb and resource/subresource, but the
// API server's renewals of its own Lease.
func apiRequests(ctx context.Context, cfg *rest.Config, verbs []string) (map[string]float64, error) {
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	body, err := cs.RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		return nil, err
	}
	families, err := parseMetrics(bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	for _, m := range families["apiserver_request_total"].GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		if !slices.Contains(verbs, labels["verb"]) {
			continue
		}
		if labels["resource"] == "leases" {
			continue // the API server's own identity Lease, renewed every few seconds
		}
		key := labels["verb"] + " " + labels["resource"]
		if labels["subresource"] != "" {
			key += "/" + labels["subresource"]
		}
		if code := labels["code"]; code != "" && code[0] != '2' {
			// Refused writes count too (a conflict is a write the API
			// server did, for nothing): say which.
			key += " (" + code + ")"
		}
		out[key] += m.GetCounter().GetValue()
	}
	return out, nil
}

// since is after minus before, by key, for the keys that grew.
func since(before, after map[string]float64) map[string]float64 {
	out := map[string]float64{}
	for k, v := range after {
		if d := v - before[k]; d > 0 {
			out[k] = d
		}
	}
	return out
}

func saveURL(url, path string) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

// stackCPU is the CPU seconds of the stack's processes by command name
// (kube-apiserver, etcd, kube-controller-manager, ovsdb-server, ovn-northd),
// read from /proc: where a run's CPU went.
func stackCPU() map[string]float64 {
	out := map[string]float64{}
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
		if err != nil {
			continue
		}
		switch name := strings.TrimSpace(string(comm)); name {
		case "kube-apiserver", "etcd", "kube-controller", "ovn-northd":
			out[name] += cpuSecondsOf(pid)
		case "ovsdb-server":
			// NB and SB apart: the SB server takes northd's flows.
			cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
			switch {
			case strings.Contains(string(cmdline), "/nb.ctl"):
				name += " NB"
			case strings.Contains(string(cmdline), "/sb.ctl"):
				name += " SB"
			}
			out[name] += cpuSecondsOf(pid)
		}
	}
	return out
}

// machineTicks are the machine's busy and total CPU ticks so far (the
// first line of /proc/stat): the share busy between two readings says
// whether a phase of the run waited on something other than the CPU.
func machineTicks() (busy, total int64) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	for i, f := range strings.Fields(line)[1:] {
		n, _ := strconv.ParseInt(f, 10, 64)
		total += n
		if i != 3 && i != 4 { // idle and iowait
			busy += n
		}
	}
	return busy, total
}

// northdRecomputes is how often ovn-northd has recomputed everything
// (its engine node "northd"; Debian's 23.03 recomputes on every NB change),
// read from its control socket.
func northdRecomputes(ctl string) (int, error) {
	out, err := exec.Command("ovn-appctl", "-t", ctl, "inc-engine/show-stats").CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("ovn-appctl inc-engine/show-stats: %v: %s", err, out)
	}
	node := ""
	for _, l := range strings.Split(string(out), "\n") {
		if name, ok := strings.CutPrefix(l, "Node: "); ok {
			node = strings.TrimSpace(name)
			continue
		}
		if n, ok := strings.CutPrefix(strings.TrimSpace(l), "- recompute:"); ok && node == "northd" {
			return strconv.Atoi(strings.TrimSpace(n))
		}
	}
	return 0, fmt.Errorf("no recompute count of node northd in %q", out)
}

// logicalFlows counts the Logical_Flow rows of the SB database at sb (a
// select of their UUIDs only: a select drops duplicate rows, so it needs
// one column that differs).
func logicalFlows(sb string) (int, error) {
	out, err := exec.Command("ovsdb-client", "query", sb,
		`["OVN_Southbound",{"op":"select","table":"Logical_Flow","where":[],"columns":["_uuid"]}]`).CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("ovsdb-client query Logical_Flow: %v: %.200s", err, out)
	}
	var reply []struct {
		Rows []json.RawMessage `json:"rows"`
	}
	if err := json.Unmarshal(out, &reply); err != nil || len(reply) != 1 {
		return 0, fmt.Errorf("ovsdb-client query Logical_Flow: %v: %.200s", err, out)
	}
	return len(reply[0].Rows), nil
}
