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

// IPAddressReconciler releases addresses: an IPAddress whose claimer is gone
// (or holds another address) is deleted, and its protection finalizer is
// removed only then, so an address cannot be freed while its IP exists.
type IPAddressReconciler struct {
	client.Client
	// APIReader reads around the cache, to confirm a claimer is really gone.
	APIReader client.Reader
}

// lockVerdict says what a lock's claimer makes of it.
type lockVerdict int

const (
	lockHeld     lockVerdict = iota // the claimer holds the value
	lockPending                     // the claimer has not recorded a value yet
	lockReleased                    // the claimer holds another value
	lockOrphaned                    // the claimer was not found
)

func (r *IPAddressReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	lock := &apinetv1alpha1.IPAddress{}
	if err := r.Get(ctx, req.NamespacedName, lock); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	verdict, err := r.verdict(ctx, lock)
	if err != nil {
		return ctrl.Result{}, err
	}
	switch verdict {
	case lockHeld:
		return ctrl.Result{}, nil
	case lockPending:
		// The IP will record this address or, if a racing replica won,
		// another one. Look again shortly rather than rely on the IP's
		// update reaching us after this lock is cached.
		return ctrl.Result{RequeueAfter: recheckPending}, nil
	case lockOrphaned:
		if wait := tooYoungToRelease(lock.CreationTimestamp); wait > 0 {
			return ctrl.Result{RequeueAfter: wait}, nil
		}
	}
	if lock.DeletionTimestamp.IsZero() {
		if err := r.Delete(ctx, lock, exactly(lock)); err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
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

// verdict reads the lock's claimer live.
func (r *IPAddressReconciler) verdict(ctx context.Context, lock *apinetv1alpha1.IPAddress) (lockVerdict, error) {
	ref := lock.Spec.ClaimRef
	key := types.NamespacedName{Namespace: ref.Namespace, Name: ref.Name}
	switch {
	case ref.Group != claimRefGroup:
		// Claimed by a kind ovnet does not manage: not ours to release.
		return lockHeld, nil
	case ref.Resource == "networks":
		// A Network's transit address (its OVN gateway port) is held while
		// the Network exists.
		ok, err := ExistsLive(ctx, r.APIReader, &apinetv1alpha1.Network{}, key, string(ref.UID))
		if err != nil || ok {
			return lockHeld, err
		}
		return lockOrphaned, nil
	case ref.Resource != "ips":
		return lockHeld, nil
	}
	ip := &apinetv1alpha1.IP{}
	ok, err := ExistsLive(ctx, r.APIReader, ip, key, string(ref.UID))
	switch {
	case err != nil:
		return lockHeld, err
	case !ok:
		return lockOrphaned, nil
	case ip.Spec.IP == "":
		return lockPending, nil
	case ip.Spec.IP == lock.Spec.IP:
		return lockHeld, nil
	}
	return lockReleased, nil
}
