package ipam

import (
	"context"
	"fmt"
	"net/netip"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	apinetv1alpha1 "github.com/ovnet-dev/ovnet/apis/core/v1alpha1"
	"github.com/ovnet-dev/ovnet/controllers/enqueue"
	"github.com/ovnet-dev/ovnet/internal/patch"
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
	Addresses *Addresses
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
	before := ip.DeepCopy()
	addr, reason, message, err := r.allocate(ctx, ip)
	if err != nil {
		return ctrl.Result{}, err
	}
	cond := metav1.Condition{Type: apinetv1alpha1.ConditionReady, Status: metav1.ConditionTrue, Reason: apinetv1alpha1.ReasonAllocated, Message: "allocated " + addr.String()}
	if addr.IsValid() {
		recordAddress(ip, addr)
	} else {
		cond.Status, cond.Reason, cond.Message = metav1.ConditionFalse, reason, message
	}
	old := patch.SetUnversionedCondition(&ip.Status.Conditions, cond)
	if patch.Warn(r.Recorder, ip, old, cond, actionAllocate) {
		log.FromContext(ctx).Info("IP not allocated", "reason", reason, "message", message)
	}
	// IP has no status subresource (as in ironcore-net): the address and
	// its condition are written together, once, and only on change.
	if err := patch.Object(ctx, r.Client, before, ip, fieldOwner); err != nil {
		return ctrl.Result{}, err
	}
	if !addr.IsValid() && (reason == apinetv1alpha1.ReasonPoolExhausted || reason == apinetv1alpha1.ReasonIPInUse) {
		return ctrl.Result{RequeueAfter: retryWaiting}, nil
	}
	return ctrl.Result{}, nil
}

// allocate returns the address the IP holds, taking it if needed, or why it
// has none.
func (r *IPReconciler) allocate(ctx context.Context, ip *apinetv1alpha1.IP) (netip.Addr, string, string, error) {
	claim := apinetv1alpha1.ClaimRef{Group: claimRefGroup, Resource: "ips", Namespace: ip.Namespace, Name: ip.Name, UID: ip.UID}
	if ip.Spec.IP != "" {
		addr, err := netip.ParseAddr(string(ip.Spec.IP))
		if err != nil {
			return netip.Addr{}, "InvalidIP", err.Error(), nil
		}
		given, err := r.Addresses.TakeGiven(ctx, addr, claim)
		switch {
		case err != nil:
			return netip.Addr{}, "", "", err
		case given.Taken:
			return addr, "", "", nil
		case given.OutOfRange:
			return netip.Addr{}, apinetv1alpha1.ReasonOutOfRange, fmt.Sprintf("the provided IP %s is not in range of any public prefix", addr), nil
		case given.Holder != nil:
			return netip.Addr{}, apinetv1alpha1.ReasonIPInUse, fmt.Sprintf("the provided IP %s is already allocated (to %s/%s)", addr, given.Holder.Namespace, given.Holder.Name), nil
		}
		return netip.Addr{}, apinetv1alpha1.ReasonIPInUse, fmt.Sprintf("the provided IP %s is already allocated", addr), nil
	}
	family := ip.Spec.IPFamily
	if len(r.Addresses.Pool.Prefixes(family)) == 0 {
		return netip.Addr{}, "NoPool", fmt.Sprintf("cannot allocate IPs of family %s: no public prefix of that family is configured", family), nil
	}
	addr, ok, err := r.Addresses.Take(ctx, family, claim)
	if err != nil {
		return netip.Addr{}, "", "", err
	}
	if !ok {
		return netip.Addr{}, apinetv1alpha1.ReasonPoolExhausted, fmt.Sprintf("all %s public IP addresses are allocated", family), nil
	}
	return addr, "", "", nil
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

func setupIP(d deps, addresses *Addresses) error {
	r := &IPReconciler{Client: d.c, APIReader: d.reader, Addresses: addresses, Recorder: d.rec}
	return ctrl.NewControllerManagedBy(d.mgr).Named("ip").For(&apinetv1alpha1.IP{}).
		// A released address (or a full pool that frees up) retries the IPs waiting for one.
		Watches(&apinetv1alpha1.IPAddress{}, handler.EnqueueRequestsFromMapFunc(waitingIPs(d.c)), builder.WithPredicates(enqueue.OnDelete())).
		Complete(patch.RequeueConflicts(r))
}

// waitingIPs maps a released address to the IPs that could take it: not
// only those already marked as waiting, as one whose PoolExhausted status
// has not reached the cache yet must not miss the wake-up.
func waitingIPs(c client.Client) handler.MapFunc {
	return enqueue.Listed(c, func() client.ObjectList { return &apinetv1alpha1.IPList{} }, func(_, o client.Object) bool {
		ip := o.(*apinetv1alpha1.IP)
		return ip.Spec.IP == "" || !meta.IsStatusConditionTrue(ip.Status.Conditions, apinetv1alpha1.ConditionReady)
	})
}
