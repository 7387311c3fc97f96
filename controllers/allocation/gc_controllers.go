package allocation

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	apinetv1alpha1 "github.com/ovnet-dev/ovnet/apis/core/v1alpha1"
)

// IPClaimGCReconciler releases IPs whose claimer is gone: an IP the claimer
// owned is deleted, any other IP is unclaimed and stays for the next user.
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
	ok, err := existsLive(ctx, r.APIReader, kind.New(), types.NamespacedName{Namespace: ip.Namespace, Name: ref.Name}, string(ref.UID))
	if err != nil || ok {
		return ctrl.Result{}, err
	}
	for _, o := range ip.OwnerReferences {
		if o.Controller != nil && *o.Controller && o.UID == ref.UID {
			if err := r.Delete(ctx, ip, exactly(ip)); err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
				return ctrl.Result{}, fmt.Errorf("delete IP %s of a deleted %s: %w", ip.Name, kind.Kind, err)
			}
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

// NATReleaseReconciler drops NetworkInterface.spec.natGateways entries whose
// NATGateway no longer exists (docs/design.md decision 2: the entry really goes).
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
		ok, err := existsLive(ctx, r.APIReader, &apinetv1alpha1.NATGateway{}, key, string(n.ClaimRef.UID))
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
