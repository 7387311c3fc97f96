package devstack

import (
	"context"
	"net/netip"
	"sync/atomic"

	"github.com/go-logr/logr"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/config"
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
	"github.com/ovnet-dev/ovnet/nodeagent"
	"github.com/ovnet-dev/ovnet/ovn"
	"github.com/ovnet-dev/ovnet/ovn/rows"
)

// InProcess is ovnet-controller's controllers (allocation and OVN
// translation) running inside a test process.
type InProcess struct {
	NB     *ovn.Client
	SB     *ovn.Client
	cancel context.CancelFunc
	done   chan struct{}
	synced atomic.Bool
}

// StartInProcess runs the controllers against the API server of cfg and the
// NB and SB databases of central, with VNIs from [minVNI, maxVNI].
func StartInProcess(cfg *rest.Config, central *Central, provider rows.Provider, minVNI, maxVNI int64) (*InProcess, error) {
	ctx, cancel := context.WithCancel(context.Background())
	nb, err := ovn.ConnectNB(ctx, ovn.Config{Endpoints: []string{central.NBEndpoint()}, Logger: logr.Discard()})
	if err != nil {
		cancel()
		return nil, err
	}
	sb, err := ovn.ConnectSB(ctx, ovn.Config{Endpoints: []string{central.SBEndpoint()}, Logger: logr.Discard()})
	if err != nil {
		cancel()
		nb.Close()
		return nil, err
	}
	skip := true
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{Scheme: scheme.New(), Metrics: metricsserver.Options{BindAddress: "0"},
		Cache: controllers.CacheOptions(),
		// Tests start several managers in one process.
		// As the binary's default --concurrent-reconciles.
		Controller: config.Controller{SkipNameValidation: &skip, MaxConcurrentReconciles: 8}})
	if err != nil {
		cancel()
		nb.Close()
		sb.Close()
		return nil, err
	}
	ids, err := ipam.NewIDPool(minVNI, maxVNI)
	var transit *ipam.Addresses
	if err == nil {
		transit, err = ovntranslate.NewTransit(ctx, mgr, provider)
	}
	if err == nil {
		err = ipam.Setup(ctx, mgr, ipam.Options{IPPool: ipam.NewIPPool(provider.PublicPrefixes), IDPool: ids, Transit: transit})
	}
	if err == nil {
		err = nat.Setup(mgr, nat.Options{Scope: publicip.Scope{Public: provider.PublicPrefixes, Transit: provider.TransitPrefixes()}, ReportedWithReady: true})
	}
	if err == nil {
		err = loadbalancer.Setup(mgr)
	}
	if err == nil {
		err = policy.Setup(mgr)
	}
	if err == nil {
		err = ovntranslate.Setup(ctx, mgr, ovntranslate.Options{NB: nb, SB: sb, Provider: provider, Guest: TestGuest(), Transit: transit})
	}
	if err != nil {
		cancel()
		nb.Close()
		sb.Close()
		return nil, err
	}
	p := &InProcess{NB: nb, SB: sb, cancel: cancel, done: make(chan struct{})}
	go func() { _ = mgr.Start(ctx); close(p.done) }()
	go func() { p.synced.Store(mgr.GetCache().WaitForCacheSync(ctx)) }()
	return p, nil
}

// Synced reports whether the controllers' caches have synced.
func (p *InProcess) Synced() bool { return p.synced.Load() }

// Reconciles is the number of reconciles the controllers of this process
// have run so far (controller-runtime's reconcile_total over every
// controller): when it stops moving, they have settled.
func Reconciles() float64 {
	families, err := metrics.Registry.Gather()
	if err != nil {
		return -1
	}
	total := 0.0
	for _, f := range families {
		if f.GetName() == "controller_runtime_reconcile_total" {
			for _, m := range f.GetMetric() {
				total += m.GetCounter().GetValue()
			}
		}
	}
	return total
}

// Stop stops the controllers and closes the NB connection.
func (p *InProcess) Stop() {
	if p.cancel == nil {
		return
	}
	p.cancel()
	<-p.done
	p.NB.Close()
	p.SB.Close()
	p.cancel = nil
}

// TestProvider is the provider network of the tests and of make run.
func TestProvider() rows.Provider {
	return rows.Provider{
		PhysicalNetwork: "physnet1",
		TransitPrefix:   netip.MustParsePrefix("100.64.0.0/16"),
		NextHop:         netip.MustParseAddr("100.64.0.1"),
		TransitPrefix6:  netip.MustParsePrefix("fd00:64::/64"),
		NextHop6:        netip.MustParseAddr("fd00:64::1"),
		PublicPrefixes:  []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24"), netip.MustParsePrefix("2001:db8:113::/64")},
	}
}

// TestGuest is what DHCP tells the test stack's guests: an MTU below the
// veths' 1500 and a DNS server (none runs), so that the tests see the guest
// learn both.
func TestGuest() rows.Guest {
	return rows.Guest{MTU: 1400, DNSServers: []netip.Addr{netip.MustParseAddr("192.0.2.53")}}
}

// Agent is ovnet-agent running inside a test process for one chassis.
type Agent struct {
	OVS    *ovn.Client
	cancel context.CancelFunc
	done   chan struct{}
}

// StartInProcessAgent runs the node agent of ch (Node name = chassis name)
// in veth mode against the API server of cfg; the Node gets labels.
func StartInProcessAgent(cfg *rest.Config, ch *Chassis, labels map[string]string) (*Agent, error) {
	ctx, cancel := context.WithCancel(context.Background())
	ovs, err := ovn.ConnectOVS(ctx, ovn.Config{Endpoints: []string{ch.Endpoint()}, Logger: logr.Discard()})
	if err != nil {
		cancel()
		return nil, err
	}
	skip := true
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{Scheme: scheme.New(), Metrics: metricsserver.Options{BindAddress: "0"},
		Cache:      nodeagent.CacheOptions(ch.Name),
		Controller: config.Controller{SkipNameValidation: &skip}})
	if err == nil {
		err = nodeagent.Setup(mgr, nodeagent.Options{NodeName: ch.Name, Labels: labels, OVS: ovs, Devices: &nodeagent.Veth{NetNS: ch.NetNS}})
	}
	if err != nil {
		cancel()
		ovs.Close()
		return nil, err
	}
	a := &Agent{OVS: ovs, cancel: cancel, done: make(chan struct{})}
	go func() { _ = mgr.Start(ctx); close(a.done) }()
	return a, nil
}

// Stop stops the agent (its devices stay, as when a real agent restarts).
func (a *Agent) Stop() {
	if a.cancel == nil {
		return
	}
	a.cancel()
	<-a.done
	a.OVS.Close()
	a.cancel = nil
}
