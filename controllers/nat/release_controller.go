package nat

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	apinetv1alpha1 "github.com/ovnet-dev/ovnet/apis/core/v1alpha1"
	"github.com/ovnet-dev/ovnet/controllers/enqueue"
	"github.com/ovnet-dev/ovnet/controllers/ipam"
	"github.com/ovnet-dev/ovnet/internal/patch"
)

// SetupNATRelease registers the controller that drops NICs' claims of
// deleted gateways.
func SetupNATRelease(mgr manager.Manager) error {
	c := mgr.GetClient()
	// Only a NIC's claims matter here: not its status writes, nor a NIC
	// that claims nothing.
	claims := predicate.NewPredicateFuncs(func(o client.Object) bool {
		return len(o.(*apinetv1alpha1.NetworkInterface).Spec.NATGateways) > 0
	})
	return ctrl.NewControllerManagedBy(mgr).Named("natrelease").
		For(&apinetv1alpha1.NetworkInterface{}, builder.WithPredicates(predicate.GenerationChangedPredicate{}, claims)).
		Watches(&apinetv1alpha1.NATGateway{}, handler.EnqueueRequestsFromMapFunc(nicsOfNamespace(c)),
			builder.WithPredicates(enqueue.OnDelete())).
		Complete(patch.RequeueConflicts(&NATReleaseReconciler{Client: c, APIReader: mgr.GetAPIReader()}))
}

// NATReleaseReconciler drops NetworkInterface.spec.natGateways entries whose
// NATGateway no longer exists (docs/design.md item 2: the entry really goes).
type NATReleaseReconciler struct {
	client.Client
	APIReader client.Reader
}

func (r *NATReleaseReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	nic := &apinetv1alpha1.NetworkInterface{}
	if err := r.Get(ctx, req.NamespacedName, nic); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !nic.DeletionTimestamp.IsZero() || len(nic.Spec.NATGateways) == 0 {
		return ctrl.Result{}, nil
	}
	var kept []apinetv1alpha1.NetworkInterfaceNAT
	for _, n := range nic.Spec.NATGateways {
		key := types.NamespacedName{Namespace: nic.Namespace, Name: n.ClaimRef.Name}
		// The cache holding the gateway is enough to keep the entry (its
		// deletion wakes us again); only a "gone" verdict, which drops
		// the entry, is confirmed with the API server.
		cached := &apinetv1alpha1.NATGateway{}
		if err := r.Get(ctx, key, cached); err == nil && cached.UID == n.ClaimRef.UID && cached.DeletionTimestamp.IsZero() {
			kept = append(kept, n)
			continue
		}
		ok, err := ipam.Exists(ctx, r.APIReader, &apinetv1alpha1.NATGateway{}, key, string(n.ClaimRef.UID))
		if err != nil {
			return ctrl.Result{}, err
		}
		if ok {
			kept = append(kept, n)
		}
	}
	if len(kept) == len(nic.Spec.NATGateways) {
		return ctrl.Result{}, nil
	}
	patch := client.MergeFromWithOptions(nic.DeepCopy(), client.MergeFromWithOptimisticLock{})
	nic.Spec.NATGateways = kept
	if err := r.Patch(ctx, nic, patch, fieldOwner); err != nil {
		return ctrl.Result{}, fmt.Errorf("drop NAT claims of deleted gateways: %w", err)
	}
	return ctrl.Result{}, nil
}

// nicsOfNamespace maps a deleted NATGateway to the NICs of its namespace.
func nicsOfNamespace(c client.Client) handler.MapFunc {
	return func(ctx context.Context, o client.Object) []reconcile.Request {
		var nics apinetv1alpha1.NetworkInterfaceList
		if err := c.List(ctx, &nics, client.InNamespace(o.GetNamespace())); err != nil {
			return nil
		}
		var out []reconcile.Request
		for _, n := range nics.Items {
			for _, g := range n.Spec.NATGateways {
				if g.ClaimRef.Name == o.GetName() {
					out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&n)})
				}
			}
		}
		return out
	}
}
