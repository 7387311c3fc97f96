package ipam

import (
	"context"

	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	apinetv1alpha1 "github.com/ovnet-dev/ovnet/apis/core/v1alpha1"
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
	ok, err := ExistsLive(ctx, r.APIReader, kind.New(), types.NamespacedName{Namespace: ip.Namespace, Name: ref.Name}, string(ref.UID))
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
