// Command ovnet-agent is ovnet's node agent: one per node, it registers the
// node's apinet Node with its OVN chassis name and attaches the node's
// NetworkInterfaces to OVN's br-int (see package nodeagent).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/k8snetworkplumbingwg/sriovnet"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	apinetv1alpha1 "github.com/ovnet-dev/ovnet/apis/core/v1alpha1"
	"github.com/ovnet-dev/ovnet/apis/scheme"
	"github.com/ovnet-dev/ovnet/internal/logging"
	"github.com/ovnet-dev/ovnet/nodeagent"
	"github.com/ovnet-dev/ovnet/ovn"
)

type labelFlag map[string]string

func (l labelFlag) String() string {
	var out []string
	for k, v := range l {
		out = append(out, k+"="+v)
	}
	return strings.Join(out, ",")
}

func (l labelFlag) Set(v string) error {
	for _, kv := range strings.Split(v, ",") {
		k, val, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return fmt.Errorf("%q is not key=value", kv)
		}
		l[k] = val
	}
	return nil
}

type flags struct {
	nodeName    string
	labels      labelFlag
	zone        string
	gateway     bool
	ovsDB       string
	bridge      string
	mode        string
	netns       string
	sriovPF     string
	sriovVFs    int
	hwOffload   bool
	metricsAddr string
	probeAddr   string
}

func main() {
	f := flags{labels: labelFlag{}}
	host, _ := os.Hostname()
	flag.StringVar(&f.nodeName, "node-name", host, "name of the apinet Node this agent registers and serves")
	flag.Var(f.labels, "node-label", "label key=value to set on the Node; repeatable and comma-separated")
	flag.StringVar(&f.zone, "zone", "", "sets the Node label "+apinetv1alpha1.LabelTopologyZone)
	flag.BoolVar(&f.gateway, "gateway", false, "offer this node's chassis for gateway ports (sets label "+apinetv1alpha1.LabelGateway+"=true)")
	flag.StringVar(&f.ovsDB, "ovs-db", "unix:/var/run/openvswitch/db.sock", "this host's Open_vSwitch database")
	flag.StringVar(&f.bridge, "bridge", "br-int", "OVN's integration bridge")
	flag.StringVar(&f.mode, "mode", "veth", "how NetworkInterfaces are carried: veth, or sriov (a VF each; see docs/sriov.md)")
	flag.StringVar(&f.sriovPF, "sriov-pf", "", "sriov mode: the PF, as PCI address (0000:3b:00.0) or netdev name; its eswitch must be in switchdev mode")
	flag.IntVar(&f.sriovVFs, "sriov-vfs", 0, "sriov mode: how many VFs of the PF the agent may use (VFs 0..n-1); 0: all")
	flag.BoolVar(&f.hwOffload, "hw-offload", false, "set other_config:hw-offload=true in Open_vSwitch (ovs-vswitchd must be restarted when this changes it)")
	flag.StringVar(&f.netns, "netns", "", "named network namespace of this node's OVS datapath where veth pairs are created (for a chassis in its own namespace, as in the local stack); empty: the agent's own")
	flag.StringVar(&f.metricsAddr, "metrics-bind-address", ":8090", "address of the Prometheus metrics endpoint; 0 turns it off")
	flag.StringVar(&f.probeAddr, "health-probe-bind-address", ":8091", "address of the /healthz and /readyz endpoints")
	zapOpts := zap.Options{}
	zapOpts.BindFlags(flag.CommandLine)
	flag.Parse()
	// Values of loggers that write no line are never encoded (internal/logging).
	ctrl.SetLogger(logging.Lazy(zap.New(zap.UseFlagOptions(&zapOpts))))
	if err := run(ctrl.SetupSignalHandler(), f); err != nil {
		ctrl.Log.WithName("setup").Error(err, "ovnet-agent failed")
		os.Exit(1)
	}
}

func run(ctx context.Context, f flags) error {
	if f.nodeName == "" {
		return fmt.Errorf("--node-name is empty and the host name is unknown")
	}
	if f.zone != "" {
		f.labels[apinetv1alpha1.LabelTopologyZone] = f.zone
	}
	if f.gateway {
		f.labels[apinetv1alpha1.LabelGateway] = "true"
	}
	// Devices first: a PF that is not usable is refused before anything
	// else. Their view of br-int comes from the OVS client made below.
	var ovs *ovn.Client
	devices, err := devicesFor(f, func() *ovn.Client { return ovs })
	if err != nil {
		return err
	}
	endpoints, err := ovn.ParseEndpoints(f.ovsDB)
	if err != nil {
		return fmt.Errorf("--ovs-db: %w", err)
	}
	ovs, err = ovn.ConnectOVS(ctx, ovn.Config{Endpoints: endpoints, Logger: ctrl.Log.WithName("ovsdb"), Metrics: ovn.NewMetrics(metrics.Registry)})
	if err != nil {
		return err
	}
	defer ovs.Close()
	if f.hwOffload {
		changed, err := nodeagent.EnableHWOffload(ctx, ovs)
		if err != nil {
			return err
		}
		if changed {
			ctrl.Log.WithName("setup").Info("WARNING: set other_config:hw-offload=true; restart ovs-vswitchd for it to take effect")
		}
	}
	mgr, err := ctrl.NewManager(ctrl.GetConfigOrDie(), ctrl.Options{
		Scheme:                 scheme.New(),
		Cache:                  nodeagent.CacheOptions(f.nodeName),
		Metrics:                metricsserver.Options{BindAddress: f.metricsAddr},
		HealthProbeBindAddress: f.probeAddr,
	})
	if err != nil {
		return fmt.Errorf("manager: %w", err)
	}
	if err := nodeagent.Setup(mgr, nodeagent.Options{
		NodeName: f.nodeName, Labels: f.labels, OVS: ovs, Bridge: f.bridge, Devices: devices,
	}); err != nil {
		return err
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return err
	}
	ctrl.Log.WithName("setup").Info("starting", "node", f.nodeName, "labels", f.labels, "ovs", f.ovsDB, "mode", f.mode)
	return mgr.Start(ctx)
}

// devicesFor builds the device backend of --mode.
func devicesFor(f flags, ovs func() *ovn.Client) (nodeagent.Devices, error) {
	switch f.mode {
	case "veth":
		return &nodeagent.Veth{NetNS: f.netns}, nil
	case "sriov":
		pf := f.sriovPF
		if pf == "" {
			return nil, fmt.Errorf("--mode sriov needs --sriov-pf")
		}
		if !strings.Contains(pf, ":") {
			pci, err := sriovnet.GetPciFromNetDevice(pf)
			if err != nil {
				return nil, fmt.Errorf("--sriov-pf %s: %w", pf, err)
			}
			pf = pci
		}
		if err := nodeagent.CheckSwitchdev(pf, nodeagent.EswitchMode); err != nil {
			return nil, err
		}
		vfs, err := nodeagent.NewPFVFs(pf)
		if err != nil {
			return nil, err
		}
		n := f.sriovVFs
		if n <= 0 {
			for {
				if _, err := vfs.PCIAddress(n); err != nil {
					break
				}
				n++
			}
		}
		if n == 0 {
			return nil, fmt.Errorf("PF %s has no VFs: create them (echo N > /sys/bus/pci/devices/%s/sriov_numvfs)", pf, pf)
		}
		ctrl.Log.WithName("setup").Info("SR-IOV", "pf", pf, "uplink", vfs.Uplink(), "vfs", n)
		return &nodeagent.SRIOV{VFs: vfs, MaxVFs: n, Links: nodeagent.NetlinkOps{}, Plugged: func() map[string]types.UID { return nodeagent.PluggedFromOVS(ovs())() }}, nil
	}
	return nil, fmt.Errorf("--mode %q: veth or sriov", f.mode)
}
