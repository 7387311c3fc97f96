package ovntranslate

import (
	"context"
	"net/netip"
	"slices"
	"strconv"

	"k8s.io/apimachinery/pkg/api/equality"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	apinetv1alpha1 "github.com/ovnet-dev/ovnet/apis/core/v1alpha1"
	"github.com/ovnet-dev/ovnet/controllers/index"
	"github.com/ovnet-dev/ovnet/internal/patch"
	"github.com/ovnet-dev/ovnet/ovn/rows"
)

// peeringStatusKey is the partition key of status.peerings ovnet writes
// (ironcore keys it by partition; ovnet has one dataplane).
const peeringStatusKey = "ovn"

// peers resolves nw's spec.peerings: a peering is active when a Network
// with that ID lists nw's ID back. It returns the active peers with the
// destinations nw routes to each, nw's own NIC addresses, and the state
// of every listed peering.
func (r *NetworkReconciler) peers(ctx context.Context, nw *apinetv1alpha1.Network) ([]rows.Peer, []netip.Prefix, []apinetv1alpha1.NetworkPeeringStatus, error) {
	if len(nw.Spec.Peerings) == 0 {
		return nil, nil, nil, nil
	}
	var all apinetv1alpha1.NetworkList
	if err := r.List(ctx, &all); err != nil {
		return nil, nil, nil, err
	}
	own, err := r.nicPrefixes(ctx, nw)
	if err != nil {
		return nil, nil, nil, err
	}
	var peers []rows.Peer
	var states []apinetv1alpha1.NetworkPeeringStatus
	for _, e := range nw.Spec.Peerings {
		id, err := strconv.ParseInt(e.ID, 10, 32)
		if err != nil {
			states = append(states, apinetv1alpha1.NetworkPeeringStatus{ID: int32(id), State: apinetv1alpha1.NetworkPeeringStateError})
			continue
		}
		state := apinetv1alpha1.NetworkPeeringStatePending
		for i := range all.Items {
			p := &all.Items[i]
			if p.Spec.ID != e.ID || !p.DeletionTimestamp.IsZero() ||
				!slices.ContainsFunc(p.Spec.Peerings, func(back apinetv1alpha1.NetworkPeering) bool { return back.ID == nw.Spec.ID }) {
				continue
			}
			// A network that names the ID without holding it is no peer.
			if held, err := r.holdsID(ctx, p); err != nil {
				return nil, nil, nil, err
			} else if !held {
				continue
			}
			// What nw routes to the peer is what the peer exposes: the
			// prefixes of its entry for nw (the API's "prefixes of this
			// network exposed to the peer"), or, without any, all of its
			// NICs' addresses.
			back := p.Spec.Peerings[slices.IndexFunc(p.Spec.Peerings, func(back apinetv1alpha1.NetworkPeering) bool { return back.ID == nw.Spec.ID })]
			peer := rows.Peer{Network: p, VNI: id}
			for _, pp := range back.Prefixes {
				if pp.Prefix != nil {
					if pfx, err := netip.ParsePrefix(string(*pp.Prefix)); err == nil {
						peer.Routes = append(peer.Routes, pfx.Masked())
					}
				}
			}
			if len(back.Prefixes) == 0 {
				if peer.Routes, err = r.nicPrefixes(ctx, p); err != nil {
					return nil, nil, nil, err
				}
			}
			peers = append(peers, peer)
			state = apinetv1alpha1.NetworkPeeringStateReady
			break
		}
		states = append(states, apinetv1alpha1.NetworkPeeringStatus{ID: int32(id), State: state})
	}
	return peers, own, states, nil
}

// nicPrefixes are the addresses (/32, /128) and prefixes of a Network's NICs.
func (r *NetworkReconciler) nicPrefixes(ctx context.Context, nw *apinetv1alpha1.Network) ([]netip.Prefix, error) {
	var nics apinetv1alpha1.NetworkInterfaceList
	if err := r.List(ctx, &nics, client.InNamespace(nw.Namespace), client.MatchingFields{index.Network: nw.Name}); err != nil {
		return nil, err
	}
	var out []netip.Prefix
	for _, n := range nics.Items {
		for _, ip := range n.Spec.IPs {
			if a, err := netip.ParseAddr(string(ip)); err == nil {
				out = append(out, netip.PrefixFrom(a, a.BitLen()))
			}
		}
		for _, p := range n.Spec.Prefixes {
			if pfx, err := netip.ParsePrefix(string(p)); err == nil {
				out = append(out, pfx.Masked())
			}
		}
	}
	slices.SortFunc(out, func(a, b netip.Prefix) int { return a.Addr().Compare(b.Addr()) })
	return slices.Compact(out), nil
}

// setPeeringStatus writes status.peerings when it changed.
func (r *NetworkReconciler) setPeeringStatus(ctx context.Context, nw *apinetv1alpha1.Network, states []apinetv1alpha1.NetworkPeeringStatus) error {
	want := map[string][]apinetv1alpha1.NetworkPeeringStatus(nil)
	if len(states) > 0 {
		want = map[string][]apinetv1alpha1.NetworkPeeringStatus{peeringStatusKey: states}
	}
	if equality.Semantic.DeepEqual(want, nw.Status.Peerings) || (len(want) == 0 && len(nw.Status.Peerings) == 0) {
		return nil
	}
	before := nw.DeepCopy()
	nw.Status.Peerings = want
	return patch.Status(ctx, r.Client, before, nw, fieldOwner)
}

// peeringNetworks maps a Network or NIC event to the Networks that peer
// with the Network concerned: their rows route to its NICs, and their
// peering state depends on it listing them back. It is an index lookup,
// because NIC events are frequent.
func peeringNetworks(c client.Client) func(ctx context.Context, o client.Object) []reconcile.Request {
	return func(ctx context.Context, o client.Object) []reconcile.Request {
		var id string
		switch obj := o.(type) {
		case *apinetv1alpha1.Network:
			id = obj.Spec.ID
		case *apinetv1alpha1.NetworkInterface:
			nw := &apinetv1alpha1.Network{}
			if err := c.Get(ctx, client.ObjectKey{Namespace: obj.Namespace, Name: obj.Spec.NetworkRef.Name}, nw); err != nil {
				return nil
			}
			id = nw.Spec.ID
		}
		if id == "" {
			return nil
		}
		var peering apinetv1alpha1.NetworkList
		if err := c.List(ctx, &peering, client.MatchingFields{indexPeeredID: id}); err != nil {
			return nil
		}
		out := make([]reconcile.Request, len(peering.Items))
		for i := range peering.Items {
			out[i] = reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&peering.Items[i])}
		}
		return out
	}
}
