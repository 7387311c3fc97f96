package ipam

import (
	"context"
	"fmt"
	"net/netip"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	apinetv1alpha1 "github.com/ovnet-dev/ovnet/apis/core/v1alpha1"
	"github.com/ovnet-dev/ovnet/controllers/enqueue"
	"github.com/ovnet-dev/ovnet/controllers/index"
)

// lockVerdict says what a lock's claimer makes of it.
type lockVerdict int

const (
	lockHeld     lockVerdict = iota // the claimer holds the value
	lockPending                     // the claimer has not recorded a value yet
	lockReleased                    // the claimer holds another value
	lockOrphaned                    // the claimer was not found
)

// Releaser frees values: a lock whose claimer is gone (or holds another
// value) is deleted, and its finalizer, if the kind has one, is removed only
// then, so a value cannot be freed while its claimer holds it.
type Releaser[V comparable] struct {
	client.Client
	// APIReader reads around the cache, to confirm a claimer is really gone.
	APIReader client.Reader
	kind      lockKind[V]
	// verdict reads the lock's claimer from reader.
	verdict func(ctx context.Context, reader client.Reader, lock client.Object) (lockVerdict, error)
}

// IPAddressReleaser releases the IPAddresses of deleted IPs and Networks.
func IPAddressReleaser(c client.Client, live client.Reader) *Releaser[netip.Addr] {
	return &Releaser[netip.Addr]{Client: c, APIReader: live, kind: ipAddressLocks, verdict: ipAddressVerdict}
}

// NetworkIDReleaser releases the NetworkIDs of deleted Networks.
func NetworkIDReleaser(c client.Client, live client.Reader) *Releaser[int64] {
	return &Releaser[int64]{Client: c, APIReader: live, kind: networkIDLocks, verdict: networkIDVerdict}
}

func (r *Releaser[V]) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	lock := r.kind.newObj()
	if err := r.Get(ctx, req.NamespacedName, lock); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !lock.GetDeletionTimestamp().IsZero() && r.kind.finalizer == "" {
		return ctrl.Result{}, nil // already on its way out
	}
	// The cache judges first; only a verdict that frees the value is
	// confirmed with the API server (at a cold start, one read per lock
	// saved). A claimer's change wakes the lock again.
	verdict, err := r.verdict(ctx, r.Client, lock)
	if err == nil && (verdict == lockReleased || verdict == lockOrphaned) {
		verdict, err = r.verdict(ctx, r.APIReader, lock)
	}
	if err != nil {
		return ctrl.Result{}, err
	}
	switch verdict {
	case lockHeld:
		return ctrl.Result{}, nil
	case lockPending:
		// The claimer will record this value or, if a racing replica won,
		// another one. Look again shortly rather than rely on the claimer's
		// update reaching us after this lock is cached.
		return ctrl.Result{RequeueAfter: recheckPending}, nil
	case lockOrphaned:
		if wait := tooYoungToRelease(lock.GetCreationTimestamp()); wait > 0 {
			return ctrl.Result{RequeueAfter: wait}, nil
		}
	}
	if lock.GetDeletionTimestamp().IsZero() {
		if err := r.Delete(ctx, lock, exactly(lock)); err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			return ctrl.Result{}, fmt.Errorf("release %s %s: %w", r.kind.kind, lock.GetName(), err)
		}
		if r.kind.finalizer == "" {
			return ctrl.Result{}, nil
		}
		if err := r.Get(ctx, req.NamespacedName, lock); err != nil {
			return ctrl.Result{}, client.IgnoreNotFound(err)
		}
	}
	if controllerutil.RemoveFinalizer(lock, r.kind.finalizer) {
		if err := r.Update(ctx, lock, fieldOwner); err != nil {
			return ctrl.Result{}, client.IgnoreNotFound(err)
		}
	}
	return ctrl.Result{}, nil
}

// recorded judges a lock by the value its claimer has recorded ("" while
// it has none yet).
func recorded(exists bool, value, lockValue string) lockVerdict {
	switch {
	case !exists:
		return lockOrphaned
	case value == "":
		return lockPending
	case value == lockValue:
		return lockHeld
	}
	return lockReleased
}

func ipAddressVerdict(ctx context.Context, live client.Reader, o client.Object) (lockVerdict, error) {
	lock := o.(*apinetv1alpha1.IPAddress)
	ref := lock.Spec.ClaimRef
	key := types.NamespacedName{Namespace: ref.Namespace, Name: ref.Name}
	switch {
	case ref.Group != claimRefGroup:
		// Claimed by a kind ovnet does not manage: not ours to release.
		return lockHeld, nil
	case ref.Resource == "networks":
		// A Network's transit address (its OVN gateway port) is held while
		// the Network exists.
		ok, err := Exists(ctx, live, &apinetv1alpha1.Network{}, key, string(ref.UID))
		if err != nil || ok {
			return lockHeld, err
		}
		return lockOrphaned, nil
	case ref.Resource != "ips":
		return lockHeld, nil
	}
	ip := &apinetv1alpha1.IP{}
	ok, err := Exists(ctx, live, ip, key, string(ref.UID))
	if err != nil {
		return lockHeld, err
	}
	return recorded(ok, string(ip.Spec.IP), string(lock.Spec.IP)), nil
}

func networkIDVerdict(ctx context.Context, live client.Reader, o client.Object) (lockVerdict, error) {
	lock := o.(*apinetv1alpha1.NetworkID)
	ref := lock.Spec.ClaimRef
	nw := &apinetv1alpha1.Network{}
	ok, err := Exists(ctx, live, nw, types.NamespacedName{Namespace: ref.Namespace, Name: ref.Name}, string(ref.UID))
	if err != nil {
		return lockHeld, err
	}
	return recorded(ok, nw.Spec.ID, lock.Name), nil
}

// setupReleasers registers the releasers of IPAddresses and NetworkIDs.
func setupReleasers(d deps) error {
	if err := ctrl.NewControllerManagedBy(d.mgr).Named("ipaddress").For(&apinetv1alpha1.IPAddress{}).
		Watches(&apinetv1alpha1.IP{}, handler.EnqueueRequestsFromMapFunc(locksOfIP(d.c))).
		// A deleted Network releases its transit address.
		Watches(&apinetv1alpha1.Network{}, handler.EnqueueRequestsFromMapFunc(locksClaimedBy(d.c)), builder.WithPredicates(enqueue.OnDelete())).
		Complete(IPAddressReleaser(d.c, d.reader)); err != nil {
		return err
	}
	return ctrl.NewControllerManagedBy(d.mgr).Named("networkid").For(&apinetv1alpha1.NetworkID{}).
		Watches(&apinetv1alpha1.Network{}, handler.EnqueueRequestsFromMapFunc(locksOfNetwork(d.c))).
		Complete(NetworkIDReleaser(d.c, d.reader))
}

// locksOfIP maps an IP to every IPAddress it claims and the one of its
// address: a lock left over from a lost race is then released.
func locksOfIP(c client.Client) handler.MapFunc {
	return func(ctx context.Context, o client.Object) []reconcile.Request {
		var out []reconcile.Request
		if a, err := netip.ParseAddr(string(o.(*apinetv1alpha1.IP).Spec.IP)); err == nil {
			out = append(out, reconcile.Request{NamespacedName: types.NamespacedName{Name: apinetv1alpha1.IPAddressName(a)}})
		}
		var locks apinetv1alpha1.IPAddressList
		if err := c.List(ctx, &locks, client.MatchingFields{index.ClaimUID: string(o.GetUID())}); err == nil {
			for i := range locks.Items {
				out = append(out, reconcile.Request{NamespacedName: types.NamespacedName{Name: locks.Items[i].Name}})
			}
		}
		return out
	}
}

// locksClaimedBy maps an object to the IPAddresses it claims.
func locksClaimedBy(c client.Client) handler.MapFunc {
	return func(ctx context.Context, o client.Object) []reconcile.Request {
		var locks apinetv1alpha1.IPAddressList
		if err := c.List(ctx, &locks, client.MatchingFields{index.ClaimUID: string(o.GetUID())}); err != nil {
			return nil
		}
		out := make([]reconcile.Request, len(locks.Items))
		for i := range locks.Items {
			out[i] = reconcile.Request{NamespacedName: types.NamespacedName{Name: locks.Items[i].Name}}
		}
		return out
	}
}

// locksOfNetwork maps a Network to every NetworkID it claims and the one of its VNI.
func locksOfNetwork(c client.Client) handler.MapFunc {
	return func(ctx context.Context, o client.Object) []reconcile.Request {
		var out []reconcile.Request
		if id := o.(*apinetv1alpha1.Network).Spec.ID; id != "" {
			out = append(out, reconcile.Request{NamespacedName: types.NamespacedName{Name: id}})
		}
		var locks apinetv1alpha1.NetworkIDList
		if err := c.List(ctx, &locks, client.MatchingFields{index.ClaimUID: string(o.GetUID())}); err == nil {
			for i := range locks.Items {
				out = append(out, reconcile.Request{NamespacedName: types.NamespacedName{Name: locks.Items[i].Name}})
			}
		}
		return out
	}
}
