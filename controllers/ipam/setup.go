package ipam

import (
	"context"
	"fmt"
	"net/netip"

	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	apinetv1alpha1 "github.com/ovnet-dev/ovnet/apis/core/v1alpha1"
	"github.com/ovnet-dev/ovnet/controllers/enqueue"
	"github.com/ovnet-dev/ovnet/controllers/index"
	"github.com/ovnet-dev/ovnet/internal/patch"
)

// Options configure the allocation controllers.
type Options struct {
	IPPool *IPPool
	IDPool *IDPool
}

// Setup registers the field indexes, the pools' views of taken values and
// every allocation controller with mgr.
func Setup(ctx context.Context, mgr manager.Manager, opts Options) error {
	idx := mgr.GetFieldIndexer()
	if err := idx.IndexField(ctx, &apinetv1alpha1.IP{}, indexIPAddress, func(o client.Object) []string {
		if ip := o.(*apinetv1alpha1.IP).Spec.IP; ip != "" {
			return []string{canonical(ip)}
		}
		return nil
	}); err != nil {
		return fmt.Errorf("index IPs by address: %w", err)
	}
	if err := index.Register(ctx, idx); err != nil {
		return err
	}
	for _, kind := range Claimers {
		// Claimers by the literal addresses they ask for: an IP's change
		// wakes only those, not every claimer of the namespace.
		if err := idx.IndexField(ctx, kind.New(), indexRequestedIP, func(o client.Object) []string {
			var out []string
			for _, e := range kind.requests(o) {
				if e.ip != "" {
					out = append(out, canonical(e.ip))
				}
			}
			return out
		}); err != nil {
			return fmt.Errorf("index %s by requested address: %w", kind.Resource, err)
		}
	}
	addresses, err := NewAddresses(ctx, mgr, opts.IPPool)
	if err != nil {
		return err
	}
	ids, err := NewNetworkIDs(ctx, mgr, opts.IDPool)
	if err != nil {
		return err
	}

	c := mgr.GetClient()
	reader := mgr.GetAPIReader()
	rec := mgr.GetEventRecorder("ovnet-controller")

	ipr := &IPReconciler{Client: c, APIReader: reader, Addresses: addresses, Recorder: rec}
	// Allocation is safe to run in parallel: the lock objects serialise it.
	// Status and claim writes are locked (internal/patch): a conflict is a
	// short requeue, not an error with backoff.
	parallel := controller.Options{MaxConcurrentReconciles: 4}
	if err := ctrl.NewControllerManagedBy(mgr).Named("ip").For(&apinetv1alpha1.IP{}).WithOptions(parallel).
		// A released address (or a full pool that frees up) retries the IPs waiting for one.
		Watches(&apinetv1alpha1.IPAddress{}, handler.EnqueueRequestsFromMapFunc(ipr.waitingIPs), builder.WithPredicates(enqueue.OnDelete())).
		Complete(patch.RequeueConflicts(ipr)); err != nil {
		return err
	}
	if err := ctrl.NewControllerManagedBy(mgr).Named("ipaddress").For(&apinetv1alpha1.IPAddress{}).WithOptions(parallel).
		Watches(&apinetv1alpha1.IP{}, handler.EnqueueRequestsFromMapFunc(locksOfIP(c))).
		// A deleted Network releases its transit address.
		Watches(&apinetv1alpha1.Network{}, handler.EnqueueRequestsFromMapFunc(locksClaimedBy(c)), builder.WithPredicates(enqueue.OnDelete())).
		Complete(IPAddressReleaser(c, reader)); err != nil {
		return err
	}
	nwr := &NetworkReconciler{Client: c, APIReader: reader, IDs: ids, Recorder: rec}
	if err := ctrl.NewControllerManagedBy(mgr).Named("network").For(&apinetv1alpha1.Network{}).WithOptions(parallel).
		Watches(&apinetv1alpha1.NetworkID{}, handler.EnqueueRequestsFromMapFunc(nwr.waitingNetworks), builder.WithPredicates(enqueue.OnDelete())).
		Complete(patch.RequeueConflicts(nwr)); err != nil {
		return err
	}
	if err := ctrl.NewControllerManagedBy(mgr).Named("networkid").For(&apinetv1alpha1.NetworkID{}).WithOptions(parallel).
		Watches(&apinetv1alpha1.Network{}, handler.EnqueueRequestsFromMapFunc(locksOfNetwork(c))).
		Complete(NetworkIDReleaser(c, reader)); err != nil {
		return err
	}
	for _, kind := range Claimers {
		r := &ClaimReconciler{Client: c, Kind: kind, Recorder: rec}
		if err := ctrl.NewControllerManagedBy(mgr).Named("claims-"+kind.Resource).For(kind.New()).
			Watches(&apinetv1alpha1.IP{}, handler.EnqueueRequestsFromMapFunc(r.claimersOfIP)).
			Complete(patch.RequeueConflicts(r)); err != nil {
			return err
		}
	}
	gc := ctrl.NewControllerManagedBy(mgr).Named("ipclaimgc").For(&apinetv1alpha1.IP{})
	for _, kind := range Claimers {
		// A deleted claimer releases its IPs.
		gc = gc.Watches(kind.New(), handler.EnqueueRequestsFromMapFunc(ipsClaimedBy(c)), builder.WithPredicates(enqueue.OnDelete()))
	}
	return gc.Complete(&IPClaimGCReconciler{Client: c, APIReader: reader})
}

// waitingIPs are the IPs that could take a just-released address.
func (r *IPReconciler) waitingIPs(ctx context.Context, o client.Object) []reconcile.Request {
	var ips apinetv1alpha1.IPList
	if err := r.List(ctx, &ips); err != nil {
		return nil
	}
	var out []reconcile.Request
	for _, ip := range ips.Items {
		// Not only IPs already marked as waiting: one whose PoolExhausted
		// status has not reached the cache yet must not miss the wake-up.
		if c := findCondition(ip.Status.Conditions, apinetv1alpha1.ConditionReady); ip.Spec.IP == "" || c == nil || c.Status != "True" {
			out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&ip)})
		}
	}
	return out
}

// waitingNetworks are the Networks that could take a just-released ID.
func (r *NetworkReconciler) waitingNetworks(ctx context.Context, o client.Object) []reconcile.Request {
	var nws apinetv1alpha1.NetworkList
	if err := r.List(ctx, &nws); err != nil {
		return nil
	}
	var out []reconcile.Request
	for _, nw := range nws.Items {
		if c := findCondition(nw.Status.Conditions, apinetv1alpha1.ConditionIDAllocated); nw.Spec.ID == "" || c == nil || c.Status != "True" {
			out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&nw)})
		}
	}
	return out
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

// claimersOfIP maps an IP to its claimer of this kind, and to the claimers
// in its namespace that ask for its address but do not hold it yet.
func (r *ClaimReconciler) claimersOfIP(ctx context.Context, o client.Object) []reconcile.Request {
	ip := o.(*apinetv1alpha1.IP)
	var out []reconcile.Request
	if ref := ip.Spec.ClaimRef; ref != nil && ref.Resource == r.Kind.Resource {
		out = append(out, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: ip.Namespace, Name: ref.Name}})
	}
	if ip.Spec.IP == "" {
		return out
	}
	list := r.Kind.NewList()
	if err := r.List(ctx, list, client.InNamespace(ip.Namespace), client.MatchingFields{indexRequestedIP: canonical(ip.Spec.IP)}); err != nil {
		return out
	}
	for _, c := range r.Kind.items(list) {
		out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(c)})
	}
	return out
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
