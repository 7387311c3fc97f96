package ovntranslate

import (
	"context"
	"fmt"
	"net/netip"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"

	apinetv1alpha1 "github.com/ovnet-dev/ovnet/apis/core/v1alpha1"
	"github.com/ovnet-dev/ovnet/controllers/index"
	"github.com/ovnet-dev/ovnet/controllers/nat"
	"github.com/ovnet-dev/ovnet/controllers/publicip"
	"github.com/ovnet-dev/ovnet/internal/patch"
	"github.com/ovnet-dev/ovnet/ovn/rows"
)

// NATGatewayReconciler writes a NAT gateway's snat rows
// (ovn/rows/natgateway.go) from its NATTable into its Network's router.
type NATGatewayReconciler struct {
	translator[*apinetv1alpha1.NATGateway]
	Scope publicip.Scope
	// ProviderIPv6: IPv6 gateways can be realized (rows.Provider.IPv6).
	ProviderIPv6 bool
}

// +kubebuilder:rbac:groups=core.apinet.ironcore.dev,resources=natgateways,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=core.apinet.ironcore.dev,resources=natgateways/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=core.apinet.ironcore.dev,resources=nattables,verbs=get;list;watch

func setupNATGateway(d deps) error {
	r := &NATGatewayReconciler{Scope: d.scope, ProviderIPv6: d.provider.IPv6()}
	r.translator = translatorFor(d, "NATGateway", func() *apinetv1alpha1.NATGateway { return &apinetv1alpha1.NATGateway{} },
		func(gw *apinetv1alpha1.NATGateway) *[]metav1.Condition { return &gw.Status.Conditions })
	r.translate = r.reconcile
	r.alsoReport = r.allocationReport
	return ctrl.NewControllerManagedBy(d.mgr).Named("natgateway-ovn").For(&apinetv1alpha1.NATGateway{}, builder.WithPredicates(r.echoes.predicate())).
		// The table of the same name holds the port blocks.
		Watches(&apinetv1alpha1.NATTable{}, handler.EnqueueRequestsFromMapFunc(sameName)).
		Watches(&apinetv1alpha1.Network{}, handler.EnqueueRequestsFromMapFunc(natGatewaysOf(d.c)), builder.WithPredicates(networkRealized)).
		// What the gateway holds.
		Watches(&apinetv1alpha1.IP{}, handler.EnqueueRequestsFromMapFunc(publicip.ClaimerOfIP("natgateways"))).
		Watches(&apinetv1alpha1.IPAddress{}, handler.EnqueueRequestsFromMapFunc(publicip.ClaimerOfLock(d.c, "natgateways"))).
		WatchesRawSource(d.drift.source("NATGateway")).
		Complete(patch.RequeueConflicts(r))
}

func (r *NATGatewayReconciler) reconcile(ctx context.Context, gw *apinetv1alpha1.NATGateway) (ctrl.Result, error) {
	nw, missing, err := networkOf(ctx, r.Client, gw.Namespace, gw.Spec.NetworkRef.Name)
	if err != nil {
		return ctrl.Result{}, err
	}
	if nw == nil {
		return ctrl.Result{}, r.missing(ctx, gw, missing)
	}
	table, held, err := r.recorded(ctx, gw)
	if err != nil {
		return ctrl.Result{}, err
	}
	want, err := rows.NATGatewayRows(rows.NATGatewayInput{Gateway: gw, Network: nw, Table: table, Held: held, ProviderIPv6: r.ProviderIPv6})
	if err != nil {
		return ctrl.Result{}, r.ready(ctx, gw, metav1.ConditionFalse, ReasonNotRealized, err.Error())
	}
	if res, ok, err := r.write(ctx, gw, nw.Name, want); !ok {
		return res, err
	}
	if named := len(natIPsOf(gw)); len(held) < named {
		return ctrl.Result{}, r.ready(ctx, gw, metav1.ConditionFalse, notHeldReason(gw.Status.Conditions),
			fmt.Sprintf("%d of %d NAT IPs held (see condition PublicIPsClaimed); %d snat rows written", len(held), named, len(want)))
	}
	// A new gateway's first Ready waits (up to patch.QuietFor) while its
	// port blocks are being given out: then one write carries both.
	if _, _, alloc, err := r.allocation(ctx, gw, table, held); err != nil {
		return ctrl.Result{}, err
	} else if alloc.Reason == "Pending" {
		if err := r.firstReport.Wait(gw, gw.Status.Conditions, apinetv1alpha1.ConditionReady, "the gateway's port blocks"); err != nil {
			return ctrl.Result{}, err
		}
	}
	return ctrl.Result{}, r.ready(ctx, gw, metav1.ConditionTrue, "RowsWritten", fmt.Sprintf("%d snat rows written", len(want)))
}

// recorded is what the gateway's rows and report are computed from: its
// NATTable (nil when it has none yet) and the NAT IPs it holds.
func (r *NATGatewayReconciler) recorded(ctx context.Context, gw *apinetv1alpha1.NATGateway) (*apinetv1alpha1.NATTable, []netip.Addr, error) {
	table := &apinetv1alpha1.NATTable{}
	if err := r.Get(ctx, client.ObjectKeyFromObject(gw), table); apierrors.IsNotFound(err) {
		table = nil
	} else if err != nil {
		return nil, nil, err
	}
	held, err := publicip.Held(ctx, r.Client, gw, natIPsOf(gw), r.Scope)
	if err != nil {
		return nil, nil, err
	}
	return table, held, nil
}

// allocation is the gateway's allocation report (nat.Report: its counts
// and PortsAvailable, from its NATTable and the NICs of its network).
func (r *NATGatewayReconciler) allocation(ctx context.Context, gw *apinetv1alpha1.NATGateway, table *apinetv1alpha1.NATTable, held []netip.Addr) (used, requested int, cond metav1.Condition, err error) {
	var nics apinetv1alpha1.NetworkInterfaceList
	if err := r.List(ctx, &nics, client.InNamespace(gw.Namespace), client.MatchingFields{index.Network: gw.Spec.NetworkRef.Name}, client.UnsafeDisableDeepCopy); err != nil {
		return 0, 0, cond, err
	}
	used, requested, cond = nat.Report(gw, table, nics.Items, held)
	return used, requested, cond, nil
}

// allocationReport sets the allocation report in the gateway's status, so
// that the write of Ready carries it: a new gateway reports once, not once
// per controller.
func (r *NATGatewayReconciler) allocationReport(ctx context.Context, gw *apinetv1alpha1.NATGateway) error {
	table, held, err := r.recorded(ctx, gw)
	if err != nil {
		return err
	}
	used, requested, cond, err := r.allocation(ctx, gw, table, held)
	if err != nil {
		return err
	}
	old := apinetv1alpha1.ConditionCopy(gw.Status.Conditions, nat.ConditionPortsAvailable)
	nat.SetReport(gw, used, requested, cond)
	patch.Warn(r.Recorder, gw, old, cond, "Allocate", "Pending")
	return nil
}

// natIPsOf are the addresses a NAT gateway names.
func natIPsOf(gw *apinetv1alpha1.NATGateway) []apinetv1alpha1.IPAddr {
	out := make([]apinetv1alpha1.IPAddr, 0, len(gw.Spec.IPs))
	for _, e := range gw.Spec.IPs {
		out = append(out, e.IP)
	}
	return out
}
