// Command ovnet-controller runs ovnet's controllers in one
// controller-runtime manager: allocation of public IPs and network IDs,
// public-IP claims and their garbage collection, NAT port blocks, load
// balancer placement, policy rules, and (with --ovn-nb) the translation of
// Networks, NetworkInterfaces, NATGateways, LoadBalancers and
// NetworkPolicies into OVN northbound rows.
package main

import (
	"context"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"runtime/debug"
	"strings"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/ovnet-dev/ovnet/apis/scheme"
	"github.com/ovnet-dev/ovnet/controllers"
	"github.com/ovnet-dev/ovnet/controllers/ipam"
	"github.com/ovnet-dev/ovnet/controllers/loadbalancer"
	"github.com/ovnet-dev/ovnet/controllers/nat"
	"github.com/ovnet-dev/ovnet/controllers/ovntranslate"
	"github.com/ovnet-dev/ovnet/controllers/policy"
	"github.com/ovnet-dev/ovnet/controllers/publicip"
	"github.com/ovnet-dev/ovnet/internal/logging"
	"github.com/ovnet-dev/ovnet/ovn"
	"github.com/ovnet-dev/ovnet/ovn/rows"
)

// maxVNI is the largest VNI whose OVN router tunnel key (VNI + 2^23) is
// still valid (≤ 2^24-1); see docs/ovn-mapping.md.
const maxVNI = rows.MaxVNI

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

type flags struct {
	publicPrefixes     listFlag
	minVNI, maxVNIFlag int64
	leaderElect        bool
	metricsAddr        string
	probeAddr          string
	pprofAddr          string
	kubeQPS            float64
	kubeBurst          int
	concurrency        int
	nb                 string
	sb                 string
	nbKey, nbCert      string
	nbCA               string
	provider           string
	transitPrefix      string
	nextHop            string
	transitPrefix6     string
	nextHop6           string
	guestMTU           int
	dnsServers         listFlag
}

func main() {
	var f flags
	flag.Var(&f.publicPrefixes, "public-prefix", "public IP pool, e.g. 10.0.0.0/24; repeatable and comma-separated, both families, order kept")
	flag.Int64Var(&f.minVNI, "min-vni", 200, "lowest network ID (VNI) to allocate")
	flag.Int64Var(&f.maxVNIFlag, "max-vni", maxVNI, "highest network ID (VNI) to allocate; at most 8388607")
	flag.BoolVar(&f.leaderElect, "leader-elect", false, "run only while holding the leader lease (for several replicas)")
	flag.StringVar(&f.metricsAddr, "metrics-bind-address", ":8080", "address of the Prometheus metrics endpoint; 0 turns it off")
	flag.StringVar(&f.probeAddr, "health-probe-bind-address", ":8081", "address of the /healthz and /readyz endpoints")
	flag.Float64Var(&f.kubeQPS, "kube-api-qps", 200, "requests per second to the Kubernetes API (client-side limit; the API server's priority and fairness still applies)")
	flag.IntVar(&f.kubeBurst, "kube-api-burst", 400, "requests above --kube-api-qps allowed in a burst")
	flag.IntVar(&f.concurrency, "concurrent-reconciles", 8, "objects of one kind reconciled at once (the load balancer scheduler always works one at a time; Networks four times as many)")
	flag.StringVar(&f.pprofAddr, "pprof-bind-address", "", "address of Go's /debug/pprof endpoints (profiling); empty: off")
	flag.StringVar(&f.nb, "ovn-nb", "", "OVN northbound endpoints, comma-separated (tcp:IP:PORT, ssl:IP:PORT, unix:PATH); empty: no OVN translation")
	flag.StringVar(&f.sb, "ovn-sb", "", "OVN southbound endpoints, comma-separated, read for load balancers' health checks (same TLS files as --ovn-nb); empty: no health checks")
	flag.StringVar(&f.nbKey, "ovn-nb-private-key", "", "client key (PEM) for ssl: endpoints")
	flag.StringVar(&f.nbCert, "ovn-nb-certificate", "", "client certificate (PEM) for ssl: endpoints")
	flag.StringVar(&f.nbCA, "ovn-nb-ca-cert", "", "CA certificate (PEM) that signed the NB server's certificate")
	flag.StringVar(&f.provider, "provider-network", "physnet1", "physical network name of the provider switch's localnet port (ovn-bridge-mappings)")
	flag.StringVar(&f.transitPrefix, "transit-prefix", "100.64.0.0/16", "prefix of the Networks' gateway-port addresses on the provider network")
	flag.StringVar(&f.nextHop, "provider-next-hop", "100.64.0.1", "upstream router on the transit prefix: the Networks' default route")
	flag.StringVar(&f.transitPrefix6, "transit-prefix-v6", "", "IPv6 prefix of the Networks' gateway-port addresses on the provider network, e.g. fd00:64::/64; empty: the provider network carries no IPv6")
	flag.StringVar(&f.nextHop6, "provider-next-hop-v6", "", "upstream router on --transit-prefix-v6: the Networks' IPv6 default route")
	flag.IntVar(&f.guestMTU, "guest-mtu", 1500, "MTU DHCP tells the guests (what the underlay carries after geneve's overhead); 0: not sent")
	flag.Var(&f.dnsServers, "dns-server", "DNS server DHCP tells the guests; repeatable and comma-separated; none: not sent")
	zapOpts := zap.Options{}
	zapOpts.BindFlags(flag.CommandLine)
	flag.Parse()
	// Values of loggers that write no line are never encoded (internal/logging).
	ctrl.SetLogger(logging.Lazy(zap.New(zap.UseFlagOptions(&zapOpts))))
	log := ctrl.Log.WithName("setup")
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(gcPercent)
	}

	if err := run(ctrl.SetupSignalHandler(), f); err != nil {
		log.Error(err, "ovnet-controller failed")
		os.Exit(1)
	}
}

// gcPercent is the controller's GOGC unless the environment sets one: the
// heap grows to 1.5 times the live heap between collections, not twice. At
// 10,000 NICs this holds a cold start's peak RSS to 280 MiB (354-371 with
// Go's default 100) and a restart's to 403 MiB (545-573), for about a third
// more of the controller's CPU during a cold start (docs/benchmarks.md).
const gcPercent = 50

func run(ctx context.Context, f flags) error {
	prefixes, err := ipam.ParsePrefixes(f.publicPrefixes)
	if err != nil {
		return err
	}
	if f.maxVNIFlag > maxVNI {
		return fmt.Errorf("--max-vni %d: at most %d, because OVN router tunnel keys are VNI + 2^23 and must stay below 2^24", f.maxVNIFlag, maxVNI)
	}
	idPool, err := ipam.NewIDPool(f.minVNI, f.maxVNIFlag)
	if err != nil {
		return err
	}
	cfg, err := ctrl.GetConfig()
	if err != nil {
		return fmt.Errorf("kubeconfig: %w", err)
	}
	// controller-runtime's default of 20 per second makes a cold start of
	// thousands of NICs wait on the client, not on the API server.
	cfg.QPS, cfg.Burst = float32(f.kubeQPS), f.kubeBurst
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 scheme.New(),
		Cache:                  controllers.CacheOptions(),
		Metrics:                metricsserver.Options{BindAddress: f.metricsAddr},
		HealthProbeBindAddress: f.probeAddr,
		PprofBindAddress:       f.pprofAddr,
		// Reconciles mostly wait on the API server and OVSDB: several at
		// once keep a cold start of thousands of objects from queueing.
		Controller:       config.Controller{MaxConcurrentReconciles: f.concurrency},
		LeaderElection:   f.leaderElect,
		LeaderElectionID: "ovnet-controller.apinet.ironcore.dev",
		// A replica that stops (a deleted pod, a rolling update) hands the
		// lease over at once rather than leaving the other replica to wait
		// out its 15 s; run returns as soon as the manager has stopped.
		LeaderElectionReleaseOnCancel: true,
	})
	if err != nil {
		return fmt.Errorf("manager: %w", err)
	}
	pool := ipam.NewIPPool(prefixes)
	if err := ipam.RegisterPoolMetrics(metrics.Registry, pool); err != nil {
		return err
	}
	// With OVN translation, the allocation controllers also take the
	// Networks' gateway-port addresses on the transit prefix.
	var provider rows.Provider
	var transit *ipam.Addresses
	if f.nb != "" {
		if provider, err = providerOf(f, prefixes); err != nil {
			return err
		}
		if transit, err = ovntranslate.NewTransit(ctx, mgr, provider); err != nil {
			return err
		}
	}
	if err := ipam.Setup(ctx, mgr, ipam.Options{IPPool: pool, IDPool: idPool, Transit: transit}); err != nil {
		return fmt.Errorf("allocation controllers: %w", err)
	}
	// The transit prefix is only known with OVN translation; the OVN
	// translator checks NAT IPs against it again.
	if err := nat.Setup(mgr, nat.Options{Scope: publicip.Scope{Public: prefixes}, ReportedWithReady: f.nb != ""}); err != nil {
		return fmt.Errorf("NAT gateway controllers: %w", err)
	}
	if err := loadbalancer.Setup(mgr); err != nil {
		return fmt.Errorf("load balancer controllers: %w", err)
	}
	if err := policy.Setup(mgr); err != nil {
		return fmt.Errorf("network policy controller: %w", err)
	}
	if f.nb != "" {
		if err := setupTranslation(ctx, mgr, f, provider, transit); err != nil {
			return err
		}
	} else {
		ctrl.Log.WithName("setup").Info("no --ovn-nb: nothing is written to OVN")
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return err
	}
	ctrl.Log.WithName("setup").Info("starting", "publicPrefixes", prefixes, "vniRange", fmt.Sprintf("[%d, %d]", f.minVNI, f.maxVNIFlag))
	return mgr.Start(ctx)
}

// providerOf reads the provider network from the flags.
func providerOf(f flags, public []netip.Prefix) (rows.Provider, error) {
	transit, err := netip.ParsePrefix(f.transitPrefix)
	if err != nil {
		return rows.Provider{}, fmt.Errorf("--transit-prefix: %w", err)
	}
	nextHop, err := netip.ParseAddr(f.nextHop)
	if err != nil || !transit.Contains(nextHop) {
		return rows.Provider{}, fmt.Errorf("--provider-next-hop %q must be an address in --transit-prefix %s", f.nextHop, transit)
	}
	provider := rows.Provider{PhysicalNetwork: f.provider, TransitPrefix: transit.Masked(), NextHop: nextHop, PublicPrefixes: public}
	if f.transitPrefix6 != "" || f.nextHop6 != "" {
		transit6, err := netip.ParsePrefix(f.transitPrefix6)
		if err != nil || !transit6.Addr().Is6() {
			return rows.Provider{}, fmt.Errorf("--transit-prefix-v6 %q: want an IPv6 prefix", f.transitPrefix6)
		}
		nextHop6, err := netip.ParseAddr(f.nextHop6)
		if err != nil || !transit6.Contains(nextHop6) {
			return rows.Provider{}, fmt.Errorf("--provider-next-hop-v6 %q must be an address in --transit-prefix-v6 %s", f.nextHop6, transit6)
		}
		provider.TransitPrefix6, provider.NextHop6 = transit6.Masked(), nextHop6
	}
	return provider, nil
}

// setupTranslation connects to the NB database and registers the OVN
// translation controllers.
func setupTranslation(ctx context.Context, mgr ctrl.Manager, f flags, provider rows.Provider, transit *ipam.Addresses) error {
	endpoints, err := ovn.ParseEndpoints(f.nb)
	if err != nil {
		return err
	}
	cfg := ovn.Config{Endpoints: endpoints, LeaderOnly: true, Logger: ctrl.Log.WithName("ovsdb"), Metrics: ovn.NewMetrics(metrics.Registry)}
	if f.nbKey != "" || f.nbCert != "" || f.nbCA != "" {
		if cfg.TLS, err = ovn.LoadTLS(f.nbKey, f.nbCert, f.nbCA); err != nil {
			return err
		}
	}
	nb, err := ovn.ConnectNB(ctx, cfg)
	if err != nil {
		return err
	}
	guest := rows.Guest{MTU: f.guestMTU}
	for _, list := range f.dnsServers {
		for _, s := range strings.Split(list, ",") {
			a, err := netip.ParseAddr(strings.TrimSpace(s))
			if err != nil {
				return fmt.Errorf("--dns-server %q: want an IP address", s)
			}
			guest.DNSServers = append(guest.DNSServers, a)
		}
	}
	opts := ovntranslate.Options{NB: nb, Guest: guest, Provider: provider, Transit: transit}
	if f.sb != "" {
		sbEndpoints, err := ovn.ParseEndpoints(f.sb)
		if err != nil {
			return fmt.Errorf("--ovn-sb: %w", err)
		}
		sbCfg := cfg
		sbCfg.Endpoints, sbCfg.LeaderOnly, sbCfg.Logger = sbEndpoints, false, ctrl.Log.WithName("ovsdb-sb")
		if opts.SB, err = ovn.ConnectSB(ctx, sbCfg); err != nil {
			return err
		}
	}
	return ovntranslate.Setup(ctx, mgr, opts)
}
