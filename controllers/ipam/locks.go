package ipam

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	apinetv1alpha1 "github.com/ovnet-dev/ovnet/apis/core/v1alpha1"
	"github.com/ovnet-dev/ovnet/controllers/index"
)

// lockKind describes one kind of lock object: cluster-scoped, named after
// the value it takes, with the claimer in spec.claimRef.
type lockKind[V comparable] struct {
	kind string
	// finalizer, when set, is put on every lock and removed only when the
	// lock is released (an IPAddress cannot be freed while its IP exists).
	finalizer string
	newObj    func() client.Object
	newList   func() client.ObjectList
	items     func(client.ObjectList) []client.Object
	name      func(V) string
	value     func(client.Object) (V, bool)
	claim     func(client.Object) apinetv1alpha1.ClaimRef
	build     func(name string, v V, claim apinetv1alpha1.ClaimRef) client.Object
}

var ipAddressLocks = lockKind[netip.Addr]{
	kind:      "IPAddress",
	finalizer: apinetv1alpha1.IPAddressProtectionFinalizer,
	newObj:    func() client.Object { return &apinetv1alpha1.IPAddress{} },
	newList:   func() client.ObjectList { return &apinetv1alpha1.IPAddressList{} },
	items:     func(l client.ObjectList) []client.Object { return objects(l.(*apinetv1alpha1.IPAddressList).Items) },
	name:      apinetv1alpha1.IPAddressName,
	value: func(o client.Object) (netip.Addr, bool) {
		a, err := netip.ParseAddr(string(o.(*apinetv1alpha1.IPAddress).Spec.IP))
		return a, err == nil
	},
	claim: func(o client.Object) apinetv1alpha1.ClaimRef { return o.(*apinetv1alpha1.IPAddress).Spec.ClaimRef },
	build: func(name string, a netip.Addr, claim apinetv1alpha1.ClaimRef) client.Object {
		return &apinetv1alpha1.IPAddress{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec:       apinetv1alpha1.IPAddressSpec{IP: apinetv1alpha1.IPAddr(a.String()), ClaimRef: claim},
		}
	},
}

var networkIDLocks = lockKind[int64]{
	kind:    "NetworkID",
	newObj:  func() client.Object { return &apinetv1alpha1.NetworkID{} },
	newList: func() client.ObjectList { return &apinetv1alpha1.NetworkIDList{} },
	items:   func(l client.ObjectList) []client.Object { return objects(l.(*apinetv1alpha1.NetworkIDList).Items) },
	name:    func(id int64) string { return strconv.FormatInt(id, 10) },
	value: func(o client.Object) (int64, bool) {
		id, err := strconv.ParseInt(o.GetName(), 10, 64)
		return id, err == nil
	},
	claim: func(o client.Object) apinetv1alpha1.ClaimRef { return o.(*apinetv1alpha1.NetworkID).Spec.ClaimRef },
	build: func(name string, _ int64, claim apinetv1alpha1.ClaimRef) client.Object {
		return &apinetv1alpha1.NetworkID{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec:       apinetv1alpha1.NetworkIDSpec{ClaimRef: claim},
		}
	},
}

// Locks takes values of one kind for claimers by creating lock objects: the
// one allocator behind public IPs, VNIs and transit addresses.
type Locks[V comparable] struct {
	client client.Client
	// live reads around the cache: a lock found in the cache is confirmed
	// there before it is reused, as the cache may still hold a lock the
	// server already released.
	live client.Reader
	kind lockKind[V]
	view *taken[V]
	// created remembers the locks this process created, by claimer, until
	// the cache has them: a claimer reconciled again before its lock
	// reached the cache reuses it instead of taking a second value.
	mu      sync.Mutex
	created map[types.UID][]V
}

// newLocks builds the allocator and feeds view from the lock informer.
func newLocks[V comparable](ctx context.Context, mgr manager.Manager, kind lockKind[V], view *taken[V]) (*Locks[V], error) {
	if err := index.Register(ctx, mgr.GetFieldIndexer()); err != nil {
		return nil, err // the locks are listed by claimer
	}
	inf, err := mgr.GetCache().GetInformer(ctx, kind.newObj())
	if err != nil {
		return nil, fmt.Errorf("informer for %s: %w", kind.kind, err)
	}
	value := func(o any) (V, bool) {
		if d, ok := o.(toolscache.DeletedFinalStateUnknown); ok {
			o = d.Obj
		}
		if obj, ok := o.(client.Object); ok {
			return kind.value(obj)
		}
		var zero V
		return zero, false
	}
	if _, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc: func(o any) {
			if v, ok := value(o); ok {
				view.MarkTaken(v)
			}
		},
		DeleteFunc: func(o any) {
			if v, ok := value(o); ok {
				view.MarkFree(v)
			}
		},
	}); err != nil {
		return nil, fmt.Errorf("watch %s: %w", kind.kind, err)
	}
	return &Locks[V]{client: mgr.GetClient(), live: mgr.GetAPIReader(), kind: kind, view: view, created: map[types.UID][]V{}}, nil
}

// cached returns the values that match accepts among the locks the cache
// shows claimUID holding, or else among those this process created for it
// and the cache has not shown yet.
func (l *Locks[V]) cached(ctx context.Context, claimUID types.UID, match func(V) bool) ([]V, error) {
	list := l.kind.newList()
	if err := l.client.List(ctx, list, client.MatchingFields{index.ClaimUID: string(claimUID)}); err != nil {
		return nil, fmt.Errorf("list %ss of %s: %w", l.kind.kind, claimUID, err)
	}
	var candidates []V
	for _, lock := range l.kind.items(list) {
		v, ok := l.kind.value(lock)
		if ok && lock.GetDeletionTimestamp().IsZero() && match(v) {
			candidates = append(candidates, v)
		}
	}
	l.mu.Lock()
	if len(candidates) > 0 {
		// The cache has caught up for what match accepts; a lock of the
		// same claimer that match does not accept (its other family) may
		// still be on its way.
		if rest := slices.DeleteFunc(l.created[claimUID], match); len(rest) > 0 {
			l.created[claimUID] = rest
		} else {
			delete(l.created, claimUID)
		}
	} else {
		for _, v := range l.created[claimUID] {
			if match(v) {
				candidates = append(candidates, v)
			}
		}
	}
	l.mu.Unlock()
	return candidates, nil
}

// held returns a value that claimUID holds and that match accepts,
// confirmed by a live read.
func (l *Locks[V]) held(ctx context.Context, claimUID types.UID, match func(V) bool) (V, bool, error) {
	var zero V
	candidates, err := l.cached(ctx, claimUID, match)
	if err != nil {
		return zero, false, err
	}
	for _, v := range candidates {
		current := l.kind.newObj()
		name := l.kind.name(v)
		switch err := l.live.Get(ctx, types.NamespacedName{Name: name}, current); {
		case err == nil && l.kind.claim(current).UID == claimUID && current.GetDeletionTimestamp().IsZero():
			return v, true, nil
		case err != nil && !apierrors.IsNotFound(err):
			return zero, false, fmt.Errorf("get %s %s: %w", l.kind.kind, name, err)
		}
	}
	return zero, false, nil
}

// take returns a value claim holds and match accepts (a claimer that
// crashed, or whose write of the value failed, reuses its lock rather than
// take a second value), else takes a free one offered by candidates. ok is
// false when candidates run out.
func (l *Locks[V]) take(ctx context.Context, claim apinetv1alpha1.ClaimRef, match func(V) bool,
	candidates func(try func(V) (bool, error)) (bool, error)) (v V, ok bool, err error) {
	if v, ok, err := l.held(ctx, claim.UID, match); err != nil || ok {
		return v, ok, err
	}
	ok, err = candidates(func(c V) (bool, error) {
		created, err := l.create(ctx, c, claim)
		if created {
			v = c
		}
		return created, err
	})
	return v, ok, err
}

// Given is the outcome of asking for one particular value.
type Given struct {
	// Taken: the claimer holds the value now.
	Taken bool
	// OutOfRange: the value is not in the pool.
	OutOfRange bool
	// Holder is who holds it otherwise (nil when the lock was created
	// by someone not yet seen).
	Holder *apinetv1alpha1.ClaimRef
}

// takeGiven takes v for claim when it is free and inRange. An existing lock
// is read first, so "already held" wins over "out of range".
func (l *Locks[V]) takeGiven(ctx context.Context, v V, claim apinetv1alpha1.ClaimRef, inRange func(V) bool) (Given, error) {
	name := l.kind.name(v)
	lock := l.kind.newObj()
	switch err := l.client.Get(ctx, types.NamespacedName{Name: name}, lock); {
	case err == nil && l.kind.claim(lock).UID == claim.UID:
		return Given{Taken: true}, nil
	case err == nil:
		holder := l.kind.claim(lock)
		return Given{Holder: &holder}, nil
	case !apierrors.IsNotFound(err):
		return Given{}, fmt.Errorf("get %s %s: %w", l.kind.kind, name, err)
	}
	if !inRange(v) {
		return Given{OutOfRange: true}, nil
	}
	created, err := l.create(ctx, v, claim)
	return Given{Taken: created}, err
}

// create creates the lock of v for claim; false when it exists.
func (l *Locks[V]) create(ctx context.Context, v V, claim apinetv1alpha1.ClaimRef) (bool, error) {
	lock := l.kind.build(l.kind.name(v), v, claim)
	if l.kind.finalizer != "" {
		lock.SetFinalizers([]string{l.kind.finalizer})
	}
	if err := l.client.Create(ctx, lock, fieldOwner); err != nil {
		if apierrors.IsAlreadyExists(err) {
			return false, nil
		}
		return false, fmt.Errorf("create %s %s: %w", l.kind.kind, lock.GetName(), err)
	}
	l.view.MarkTaken(v)
	l.mu.Lock()
	l.created[claim.UID] = append(l.created[claim.UID], v)
	l.mu.Unlock()
	return true, nil
}

// Addresses takes public or transit addresses from an IPPool (IPAddress locks).
type Addresses struct {
	locks *Locks[netip.Addr]
	Pool  *IPPool
}

// NewAddresses builds the allocator of pool's addresses.
func NewAddresses(ctx context.Context, mgr manager.Manager, pool *IPPool) (*Addresses, error) {
	l, err := newLocks(ctx, mgr, ipAddressLocks, &pool.taken)
	if err != nil {
		return nil, err
	}
	return &Addresses{locks: l, Pool: pool}, nil
}

// Take returns the address of family that claim holds, taking a free one if
// it holds none; ok is false when the pool is full.
func (a *Addresses) Take(ctx context.Context, family apinetv1alpha1.IPFamily, claim apinetv1alpha1.ClaimRef) (netip.Addr, bool, error) {
	return a.locks.take(ctx, claim,
		func(v netip.Addr) bool { return apinetv1alpha1.FamilyOf(apinetv1alpha1.IPAddr(v.String())) == family },
		func(try func(netip.Addr) (bool, error)) (bool, error) { return a.Pool.Candidates(family, try) })
}

// Held returns the address of family that the cache (or this process's
// own recent creates) shows claimUID holding, without a live read: for a
// claimer that exists, whose lock is not released under it.
func (a *Addresses) Held(ctx context.Context, family apinetv1alpha1.IPFamily, claimUID types.UID) (netip.Addr, bool, error) {
	held, err := a.locks.cached(ctx, claimUID, func(v netip.Addr) bool {
		return a.Pool.Contains(v) && apinetv1alpha1.FamilyOf(apinetv1alpha1.IPAddr(v.String())) == family
	})
	if err != nil || len(held) == 0 {
		return netip.Addr{}, false, err
	}
	return slices.MinFunc(held, netip.Addr.Compare), true, nil
}

// TakeGiven takes addr for claim if it is free and in the pool.
func (a *Addresses) TakeGiven(ctx context.Context, addr netip.Addr, claim apinetv1alpha1.ClaimRef) (Given, error) {
	return a.locks.takeGiven(ctx, addr, claim, a.Pool.Contains)
}

// NetworkIDs takes VNIs from an IDPool (NetworkID locks).
type NetworkIDs struct {
	locks *Locks[int64]
	Pool  *IDPool
}

// NewNetworkIDs builds the allocator of pool's IDs.
func NewNetworkIDs(ctx context.Context, mgr manager.Manager, pool *IDPool) (*NetworkIDs, error) {
	l, err := newLocks(ctx, mgr, networkIDLocks, &pool.taken)
	if err != nil {
		return nil, err
	}
	return &NetworkIDs{locks: l, Pool: pool}, nil
}

// Take returns the ID that claim holds, taking a free one if it holds none;
// ok is false when the range is full.
func (n *NetworkIDs) Take(ctx context.Context, claim apinetv1alpha1.ClaimRef) (int64, bool, error) {
	return n.locks.take(ctx, claim, func(int64) bool { return true }, n.Pool.Candidates)
}

// TakeGiven takes id for claim if it is free and in range.
func (n *NetworkIDs) TakeGiven(ctx context.Context, id int64, claim apinetv1alpha1.ClaimRef) (Given, error) {
	return n.locks.takeGiven(ctx, id, claim, n.Pool.Contains)
}
