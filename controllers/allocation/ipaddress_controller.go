package allocation

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	apinetv1alpha1 "github.com/ovnet-dev/ovnet/apis/core/v1alpha1"
)

// IPAddressReconciler releases addresses: an IPAddress whose claiming IP is
// gone (or holds another address) is deleted, and its protection finalizer
// is removed only then, so an address cannot be freed while its IP exists.
type IPAddressReconciler struct {
	client.Client
	// APIReader reads around the cache, to confirm a claimer is really gone.
	APIReader client.Reader
}

func (r *IPAddressReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	lock := &apinetv1alpha1.IPAddress{}
	if err := r.Get(ctx, req.NamespacedName, lock); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	held, settled, err := r.held(ctx, lock)
	if err != nil {
		return ctrl.Result{}, err
	}
	if held && !settled {
		// The IP has no address yet: it will record this one or, if a
		// racing replica won, another one. Look again shortly rather than
		// rely on the IP's update reaching us after this lock is cached.
		return ctrl.Result{RequeueAfter: recheckPending}, nil
	}
	if held {
		return ctrl.Result{}, nil
	}
	if lock.DeletionTimestamp.IsZero() {
		if err := r.Delete(ctx, lock); err != nil && !apierrors.IsNotFound(err) {
			return ctrl.Result{}, fmt.Errorf("release %s: %w", lock.Name, err)
		}
		if err := r.Get(ctx, req.NamespacedName, lock); err != nil {
			return ctrl.Result{}, client.IgnoreNotFound(err)
		}
	}
	if controllerutil.RemoveFinalizer(lock, apinetv1alpha1.IPAddressProtectionFinalizer) {
		if err := r.Update(ctx, lock, fieldOwner); err != nil {
			return ctrl.Result{}, client.IgnoreNotFound(err)
		}
	}
	return ctrl.Result{}, nil
}

// held reports whether the claiming IP still exists and may hold this
// address, and whether that is settled (the IP has recorded its address).
func (r *IPAddressReconciler) held(ctx context.Context, lock *apinetv1alpha1.IPAddress) (held, settled bool, err error) {
	ref := lock.Spec.ClaimRef
	switch {
	case ref.Group != claimRefGroup:
		// Claimed by a kind ovnet does not manage: not ours to release.
		return true, true, nil
	case ref.Resource == "networks":
		// A Network's transit address (its OVN gateway port) is held while
		// the Network exists.
		ok, err := existsLive(ctx, r.APIReader, &apinetv1alpha1.Network{}, types.NamespacedName{Namespace: ref.Namespace, Name: ref.Name}, string(ref.UID))
		return ok, true, err
	case ref.Resource != "ips":
		return true, true, nil
	}
	ip := &apinetv1alpha1.IP{}
	ok, err := existsLive(ctx, r.APIReader, ip, types.NamespacedName{Namespace: ref.Namespace, Name: ref.Name}, string(ref.UID))
	if err != nil || !ok {
		return false, true, err
	}
	if ip.Spec.IP == "" {
		return true, false, nil
	}
	// An IP that ended up with another address does not hold this one.
	return ip.Spec.IP == lock.Spec.IP, true, nil
}
