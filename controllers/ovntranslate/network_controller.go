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
	// Transit hands out the gateway ports' addresses (controllers/ipam).
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
	return ctrl.NewControllerManagedBy(d.mgr).Named("network-ovn").For(&apinetv1alpha1.Network{}, builder.WithPredicates(r.echoes.predicate())).
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
	claim := apinetv1alpha1.ClaimRef{
		Group: apinetv1alpha1.GroupVersion.Group, Resource: "networks", Namespace: nw.Namespace, Name: nw.Name, UID: nw.UID,
	}
	transit, ok, err := r.Transit.Take(ctx, apinetv1alpha1.IPv4, claim)
	if err != nil {
		return ctrl.Result{}, err
	}
	if !ok {
		return ctrl.Result{RequeueAfter: retryAfter}, r.ready(ctx, nw, metav1.ConditionFalse, "TransitExhausted",
			fmt.Sprintf("no free address in the transit prefix %s for the network's gateway port", r.Provider.TransitPrefix))
	}
	var transit6 netip.Addr
	if r.Provider.IPv6() {
		if transit6, ok, err = r.Transit.Take(ctx, apinetv1alpha1.IPv6, claim); err != nil {
			return ctrl.Result{}, err
		}
		if !ok {
			return ctrl.Result{RequeueAfter: retryAfter}, r.ready(ctx, nw, metav1.ConditionFalse, "TransitExhausted",
				fmt.Sprintf("no free address in the transit prefix %s for the network's gateway port", r.Provider.TransitPrefix6))
		}
	}
	// The gateway port's addresses are taken while the ID is allocated,
	// not after it: a Network's cold start waits for one round of writes
	// less.
	if err := r.annotateTransit(ctx, nw, transit, transit6); err != nil {
		return ctrl.Result{}, err
	}
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

// annotateTransit shows the gateway port's addresses on the Network (one
// patch, only when they changed).
func (r *NetworkReconciler) annotateTransit(ctx context.Context, nw *apinetv1alpha1.Network, transit, transit6 netip.Addr) error {
	want6 := ""
	if transit6.IsValid() {
		want6 = transit6.String()
	}
	if nw.Annotations[AnnotationTransitIP] == transit.String() && nw.Annotations[AnnotationTransitIP6] == want6 {
		return nil
	}
	patch := client.MergeFrom(nw.DeepCopy())
	metav1.SetMetaDataAnnotation(&nw.ObjectMeta, AnnotationTransitIP, transit.String())
	if want6 != "" {
		metav1.SetMetaDataAnnotation(&nw.ObjectMeta, AnnotationTransitIP6, want6)
	} else {
		delete(nw.Annotations, AnnotationTransitIP6)
	}
	if err := r.Patch(ctx, nw, patch, fieldOwner); err != nil {
		return fmt.Errorf("annotate the gateway port's addresses: %w", err)
	}
	return nil
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
