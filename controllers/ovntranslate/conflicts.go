package ovntranslate

import (
	"context"
	"fmt"
	"net/netip"
	"slices"

	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	apinetv1alpha1 "github.com/ovnet-dev/ovnet/apis/core/v1alpha1"
	"github.com/ovnet-dev/ovnet/controllers/index"
)

// ReasonIPConflict: an internal address of the object is held by an
// earlier object of the same Network.
const ReasonIPConflict = "IPConflict"

// indexAddress indexes NICs by "<network>/<address>" for each IP, and by
// "<network>/prefixed" when they route prefixes: a NIC's address check
// reads only the NICs that can overlap it.
const indexAddress = "ovnet.network-address"

// addressUser is an object that uses internal addresses of one Network:
// a NetworkInterface (IPs and prefixes) or an Internal LoadBalancer (VIPs).
type addressUser struct {
	Kind      string
	Name      string
	Created   int64 // creation time, Unix seconds
	UID       string
	Addresses []netip.Prefix
}

func (u addressUser) String() string { return u.Kind + " " + u.Name }

// before is the rule that orders users of one address, the same in every
// controller: the older object first, the smaller UID between objects
// created in the same second.
func (u addressUser) before(o addressUser) bool {
	if u.Created != o.Created {
		return u.Created < o.Created
	}
	return u.UID < o.UID
}

// holderOf returns the first (by before) of others that uses an address
// overlapping one of self's and comes before self, and that address; ok is
// false when self may use all its addresses.
func holderOf(self addressUser, others []addressUser) (holder addressUser, addr netip.Prefix, ok bool) {
	for _, o := range others {
		if o.UID == self.UID || !o.before(self) || (ok && !o.before(holder)) {
			continue
		}
		for _, a := range self.Addresses {
			if i := slices.IndexFunc(o.Addresses, a.Overlaps); i >= 0 {
				holder, addr, ok = o, a, true
				break
			}
		}
	}
	return holder, addr, ok
}

func conflictMessage(holder addressUser, addr netip.Prefix) string {
	return fmt.Sprintf("address %s is used by %s, which came first; this object gets no rows until it is gone or changed", prefixText(addr), holder)
}

func prefixText(p netip.Prefix) string {
	if p.IsSingleIP() {
		return p.Addr().String()
	}
	return p.String()
}

func userOf(kind string, o client.Object, addrs []netip.Prefix) addressUser {
	return addressUser{Kind: kind, Name: o.GetName(), Created: o.GetCreationTimestamp().Unix(), UID: string(o.GetUID()), Addresses: addrs}
}

// nicAddresses are a NIC's IPs (as single-address prefixes) and prefixes.
func nicAddresses(nic *apinetv1alpha1.NetworkInterface) []netip.Prefix {
	var out []netip.Prefix
	for _, ip := range nic.Spec.IPs {
		if a, err := netip.ParseAddr(string(ip)); err == nil {
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
		}
	}
	for _, p := range nic.Spec.Prefixes {
		if pfx, err := netip.ParsePrefix(string(p)); err == nil {
			out = append(out, pfx.Masked())
		}
	}
	return out
}

// internalVIPs are an Internal LoadBalancer's addresses.
func internalVIPs(lb *apinetv1alpha1.LoadBalancer) []netip.Prefix {
	if lb.Spec.Type != apinetv1alpha1.LoadBalancerTypeInternal {
		return nil
	}
	var out []netip.Prefix
	for _, e := range lb.Spec.IPs {
		if a, err := netip.ParseAddr(string(e.IP)); err == nil {
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
		}
	}
	return out
}

// addressKeys are a NIC's indexAddress values.
func addressKeys(o client.Object) []string {
	nic := o.(*apinetv1alpha1.NetworkInterface)
	nw := nic.Spec.NetworkRef.Name
	var out []string
	for _, ip := range nic.Spec.IPs {
		if a, err := netip.ParseAddr(string(ip)); err == nil {
			out = append(out, nw+"/"+a.String())
		}
	}
	if len(nic.Spec.Prefixes) > 0 {
		out = append(out, nw+"/prefixed")
	}
	return out
}

// addressUsers lists the users of network's addresses that can overlap
// addrs: NICs with one of those IPs, NICs that route prefixes, every NIC of
// the network when addrs has a prefix, and the Internal LoadBalancers.
// The lists are only read (the cache's objects, not copies).
func addressUsers(ctx context.Context, c client.Reader, namespace, network string, addrs []netip.Prefix) ([]addressUser, error) {
	var keys []string
	wide := false
	for _, a := range addrs {
		if a.IsSingleIP() {
			keys = append(keys, network+"/"+a.Addr().String())
		} else {
			wide = true
		}
	}
	keys = append(keys, network+"/prefixed")
	var nics []apinetv1alpha1.NetworkInterface
	if wide {
		var list apinetv1alpha1.NetworkInterfaceList
		if err := c.List(ctx, &list, client.InNamespace(namespace), client.MatchingFields{index.Network: network}, client.UnsafeDisableDeepCopy); err != nil {
			return nil, fmt.Errorf("list NICs of network %s: %w", network, err)
		}
		nics = list.Items
	} else {
		for _, k := range keys {
			var list apinetv1alpha1.NetworkInterfaceList
			if err := c.List(ctx, &list, client.InNamespace(namespace), client.MatchingFields{indexAddress: k}, client.UnsafeDisableDeepCopy); err != nil {
				return nil, fmt.Errorf("list NICs by address %s: %w", k, err)
			}
			nics = append(nics, list.Items...)
		}
	}
	var out []addressUser
	for i := range nics {
		out = append(out, userOf(kindNetworkInterface, &nics[i], nicAddresses(&nics[i])))
	}
	var lbs apinetv1alpha1.LoadBalancerList
	if err := c.List(ctx, &lbs, client.InNamespace(namespace), client.MatchingFields{index.Network: network}, client.UnsafeDisableDeepCopy); err != nil {
		return nil, fmt.Errorf("list load balancers: %w", err)
	}
	for i := range lbs.Items {
		if vips := internalVIPs(&lbs.Items[i]); len(vips) > 0 {
			out = append(out, userOf("LoadBalancer", &lbs.Items[i], vips))
		}
	}
	return out, nil
}

// sharersOf maps a NIC or Internal LoadBalancer event to the NICs whose
// address check its change can turn: those that share or overlap one of
// its addresses.
func sharersOf(c client.Reader) func(ctx context.Context, o client.Object) []reconcile.Request {
	return func(ctx context.Context, o client.Object) []reconcile.Request {
		var network string
		var addrs []netip.Prefix
		switch v := o.(type) {
		case *apinetv1alpha1.NetworkInterface:
			network, addrs = v.Spec.NetworkRef.Name, nicAddresses(v)
		case *apinetv1alpha1.LoadBalancer:
			network, addrs = v.Spec.NetworkRef.Name, internalVIPs(v)
		}
		if len(addrs) == 0 {
			return nil
		}
		users, err := addressUsers(ctx, c, o.GetNamespace(), network, addrs)
		if err != nil {
			return nil
		}
		var out []reconcile.Request
		for _, u := range users {
			if u.Kind != kindNetworkInterface || u.UID == string(o.GetUID()) {
				continue
			}
			if slices.ContainsFunc(u.Addresses, func(a netip.Prefix) bool { return slices.ContainsFunc(addrs, a.Overlaps) }) {
				out = append(out, reconcile.Request{NamespacedName: client.ObjectKey{Namespace: o.GetNamespace(), Name: u.Name}})
			}
		}
		return out
	}
}

// conflictOf checks self's addresses against the other users of its
// Network; a non-empty message means self must not be realized.
func conflictOf(ctx context.Context, c client.Reader, self addressUser, namespace, network string) (string, error) {
	users, err := addressUsers(ctx, c, namespace, network, self.Addresses)
	if err != nil {
		return "", err
	}
	if holder, addr, ok := holderOf(self, users); ok {
		return conflictMessage(holder, addr), nil
	}
	return "", nil
}
