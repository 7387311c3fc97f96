// Command kubectl-ovnet is a kubectl plugin ("kubectl ovnet ..." when it is
// on PATH) that explains ovnet's objects in the API's own terms.
//
//	kubectl ovnet status [-n NS | -A] [-o json]
//	kubectl ovnet trace [-n NS] NIC --to ADDR[:PORT][/tcp|udp|icmp] [-o json]
//	kubectl ovnet trace [-n NS] --from-external [--source ADDR] --to PUBLIC[:PORT]
//
// status prints per Network its VNI, its OVN router and switch, how many of
// its NetworkInterfaces are Ready, Pending or in error, the chassis its
// gateway port is active on, and every object of the namespace that
// reports a problem with its condition's message. trace runs ovn-trace for
// a new connection from a NIC (or from the provider network to a public IP
// or VIP) and names every decision by its object. It
// reads the kubeconfig as kubectl does and the OVN databases from --ovn-nb,
// --ovn-sb or OVN_NB_DB, OVN_SB_DB.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/go-logr/logr"
	"github.com/ovn-kubernetes/libovsdb/model"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	apinetv1alpha1 "github.com/ovnet-dev/ovnet/apis/core/v1alpha1"
	"github.com/ovnet-dev/ovnet/apis/scheme"
	"github.com/ovnet-dev/ovnet/ovn"
	"github.com/ovnet-dev/ovnet/ovn/nbdb"
	"github.com/ovnet-dev/ovnet/ovn/rows"
	"github.com/ovnet-dev/ovnet/ovn/sbdb"
)

const usage = `usage:
  kubectl ovnet status [-n NAMESPACE | -A] [-o json] [--kubeconfig FILE] [--ovn-sb ENDPOINTS]
  kubectl ovnet trace [-n NAMESPACE] NIC --to ADDR[:PORT][/tcp|udp|icmp] [-o json] [--ovn-nb ENDPOINTS] [--ovn-sb ENDPOINTS]
  kubectl ovnet trace [-n NAMESPACE] --from-external [--source ADDR] --to PUBLIC[:PORT][/tcp|udp|icmp] [-o json]

status: per Network its VNI, OVN router and switch, its NetworkInterfaces
(Ready/Pending/Error), the chassis of its active gateway port, and the
objects that report a problem. The SB database (--ovn-sb, default $OVN_SB_DB)
tells the gateway chassis; without it that column is empty.

trace: the path of a new connection (a ping without a port) from NIC to
ADDR, or from the provider network to a public IP or VIP, through OVN (ovn-trace, from ovn-central, on PATH), each decision named
by its object: the NetworkPolicy rule or default deny, the LoadBalancer, the
NATGateway or public IP, and where it ends (a NIC on its node, the provider
network, or dropped). Needs both databases ($OVN_NB_DB, $OVN_SB_DB).
`

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "kubectl-ovnet:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, out io.Writer) error {
	if len(args) == 0 || args[0] != "status" && args[0] != "trace" {
		return errors.New(usage)
	}
	cmd := args[0]
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	namespace := fs.String("n", "", "namespace (default: the kubeconfig context's)")
	fs.StringVar(namespace, "namespace", "", "namespace (default: the kubeconfig context's)")
	all := fs.Bool("A", false, "status: every namespace")
	output := fs.String("o", "", "output: json, or text when empty")
	kubeconfig := fs.String("kubeconfig", "", "kubeconfig file (default: $KUBECONFIG or ~/.kube/config)")
	sbFlag := fs.String("ovn-sb", os.Getenv("OVN_SB_DB"), "OVN southbound endpoints (tcp:IP:PORT, unix:PATH, ...)")
	nbFlag := fs.String("ovn-nb", os.Getenv("OVN_NB_DB"), "trace: OVN northbound endpoints")
	to := fs.String("to", "", "trace: destination ADDR[:PORT][/tcp|udp|icmp] ([ADDR]:PORT for IPv6)")
	external := fs.Bool("from-external", false, "trace: from the provider network (--source) to a public IP or VIP of the namespace, instead of from a NIC")
	source := fs.String("source", "192.0.2.10", "trace --from-external: the outside client's address")
	// Flags and arguments in any order, as kubectl takes them.
	var positional []string
	for rest := args[1:]; ; {
		if err := fs.Parse(rest); err != nil {
			return err
		}
		if fs.NArg() == 0 {
			break
		}
		positional, rest = append(positional, fs.Arg(0)), fs.Args()[1:]
	}
	var nicName string
	if cmd == "trace" && len(positional) == 1 {
		nicName = positional[0]
	} else if len(positional) > 0 {
		return errors.New(usage)
	}
	loading := clientcmd.NewDefaultClientConfigLoadingRules()
	loading.ExplicitPath = *kubeconfig
	loader := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(loading, &clientcmd.ConfigOverrides{})
	cfg, err := loader.ClientConfig()
	if err != nil {
		return fmt.Errorf("kubeconfig: %w", err)
	}
	ns := *namespace
	if ns == "" && !*all {
		if ns, _, err = loader.Namespace(); err != nil {
			return err
		}
	}
	if *all {
		ns = ""
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme.New()})
	if err != nil {
		return err
	}
	var report interface{ print(io.Writer) error }
	switch cmd {
	case "status":
		var sb *ovn.Client
		if *sbFlag != "" {
			if sb, err = connect(ctx, "--ovn-sb", *sbFlag, sbdb.FullDatabaseModel, ovn.Tables{&sbdb.PortBinding{}, &sbdb.Chassis{}}); err != nil {
				return err
			}
			defer sb.Close()
		}
		if report, err = status(ctx, c, sb, ns); err != nil {
			return err
		}
	case "trace":
		if nicName == "" && !*external || nicName != "" && *external || *to == "" {
			return errors.New("usage: kubectl ovnet trace [-n NS] (NIC | --from-external [--source ADDR]) --to ADDR[:PORT][/tcp|udp|icmp]")
		}
		if *sbFlag == "" || *nbFlag == "" {
			return errors.New("trace needs the NB and SB databases: --ovn-nb and --ovn-sb (or OVN_NB_DB, OVN_SB_DB)")
		}
		dst, port, proto, err := parseDestination(*to)
		if err != nil {
			return err
		}
		sb, err := connect(ctx, "--ovn-sb", *sbFlag, sbdb.FullDatabaseModel,
			ovn.Tables{&sbdb.PortBinding{}, &sbdb.Chassis{}, &sbdb.LogicalFlow{}})
		if err != nil {
			return err
		}
		defer sb.Close()
		nb, err := connect(ctx, "--ovn-nb", *nbFlag, nbdb.FullDatabaseModel, ovn.NBTables())
		if err != nil {
			return err
		}
		defer nb.Close()
		var start traceStart
		if *external {
			src, perr := netip.ParseAddr(*source)
			if perr != nil {
				return fmt.Errorf("--source: %w", perr)
			}
			start, err = fromExternal(ctx, c, nb, ns, src, dst)
		} else {
			start, err = fromNIC(ctx, c, ns, nicName, dst)
		}
		if err != nil {
			return err
		}
		if report, err = trace(ctx, c, nb, sb, *sbFlag, start, *to, dst, port, proto); err != nil {
			return err
		}
	}
	if *output == "json" {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(report)
	}
	return report.print(out)
}

// connect opens one OVSDB database (read only: the plugin writes nothing).
func connect(ctx context.Context, flagName, endpoints string, full func() (model.ClientDBModel, error), tables ovn.Tables) (*ovn.Client, error) {
	eps, err := ovn.ParseEndpoints(endpoints)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", flagName, err)
	}
	m, err := full()
	if err != nil {
		return nil, err
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c, err := ovn.Connect(cctx, ovn.Config{Endpoints: eps, Logger: logr.Discard()}, m, tables)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", flagName, endpoints, err)
	}
	return c, nil
}

// Report is what status prints.
type Report struct {
	Networks []NetworkStatus `json:"networks"`
	Problems []Problem       `json:"problems"`
}

// NetworkStatus is one Network as OVN has it.
type NetworkStatus struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	VNI       string `json:"vni"`
	Router    string `json:"router"`
	Switch    string `json:"switch"`
	// Ready is the Network's Ready condition ("True", or "False: reason").
	Ready string `json:"ready"`
	// NICs count its NetworkInterfaces by state.
	NICs NICCounts `json:"networkInterfaces"`
	// Gateway is the chassis its gateway port is active on ("" unknown).
	Gateway string `json:"gatewayChassis"`
}

// NICCounts count NetworkInterfaces: Ready (rows written and plugged),
// Pending (waiting for something), Error (any other reason).
type NICCounts struct {
	Ready   int `json:"ready"`
	Pending int `json:"pending"`
	Error   int `json:"error"`
}

// Problem is an object whose condition reports a failure.
type Problem struct {
	Kind      string `json:"kind"`
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	Condition string `json:"condition"`
	Reason    string `json:"reason"`
	Message   string `json:"message"`
}

// waiting are the reasons that are not problems but a wait: the
// controller's and the node agent's (a port OVN has not installed yet).
var waiting = []string{"Pending", "WaitingForOVN"}

// status reads the Networks and their objects in namespace ns ("": all).
func status(ctx context.Context, c client.Client, sb *ovn.Client, ns string) (*Report, error) {
	r := &Report{}
	var networks apinetv1alpha1.NetworkList
	var nics apinetv1alpha1.NetworkInterfaceList
	var lbs apinetv1alpha1.LoadBalancerList
	var gws apinetv1alpha1.NATGatewayList
	for _, l := range []client.ObjectList{&networks, &nics, &lbs, &gws} {
		if err := c.List(ctx, l, client.InNamespace(ns)); err != nil {
			return r, fmt.Errorf("list: %w", err)
		}
	}
	counts := map[string]*NICCounts{}
	for _, nw := range networks.Items {
		counts[nw.Namespace+"/"+nw.Name] = &NICCounts{}
	}
	for i := range nics.Items {
		nic := &nics.Items[i]
		n := counts[nic.Namespace+"/"+nic.Spec.NetworkRef.Name]
		ready := meta.FindStatusCondition(nic.Status.Conditions, apinetv1alpha1.ConditionReady)
		switch {
		case n == nil:
		case nic.Status.State == apinetv1alpha1.NetworkInterfaceStateError || ready != nil && ready.Status == metav1.ConditionFalse && !slices.Contains(waiting, ready.Reason):
			n.Error++
		case ready != nil && ready.Status == metav1.ConditionTrue && nic.Status.State == apinetv1alpha1.NetworkInterfaceStateReady:
			n.Ready++
		default:
			n.Pending++
		}
		r.problems("NetworkInterface", nic, nic.Status.Conditions)
	}
	for i := range networks.Items {
		nw := &networks.Items[i]
		s := NetworkStatus{Namespace: nw.Namespace, Name: nw.Name, VNI: nw.Spec.ID, Router: rows.NetworkRouterName(nw), Switch: rows.NetworkSwitchName(nw),
			Ready: conditionString(nw.Status.Conditions, apinetv1alpha1.ConditionReady), NICs: *counts[nw.Namespace+"/"+nw.Name]}
		if sb != nil {
			s.Gateway = activeGateway(sb, rows.NetworkRouterName(nw)+"/lr-gw")
		}
		r.Networks = append(r.Networks, s)
		r.problems("Network", nw, nw.Status.Conditions)
	}
	for i := range lbs.Items {
		r.problems("LoadBalancer", &lbs.Items[i], lbs.Items[i].Status.Conditions)
	}
	for i := range gws.Items {
		r.problems("NATGateway", &gws.Items[i], gws.Items[i].Status.Conditions)
	}
	return r, nil
}

// problems adds every False condition of o with a reason that is not a wait.
func (r *Report) problems(kind string, o client.Object, conds []metav1.Condition) {
	for _, c := range conds {
		if c.Status == metav1.ConditionFalse && !slices.Contains(waiting, c.Reason) {
			r.Problems = append(r.Problems, Problem{Kind: kind, Namespace: o.GetNamespace(), Name: o.GetName(), Condition: c.Type, Reason: c.Reason, Message: c.Message})
		}
	}
}

func conditionString(conds []metav1.Condition, typ string) string {
	c := meta.FindStatusCondition(conds, typ)
	switch {
	case c == nil:
		return "Unknown"
	case c.Status == metav1.ConditionTrue:
		return "True"
	}
	return string(c.Status) + ": " + c.Reason
}

// activeGateway is the chassis that claimed the gateway port's
// chassisredirect port ("cr-<port>") in the southbound database.
func activeGateway(sb *ovn.Client, port string) string {
	for _, m := range sb.Rows(sbdb.PortBindingTable) {
		pb := m.(*sbdb.PortBinding)
		if pb.LogicalPort != "cr-"+port || pb.Chassis == nil {
			continue
		}
		for _, cm := range sb.Rows(sbdb.ChassisTable) {
			if ch := cm.(*sbdb.Chassis); ch.UUID == *pb.Chassis {
				return ch.Name
			}
		}
	}
	return ""
}

func (r *Report) print(out io.Writer) error {
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "NETWORK\tVNI\tROUTER/SWITCH\tREADY\tNICS READY/PENDING/ERROR\tGATEWAY")
	for _, n := range r.Networks {
		gw := n.Gateway
		if gw == "" {
			gw = "-"
		}
		fmt.Fprintf(w, "%s/%s\t%s\t%s\t%s\t%d/%d/%d\t%s\n", n.Namespace, n.Name, n.VNI, n.Router, n.Ready, n.NICs.Ready, n.NICs.Pending, n.NICs.Error, gw)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if len(r.Problems) == 0 {
		_, err := fmt.Fprintln(out, "\nno problems reported")
		return err
	}
	fmt.Fprintln(out, "\nPROBLEMS")
	for _, p := range r.Problems {
		fmt.Fprintf(out, "  %s %s/%s: %s=False %s: %s\n", p.Kind, p.Namespace, p.Name, p.Condition, p.Reason, strings.TrimSpace(p.Message))
	}
	return nil
}
