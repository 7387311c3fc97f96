// Command ovnet-controller runs ovnet's controllers in one
// controller-runtime manager: allocation of public IPs and network IDs,
// public-IP claims and their garbage collection.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/ovnet-dev/ovnet/apis/scheme"
	"github.com/ovnet-dev/ovnet/controllers/allocation"
)

// maxVNI is the largest VNI whose OVN router tunnel key (VNI + 2^23) is
// still valid (≤ 2^24-1); see docs/ovn-mapping.md.
const maxVNI = 1<<23 - 1

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func main() {
	var (
		publicPrefixes     listFlag
		minVNI, maxVNIFlag int64
		leaderElect        bool
		metricsAddr        string
		probeAddr          string
	)
	flag.Var(&publicPrefixes, "public-prefix", "public IP pool, e.g. 10.0.0.0/24; repeatable and comma-separated, both families, order kept")
	flag.Int64Var(&minVNI, "min-vni", 200, "lowest network ID (VNI) to allocate")
	flag.Int64Var(&maxVNIFlag, "max-vni", maxVNI, "highest network ID (VNI) to allocate; at most 8388607")
	flag.BoolVar(&leaderElect, "leader-elect", false, "run only while holding the leader lease (for several replicas)")
	flag.StringVar(&metricsAddr, "metrics-bind-address", ":8080", "address of the Prometheus metrics endpoint; 0 turns it off")
	flag.StringVar(&probeAddr, "health-probe-bind-address", ":8081", "address of the /healthz and /readyz endpoints")
	zapOpts := zap.Options{}
	zapOpts.BindFlags(flag.CommandLine)
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))
	log := ctrl.Log.WithName("setup")

	if err := run(ctrl.SetupSignalHandler(), publicPrefixes, minVNI, maxVNIFlag, leaderElect, metricsAddr, probeAddr); err != nil {
		log.Error(err, "ovnet-controller failed")
		os.Exit(1)
	}
}

func run(ctx context.Context, publicPrefixes []string, minVNI, maxVNIFlag int64, leaderElect bool, metricsAddr, probeAddr string) error {
	prefixes, err := allocation.ParsePrefixes(publicPrefixes)
	if err != nil {
		return err
	}
	if maxVNIFlag > maxVNI {
		return fmt.Errorf("--max-vni %d: at most %d, because OVN router tunnel keys are VNI + 2^23 and must stay below 2^24", maxVNIFlag, maxVNI)
	}
	idPool, err := allocation.NewIDPool(minVNI, maxVNIFlag)
	if err != nil {
		return err
	}
	mgr, err := ctrl.NewManager(ctrl.GetConfigOrDie(), ctrl.Options{
		Scheme:                 scheme.New(),
		Metrics:                metricsserver.Options{BindAddress: metricsAddr},
		HealthProbeBindAddress: probeAddr,
		LeaderElection:         leaderElect,
		LeaderElectionID:       "ovnet-controller.apinet.ironcore.dev",
	})
	if err != nil {
		return fmt.Errorf("manager: %w", err)
	}
	if err := allocation.Setup(ctx, mgr, allocation.Options{IPPool: allocation.NewIPPool(prefixes), IDPool: idPool}); err != nil {
		return fmt.Errorf("allocation controllers: %w", err)
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return err
	}
	ctrl.Log.WithName("setup").Info("starting", "publicPrefixes", prefixes, "vniRange", fmt.Sprintf("[%d, %d]", minVNI, maxVNIFlag))
	return mgr.Start(ctx)
}
