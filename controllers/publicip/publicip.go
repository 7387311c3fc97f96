// Package publicip decides which public addresses an object holds. It is
// the one rule by which a NetworkInterface's public IPs, a Public
// LoadBalancer's VIPs and a NATGateway's NAT IPs become OVN rows: an
// address that a spec merely names is never realized; only one the object
// holds is (docs/allocation.md, "Who holds an address").
package publicip

import (
	"context"
	"fmt"
	"net/netip"
	"slices"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	apinetv1alpha1 "github.com/ovnet-dev/ovnet/apis/core/v1alpha1"
	"github.com/ovnet-dev/ovnet/controllers/enqueue"
	"github.com/ovnet-dev/ovnet/controllers/index"
)

// Scope is where realizable public addresses live: inside one of the
// public pools and outside the provider's transit prefix (the Networks'
// gateway ports and the upstream router).
type Scope struct {
	Public  []netip.Prefix
	Transit []netip.Prefix
}

// Allows reports whether a is inside a public pool and outside the transit prefixes.
func (s Scope) Allows(a netip.Addr) bool {
	if slices.ContainsFunc(s.Transit, func(p netip.Prefix) bool { return p.Contains(a) }) {
		return false
	}
	return slices.ContainsFunc(s.Public, func(p netip.Prefix) bool { return p.Contains(a) })
}

// Held returns the addresses among named (in their order, without
// duplicates) that holder holds. holder holds address A when all of these
// are true:
//   - an IP object in holder's namespace has spec.ip A and its
//     spec.claimRef.uid is holder's UID;
//   - the IPAddress lock named after A exists, is not being deleted, and
//     its claimRef.uid is that IP object's UID;
//   - scope allows A.
//
// Reads come from c (the informer cache): a lock or claim that is not in
// the cache yet holds nothing until it is, and its event wakes the holder.
func Held(ctx context.Context, c client.Reader, holder client.Object, named []apinetv1alpha1.IPAddr, scope Scope) ([]netip.Addr, error) {
	var ips apinetv1alpha1.IPList
	if err := c.List(ctx, &ips, client.InNamespace(holder.GetNamespace()), client.MatchingFields{index.ClaimUID: string(holder.GetUID())}); err != nil {
		return nil, fmt.Errorf("list IPs claimed by %s/%s: %w", holder.GetNamespace(), holder.GetName(), err)
	}
	claimed := map[netip.Addr]types.UID{}
	for i := range ips.Items {
		ip := &ips.Items[i]
		a, err := netip.ParseAddr(string(ip.Spec.IP))
		if err != nil || ip.Spec.ClaimRef == nil || ip.Spec.ClaimRef.UID != holder.GetUID() || !ip.DeletionTimestamp.IsZero() {
			continue
		}
		claimed[a] = ip.UID
	}
	var out []netip.Addr
	for _, n := range named {
		a, err := netip.ParseAddr(string(n))
		if err != nil || slices.Contains(out, a) || !scope.Allows(a) {
			continue
		}
		ipUID, ok := claimed[a]
		if !ok {
			continue
		}
		lock := &apinetv1alpha1.IPAddress{}
		if err := c.Get(ctx, types.NamespacedName{Name: apinetv1alpha1.IPAddressName(a)}, lock); err != nil {
			if client.IgnoreNotFound(err) != nil {
				return nil, fmt.Errorf("get IPAddress %s: %w", apinetv1alpha1.IPAddressName(a), err)
			}
			continue
		}
		if lock.Spec.ClaimRef.UID == ipUID && lock.DeletionTimestamp.IsZero() && lock.Spec.IP == apinetv1alpha1.IPAddr(a.String()) {
			out = append(out, a)
		}
	}
	return out, nil
}

// Addresses of public IP requests, as named in a spec.
func Addresses(reqs []apinetv1alpha1.PublicIPRequest) []apinetv1alpha1.IPAddr {
	out := make([]apinetv1alpha1.IPAddr, 0, len(reqs))
	for _, r := range reqs {
		if r.IP != "" {
			out = append(out, r.IP)
		}
	}
	return out
}

// ClaimerOfIP maps an IP to its claimer when that is of resource (e.g.
// "networkinterfaces"): a claim, a release or an allocation changes what
// the claimer holds.
func ClaimerOfIP(resource string) handler.MapFunc {
	return func(_ context.Context, o client.Object) []reconcile.Request {
		ip := o.(*apinetv1alpha1.IP)
		if ref := ip.Spec.ClaimRef; ref != nil && ref.Resource == resource && ref.Name != "" {
			return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: ip.Namespace, Name: ref.Name}}}
		}
		return nil
	}
}

// ClaimerOrNamersOfIP is ClaimerOfIP plus the objects of newList's kind
// (LoadBalancers, NATGateways) whose spec.ips name the IP's address: a
// release clears the claim, so the address is what still links them. Both
// are looked up (the claim by name, the address by index.NamedIPs), so an
// IP's event costs the same however many such objects the namespace has.
func ClaimerOrNamersOfIP(c client.Client, resource string, newList func() client.ObjectList) handler.MapFunc {
	claimer := ClaimerOfIP(resource)
	namers := enqueue.ListedWhere(c, newList, index.NamedIPs, func(o client.Object) string { return string(o.(*apinetv1alpha1.IP).Spec.IP) }, nil)
	return func(ctx context.Context, o client.Object) []reconcile.Request {
		out := claimer(ctx, o)
		if o.(*apinetv1alpha1.IP).Spec.IP == "" {
			return out
		}
		return append(out, namers(ctx, o)...)
	}
}

// ClaimerOfLock maps an IPAddress lock to the claimer (of resource) of the
// IP object it locks: a lock that appears or goes changes what it holds.
func ClaimerOfLock(c client.Reader, resource string) handler.MapFunc {
	claimer := ClaimerOfIP(resource)
	return func(ctx context.Context, o client.Object) []reconcile.Request {
		ref := o.(*apinetv1alpha1.IPAddress).Spec.ClaimRef
		if ref.Resource != "ips" || ref.Namespace == "" {
			return nil
		}
		ip := &apinetv1alpha1.IP{}
		if err := c.Get(ctx, types.NamespacedName{Namespace: ref.Namespace, Name: ref.Name}, ip); err != nil || ip.UID != ref.UID {
			return nil
		}
		return claimer(ctx, ip)
	}
}
