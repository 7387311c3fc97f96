package ovntranslate

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	apinetv1alpha1 "github.com/ovnet-dev/ovnet/apis/core/v1alpha1"
	"github.com/ovnet-dev/ovnet/controllers/index"
	"github.com/ovnet-dev/ovnet/controllers/internal/workers"
	"github.com/ovnet-dev/ovnet/controllers/ipam"
	"github.com/ovnet-dev/ovnet/internal/patch"
	"github.com/ovnet-dev/ovnet/ovn"
	"github.com/ovnet-dev/ovnet/ovn/rows"
)

// NetworkReconciler writes a Network's switch, router, gateway port and
// default route (ovn/rows/network.go) once its VNI is allocated.
type NetworkReconciler struct {
	translator[*apinetv1alpha1.Network]
	Provider rows.Provider
	// Guest is what router advertisements tell IPv6 guests.
	Guest rows.Guest
	// Transit reads the gateway ports' addresses, which the allocation
	// controllers take (controllers/ipam).
	Transit *ipam.Addresses
}

// +kubebuilder:rbac:groups=core.apinet.ironcore.dev,resources=networks,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=core.apinet.ironcore.dev,resources=networks/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=core.apinet.ironcore.dev,resources=nodes,verbs=get;list;watch
// +kubebuilder:rbac:groups=core.apinet.ironcore.dev,resources=networkids,verbs=get;list;watch

func setupNetwork(d deps, transit *ipam.Addresses) error {
	r := &NetworkReconciler{Provider: d.provider, Guest: d.guest, Transit: transit}
	r.translator = translatorFor(d, "Network", func() *apinetv1alpha1.Network { return &apinetv1alpha1.Network{} },
		func(nw *apinetv1alpha1.Network) *[]metav1.Condition { return &nw.Status.Conditions })
	r.translate = r.reconcile
	return ctrl.NewControllerManagedBy(d.mgr).Named("network-ovn").WithOptions(workers.Networks(d.mgr)).For(&apinetv1alpha1.Network{}, builder.WithPredicates(r.echoes.predicate())).
		// The gateway chassis follow the gateway Nodes.
		Watches(&apinetv1alpha1.Node{}, handler.EnqueueRequestsFromMapFunc(allNetworks(d.c))).
		// ... and the nodes of Public LoadBalancers' Instances.
		Watches(&apinetv1alpha1.Instance{}, handler.EnqueueRequestsFromMapFunc(networkOfInstance)).
		// Peerings: a peer's listing and its NICs.
		Watches(&apinetv1alpha1.Network{}, handler.EnqueueRequestsFromMapFunc(peeringNetworks(d.c))).
		Watches(&apinetv1alpha1.NetworkInterface{}, handler.EnqueueRequestsFromMapFunc(peeringNetworks(d.c))).
		// Its ID's lock taken or released.
		Watches(&apinetv1alpha1.NetworkID{}, handler.EnqueueRequestsFromMapFunc(networkOfID)).
		WatchesRawSource(d.drift.source("Network")).
		Complete(patch.RequeueConflicts(r))
}

func (r *NetworkReconciler) reconcile(ctx context.Context, nw *apinetv1alpha1.Network) (ctrl.Result, error) {
	vni, err := strconv.ParseInt(nw.Spec.ID, 10, 64)
	if held, herr := r.holdsID(ctx, nw); herr != nil {
		return ctrl.Result{}, herr
	} else if nw.Spec.ID == "" || err != nil || !held {
		// Its ID's lock and spec.id wake us.
		return r.pending(ctx, nw, "waiting for the network ID")
	}
	if vni > rows.MaxVNI {
		return ctrl.Result{}, r.ready(ctx, nw, metav1.ConditionFalse, apinetv1alpha1.ReasonOutOfRange,
			fmt.Sprintf("network ID %d is above %d: its OVN router key would be out of range", vni, rows.MaxVNI))
	}
	// The gateway port's addresses are taken by the allocation controller
	// (controllers/ipam) in the same write as spec.id; here they are read
	// from their locks, never from the annotation a tenant can edit.
	transit, res, err := r.transitAddress(ctx, nw, apinetv1alpha1.IPv4, r.Provider.TransitPrefix)
	if !transit.IsValid() {
		return res, err
	}
	var transit6 netip.Addr
	if r.Provider.IPv6() {
		if transit6, res, err = r.transitAddress(ctx, nw, apinetv1alpha1.IPv6, r.Provider.TransitPrefix6); !transit6.IsValid() {
			return res, err
		}
	}
	gateways, err := r.gateways(ctx, nw, vni)
	if err != nil {
		return ctrl.Result{}, err
	}
	want, err := rows.NetworkRows(rows.NetworkInput{Network: nw, VNI: vni, TransitIP: transit, TransitIP6: transit6, Provider: r.Provider, Gateways: gateways, Guest: r.Guest})
	if err != nil {
		return ctrl.Result{}, r.ready(ctx, nw, metav1.ConditionFalse, "Invalid", err.Error())
	}
	peers, own, peeringStates, err := r.peers(ctx, nw)
	if err != nil {
		return ctrl.Result{}, err
	}
	peering, err := rows.PeeringRows(rows.PeeringInput{Network: nw, VNI: vni, Peers: peers, Own: own})
	if err != nil {
		return ctrl.Result{}, r.ready(ctx, nw, metav1.ConditionFalse, "Invalid", err.Error())
	}
	want = append(want, peering...)
	if _, err := r.NB.DeleteOthers(ctx, ownerOf(nw, "Network")); err != nil {
		return ctrl.Result{}, err
	}
	if _, err := r.NB.Apply(ctx, ownerOf(nw, "Network"), want); err != nil {
		if errors.Is(err, ovn.ErrParentMissing) {
			return ctrl.Result{RequeueAfter: retryAfter}, r.ready(ctx, nw, metav1.ConditionFalse, "Pending", err.Error())
		}
		return ctrl.Result{}, err
	}
	if err := r.setPeeringStatus(ctx, nw, peeringStates); err != nil {
		return ctrl.Result{}, err
	}
	gwAddrs := transit.String()
	if transit6.IsValid() {
		gwAddrs += ", " + transit6.String()
	}
	msg := fmt.Sprintf("switch and router written (VNI %d, gateway port %s)", vni, gwAddrs)
	if len(gateways) == 0 {
		msg += "; no gateway Node (label " + apinetv1alpha1.LabelGateway + "=true) yet, so no traffic leaves the network"
	}
	return ctrl.Result{}, r.ready(ctx, nw, metav1.ConditionTrue, "RowsWritten", msg)
}

// transitAddress returns the address of family that nw's IPAddress lock
// in prefix holds. Without one (an invalid address) it reports the Network
// as waiting for it, or, when prefix has no free address, as
// TransitExhausted, and returns the reconcile's result.
func (r *NetworkReconciler) transitAddress(ctx context.Context, nw *apinetv1alpha1.Network, family apinetv1alpha1.IPFamily, prefix netip.Prefix) (netip.Addr, ctrl.Result, error) {
	addr, ok, err := r.Transit.Held(ctx, family, nw.UID)
	switch {
	case err != nil || ok:
		return addr, ctrl.Result{}, err
	case r.Transit.Pool.Full(family):
		return netip.Addr{}, ctrl.Result{RequeueAfter: retryAfter}, r.ready(ctx, nw, metav1.ConditionFalse, "TransitExhausted",
			fmt.Sprintf("no free address in the transit prefix %s for the network's gateway port", prefix))
	}
	res, err := r.pending(ctx, nw, "waiting for the gateway port's address")
	return netip.Addr{}, res, err
}

// gateways are the gateway Nodes' chassis, highest priority first: first
// the chassis of Nodes that host an Instance of a Public LoadBalancer of
// the Network (its VIPs are then served where its Instances were placed),
// then the others. Within each group the chassis names are sorted and
// rotated by the VNI, so that the Networks' active gateways spread over
// the gateway chassis and stay put while the set is unchanged.
func (r *NetworkReconciler) gateways(ctx context.Context, nw *apinetv1alpha1.Network, vni int64) ([]rows.GatewayChassis, error) {
	var nodes apinetv1alpha1.NodeList
	if err := r.List(ctx, &nodes, client.MatchingLabels{apinetv1alpha1.LabelGateway: "true"}); err != nil {
		return nil, err
	}
	var insts apinetv1alpha1.InstanceList
	if err := r.List(ctx, &insts, client.InNamespace(nw.Namespace), client.MatchingFields{index.Network: nw.Name}, client.UnsafeDisableDeepCopy); err != nil {
		return nil, err
	}
	hostsLB := map[string]bool{}
	for _, i := range insts.Items {
		if i.Spec.NodeRef != nil && i.Spec.NetworkRef.Name == nw.Name && i.Spec.LoadBalancerType == apinetv1alpha1.LoadBalancerTypePublic && i.DeletionTimestamp.IsZero() {
			hostsLB[i.Spec.NodeRef.Name] = true
		}
	}
	var first, rest []string
	for i := range nodes.Items {
		n := &nodes.Items[i]
		switch {
		case !n.DeletionTimestamp.IsZero():
		case hostsLB[n.Name]:
			first = append(first, chassisOf(n))
		default:
			rest = append(rest, chassisOf(n))
		}
	}
	order := append(rotated(first, vni), rotated(rest, vni)...)
	out := make([]rows.GatewayChassis, len(order))
	for i, name := range order {
		out[i] = rows.GatewayChassis{Name: name, Priority: 100 - i}
	}
	return out, nil
}

// rotated sorts names and rotates them by n.
func rotated(names []string, n int64) []string {
	slices.Sort(names)
	out := make([]string, len(names))
	for i := range names {
		out[i] = names[(int(n)+i)%len(names)]
	}
	return out
}

// holdsID reports whether nw holds its spec.id: the NetworkID lock named
// after it (controllers/ipam) names nw. A spec.id the user wrote that
// another Network holds is never realized.
func (r *NetworkReconciler) holdsID(ctx context.Context, nw *apinetv1alpha1.Network) (bool, error) {
	if nw.Spec.ID == "" {
		return false, nil
	}
	lock := &apinetv1alpha1.NetworkID{}
	if err := r.Get(ctx, client.ObjectKey{Name: nw.Spec.ID}, lock); err != nil {
		return false, client.IgnoreNotFound(err)
	}
	return lock.Spec.ClaimRef.UID == nw.UID && lock.DeletionTimestamp.IsZero(), nil
}

// networkOfID maps a NetworkID lock to the Network it names.
func networkOfID(_ context.Context, o client.Object) []reconcile.Request {
	ref := o.(*apinetv1alpha1.NetworkID).Spec.ClaimRef
	if ref.Resource != "networks" || ref.Name == "" {
		return nil
	}
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: ref.Namespace, Name: ref.Name}}}
}

func chassisOf(n *apinetv1alpha1.Node) string {
	if c := n.Annotations[apinetv1alpha1.AnnotationChassis]; c != "" {
		return c
	}
	return n.Name
}
