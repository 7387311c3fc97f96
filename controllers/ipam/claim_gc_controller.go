package ipam

import (
	"context"

	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	apinetv1alpha1 "github.com/ovnet-dev/ovnet/apis/core/v1alpha1"
	"github.com/ovnet-dev/ovnet/controllers/enqueue"
	"github.com/ovnet-dev/ovnet/controllers/index"
)

// IPClaimGCReconciler releases IPs whose claimer is gone: an IP the claimer
// did not own is unclaimed and stays for the next user (one it owned goes
// with it, by owner reference).
type IPClaimGCReconciler struct {
	client.Client
	APIReader client.Reader
}

func (r *IPClaimGCReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	ip := &apinetv1alpha1.IP{}
	if err := r.Get(ctx, req.NamespacedName, ip); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	ref := ip.Spec.ClaimRef
	if ref == nil || ref.UID == "" || !ip.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil
	}
	kind := claimerByResource(ref.Resource)
	if kind == nil {
		return ctrl.Result{}, nil // claimed by something ovnet does not know (e.g. a user's tool): leave it
	}
	// The cache holding the claimer is enough to keep the claim (its
	// deletion wakes the IP again); only "gone" is confirmed live.
	key := types.NamespacedName{Namespace: ip.Namespace, Name: ref.Name}
	ok, err := Exists(ctx, r.Client, kind.New(), key, string(ref.UID))
	if err == nil && !ok {
		ok, err = Exists(ctx, r.APIReader, kind.New(), key, string(ref.UID))
	}
	if err != nil || ok {
		return ctrl.Result{}, err
	}
	for _, o := range ip.OwnerReferences {
		if o.UID == ref.UID {
			// The claimer's own IP: Kubernetes' garbage collector deletes
			// it with its owner (and the address is released then).
			return ctrl.Result{}, nil
		}
	}
	return ctrl.Result{}, unclaim(ctx, r.Client, ip)
}

func claimerByResource(resource string) *ClaimerKind {
	for i := range Claimers {
		if Claimers[i].Resource == resource {
			return &Claimers[i]
		}
	}
	return nil
}

func setupClaimGC(d deps) error {
	gc := ctrl.NewControllerManagedBy(d.mgr).Named("ipclaimgc").For(&apinetv1alpha1.IP{})
	for _, kind := range Claimers {
		// A deleted claimer releases its IPs.
		gc = gc.Watches(kind.New(), handler.EnqueueRequestsFromMapFunc(ipsClaimedBy(d.c)), builder.WithPredicates(enqueue.OnDelete()))
	}
	return gc.Complete(&IPClaimGCReconciler{Client: d.c, APIReader: d.reader})
}

// ipsClaimedBy maps a claimer to the IPs it claims.
func ipsClaimedBy(c client.Client) handler.MapFunc {
	return func(ctx context.Context, o client.Object) []reconcile.Request {
		var ips apinetv1alpha1.IPList
		if err := c.List(ctx, &ips, client.InNamespace(o.GetNamespace()), client.MatchingFields{index.ClaimUID: string(o.GetUID())}); err != nil {
			return nil
		}
		out := make([]reconcile.Request, len(ips.Items))
		for i := range ips.Items {
			out[i] = reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&ips.Items[i])}
		}
		return out
	}
}
