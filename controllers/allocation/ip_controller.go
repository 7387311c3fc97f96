package allocation

import (
	"context"
	"fmt"
	"net/netip"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	apinetv1alpha1 "github.com/ovnet-dev/ovnet/apis/core/v1alpha1"
	"github.com/ovnet-dev/ovnet/controllers/index"
)

// IPReconciler gives every IP an address: the given one if it is in a
// public prefix and free, else a free one from the prefixes of its family.
// The address is taken by creating the IPAddress named after it.
type IPReconciler struct {
	client.Client
	// APIReader reads around the cache: an IP is read live before a new
	// address is taken for it, so a stale cache (another replica already
	// served it) costs a read, not a second address.
	APIReader client.Reader
	Pool      *IPPool
	Recorder  recorder.EventRecorder
}

// +kubebuilder:rbac:groups=core.apinet.ironcore.dev,resources=ips,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=core.apinet.ironcore.dev,resources=ipaddresses,verbs=get;list;watch;create;delete;update;patch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

func (r *IPReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	ip := &apinetv1alpha1.IP{}
	if err := r.Get(ctx, req.NamespacedName, ip); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !ip.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil // the IPAddress controller releases the address once the IP is gone
	}
	if ip.Spec.IP == "" {
		if err := r.APIReader.Get(ctx, req.NamespacedName, ip); err != nil {
			return ctrl.Result{}, client.IgnoreNotFound(err)
		}
	}
	orig := ip.DeepCopy()
	// IP has no status subresource, so writing a condition bumps the
	// generation: conditions carry no observedGeneration, or every write
	// would call for the next one.
	const noGeneration = 0
	addr, reason, message, err := r.allocate(ctx, ip)
	if err != nil {
		return ctrl.Result{}, err
	}
	if addr.IsValid() {
		recordAddress(ip, addr)
		setCondition(&ip.Status.Conditions, noGeneration, apinetv1alpha1.ConditionReady, metav1.ConditionTrue, apinetv1alpha1.ReasonAllocated, "allocated "+addr.String())
	} else {
		if setCondition(&ip.Status.Conditions, noGeneration, apinetv1alpha1.ConditionReady, metav1.ConditionFalse, reason, message) {
			warn(r.Recorder, ip, reason, actionAllocate, "%s", message)
			log.FromContext(ctx).Info("IP not allocated", "reason", reason, "message", message)
		}
	}
	// IP has no status subresource (as in ironcore-net): conditions go
	// through the main resource, and only when something changed.
	if !equality.Semantic.DeepEqual(orig, ip) {
		if err := r.Patch(ctx, ip, client.MergeFrom(orig), fieldOwner); err != nil {
			return ctrl.Result{}, fmt.Errorf("update IP status: %w", err)
		}
	}
	if !addr.IsValid() && (reason == apinetv1alpha1.ReasonPoolExhausted || reason == apinetv1alpha1.ReasonIPInUse) {
		return ctrl.Result{RequeueAfter: retryWaiting}, nil
	}
	return ctrl.Result{}, nil
}

// allocate returns the address the IP holds, taking it if needed, or why it
// has none.
func (r *IPReconciler) allocate(ctx context.Context, ip *apinetv1alpha1.IP) (netip.Addr, string, string, error) {
	if ip.Spec.IP != "" {
		return r.takeExplicit(ctx, ip)
	}
	family := ip.Spec.IPFamily
	if len(r.Pool.Prefixes(family)) == 0 {
		return netip.Addr{}, "NoPool", fmt.Sprintf("cannot allocate IPs of family %s: no public prefix of that family is configured", family), nil
	}
	// A lock this IP already holds (we crashed, or the write of spec.ip
	// failed) is reused rather than a second address taken.
	addr, ok, err := TakeAddress(ctx, r.Client, r.APIReader, r.Pool, family, apinetv1alpha1.ClaimRef{
		Group: claimRefGroup, Resource: "ips", Namespace: ip.Namespace, Name: ip.Name, UID: ip.UID,
	})
	if err != nil {
		return netip.Addr{}, "", "", err
	}
	if !ok {
		return netip.Addr{}, apinetv1alpha1.ReasonPoolExhausted, fmt.Sprintf("all %s public IP addresses are allocated", family), nil
	}
	return addr, "", "", nil
}

func (r *IPReconciler) takeExplicit(ctx context.Context, ip *apinetv1alpha1.IP) (netip.Addr, string, string, error) {
	addr, err := netip.ParseAddr(string(ip.Spec.IP))
	if err != nil {
		return netip.Addr{}, "InvalidIP", err.Error(), nil
	}
	lock := &apinetv1alpha1.IPAddress{}
	err = r.Get(ctx, types.NamespacedName{Name: apinetv1alpha1.IPAddressName(addr)}, lock)
	switch {
	case err == nil && lock.Spec.ClaimRef.UID == ip.UID:
		return addr, "", "", nil
	case err == nil:
		return netip.Addr{}, apinetv1alpha1.ReasonIPInUse, fmt.Sprintf("the provided IP %s is already allocated (to %s/%s)", addr, lock.Spec.ClaimRef.Namespace, lock.Spec.ClaimRef.Name), nil
	case !apierrors.IsNotFound(err):
		return netip.Addr{}, "", "", err
	}
	if !r.Pool.Contains(addr) {
		return netip.Addr{}, apinetv1alpha1.ReasonOutOfRange, fmt.Sprintf("the provided IP %s is not in range of any public prefix", addr), nil
	}
	created, err := r.createLock(ctx, ip, addr)
	if err != nil {
		return netip.Addr{}, "", "", err
	}
	if !created {
		return netip.Addr{}, apinetv1alpha1.ReasonIPInUse, fmt.Sprintf("the provided IP %s is already allocated", addr), nil
	}
	return addr, "", "", nil
}

// createLock creates the IPAddress for addr claimed by ip; false when it exists.
func (r *IPReconciler) createLock(ctx context.Context, ip *apinetv1alpha1.IP, addr netip.Addr) (bool, error) {
	return createIPLock(ctx, r.Client, r.Pool, addr, apinetv1alpha1.ClaimRef{
		Group: claimRefGroup, Resource: "ips", Namespace: ip.Namespace, Name: ip.Name, UID: ip.UID,
	})
}

func createIPLock(ctx context.Context, c client.Client, pool *IPPool, addr netip.Addr, claim apinetv1alpha1.ClaimRef) (bool, error) {
	lock := &apinetv1alpha1.IPAddress{
		ObjectMeta: metav1.ObjectMeta{
			Name:       apinetv1alpha1.IPAddressName(addr),
			Finalizers: []string{apinetv1alpha1.IPAddressProtectionFinalizer},
		},
		Spec: apinetv1alpha1.IPAddressSpec{IP: apinetv1alpha1.IPAddr(addr.String()), ClaimRef: claim},
	}
	if err := c.Create(ctx, lock, fieldOwner); err != nil {
		if apierrors.IsAlreadyExists(err) {
			return false, nil
		}
		return false, fmt.Errorf("create IPAddress %s: %w", lock.Name, err)
	}
	pool.MarkTaken(addr)
	return true, nil
}

// TakeAddress returns the address of family held by claim.UID (an
// IPAddress lock), taking a free one from pool if it holds none. ok is
// false when the pool is full.
//
// A lock found in the cache is confirmed with live (a reader around the
// cache): the cache may still hold a lock the server already released.
func TakeAddress(ctx context.Context, c client.Client, live client.Reader, pool *IPPool, family apinetv1alpha1.IPFamily, claim apinetv1alpha1.ClaimRef) (addr netip.Addr, ok bool, err error) {
	var locks apinetv1alpha1.IPAddressList
	if err := c.List(ctx, &locks, client.MatchingFields{index.ClaimUID: string(claim.UID)}); err != nil {
		return netip.Addr{}, false, err
	}
	for _, l := range locks.Items {
		a, err := netip.ParseAddr(string(l.Spec.IP))
		if err != nil || !l.DeletionTimestamp.IsZero() || apinetv1alpha1.FamilyOf(l.Spec.IP) != family {
			continue
		}
		current := &apinetv1alpha1.IPAddress{}
		switch err := live.Get(ctx, types.NamespacedName{Name: l.Name}, current); {
		case err == nil && current.Spec.ClaimRef.UID == claim.UID && current.DeletionTimestamp.IsZero():
			return a, true, nil
		case err != nil && !apierrors.IsNotFound(err):
			return netip.Addr{}, false, err
		}
	}
	ok, err = pool.Candidates(family, func(a netip.Addr) (bool, error) {
		created, err := createIPLock(ctx, c, pool, a, claim)
		if created {
			addr = a
		}
		return created, err
	})
	return addr, ok, err
}

// recordAddress writes the address, its family and the well-known labels.
// spec.ip is set-once in the CRD, so this patch can never move an IP to
// another address.
func recordAddress(ip *apinetv1alpha1.IP, addr netip.Addr) {
	ip.Spec.IP = apinetv1alpha1.IPAddr(addr.String())
	ip.Spec.IPFamily = apinetv1alpha1.FamilyOf(ip.Spec.IP)
	if ip.Labels == nil {
		ip.Labels = map[string]string{}
	}
	ip.Labels[apinetv1alpha1.LabelIPFamily] = string(ip.Spec.IPFamily)
	ip.Labels[apinetv1alpha1.LabelIP] = apinetv1alpha1.IPLabelValue(addr)
}
