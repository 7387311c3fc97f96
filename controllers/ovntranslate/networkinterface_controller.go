package ovntranslate

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	apinetv1alpha1 "github.com/ovnet-dev/ovnet/apis/core/v1alpha1"
	"github.com/ovnet-dev/ovnet/controllers/index"
	"github.com/ovnet-dev/ovnet/controllers/nat"
	"github.com/ovnet-dev/ovnet/controllers/publicip"
	"github.com/ovnet-dev/ovnet/internal/patch"
	"github.com/ovnet-dev/ovnet/ovn/nbdb"
	"github.com/ovnet-dev/ovnet/ovn/rows"
)

const (
	kindNetworkInterface = "NetworkInterface"
	// conditionPublicIPsClaimed is written by the claim controllers
	// (controllers/ipam).
	conditionPublicIPsClaimed = apinetv1alpha1.ConditionPublicIPsClaimed
)

// Reasons of a NIC's Ready condition besides RowsWritten and Pending.
const (
	// ReasonNotRealized: parts of the object cannot have rows (e.g. an IPv6
	// public IP while the provider network carries no IPv6); the message
	// names them and why.
	ReasonNotRealized = "NotRealized"
)

// NetworkInterfaceReconciler writes a NIC's port, routes and public-IP NAT
// rows (ovn/rows/networkinterface.go) into its Network's switch and router,
// and reports what was realized in status.publicIPs, status.prefixes and
// status.natIPs: only public IPs the NIC holds (controllers/publicip) become
// rows, and a NIC whose internal address an earlier object of its Network
// uses gets none (conflicts.go).
type NetworkInterfaceReconciler struct {
	translator[*apinetv1alpha1.NetworkInterface]
	Scope publicip.Scope
	// Guest is what DHCP tells the guests.
	Guest rows.Guest
	// ProviderIPv6: IPv6 public IPs can be realized (rows.Provider.IPv6).
	ProviderIPv6 bool
}

// +kubebuilder:rbac:groups=core.apinet.ironcore.dev,resources=networkinterfaces,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=core.apinet.ironcore.dev,resources=networkinterfaces/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=core.apinet.ironcore.dev,resources=ips;ipaddresses,verbs=get;list;watch

func setupNetworkInterface(d deps) error {
	r := &NetworkInterfaceReconciler{Scope: d.scope, Guest: d.guest, ProviderIPv6: d.provider.IPv6()}
	r.translator = translatorFor(d, kindNetworkInterface, func() *apinetv1alpha1.NetworkInterface { return &apinetv1alpha1.NetworkInterface{} },
		func(nic *apinetv1alpha1.NetworkInterface) *[]metav1.Condition { return &nic.Status.Conditions })
	r.translate, r.deleted = r.reconcile, r.releaseAgent
	c := d.c
	return ctrl.NewControllerManagedBy(d.mgr).Named("networkinterface-ovn").For(&apinetv1alpha1.NetworkInterface{}, builder.WithPredicates(r.echoes.predicate())).
		// Its rows hang off its Network's switch and router, which the
		// Network's Ready announces.
		Watches(&apinetv1alpha1.Network{}, handler.EnqueueRequestsFromMapFunc(nicsBy(c, index.Network, func(o client.Object) string { return o.GetName() })),
			builder.WithPredicates(networkRealized)).
		Watches(&apinetv1alpha1.Node{}, handler.EnqueueRequestsFromMapFunc(nicsBy(c, indexNode, func(o client.Object) string { return o.GetName() }))).
		// status.natIPs follows the NAT tables.
		Watches(&apinetv1alpha1.NATTable{}, natTableChanges()).
		// What the NIC holds: its IPs' claims and their locks.
		Watches(&apinetv1alpha1.IP{}, handler.EnqueueRequestsFromMapFunc(publicip.ClaimerOfIP("networkinterfaces"))).
		Watches(&apinetv1alpha1.IPAddress{}, handler.EnqueueRequestsFromMapFunc(publicip.ClaimerOfLock(c, "networkinterfaces"))).
		// Becoming or ceasing to be a Public LB's backend moves its public
		// IPs' translation (rows.NetworkInterfaceInput.PublicLBBackend).
		Watches(&apinetv1alpha1.LoadBalancerRouting{}, handler.EnqueueRequestsFromMapFunc(destinationsWithPublicIPs(c))).
		// Internal address conflicts: the users of the same addresses.
		Watches(&apinetv1alpha1.NetworkInterface{}, handler.EnqueueRequestsFromMapFunc(sharersOf(c))).
		Watches(&apinetv1alpha1.LoadBalancer{}, handler.EnqueueRequestsFromMapFunc(sharersOf(c))).
		// Its rows (and its snat rows) changed or deleted in OVN.
		WatchesRawSource(d.drift.source(kindNetworkInterface)).
		Complete(patch.RequeueConflicts(r))
}

func (r *NetworkInterfaceReconciler) reconcile(ctx context.Context, nic *apinetv1alpha1.NetworkInterface) (ctrl.Result, error) {
	nw, missing, err := networkOf(ctx, r.Client, nic.Namespace, nic.Spec.NetworkRef.Name)
	if err != nil {
		return ctrl.Result{}, err
	}
	if nw == nil {
		return ctrl.Result{}, r.missing(ctx, nic, missing)
	}
	node := &apinetv1alpha1.Node{}
	if err := r.Get(ctx, types.NamespacedName{Name: nic.Spec.NodeRef.Name}, node); err != nil {
		if apierrors.IsNotFound(err) {
			return ctrl.Result{}, r.missing(ctx, nic, fmt.Sprintf("node %q does not exist", nic.Spec.NodeRef.Name))
		}
		return ctrl.Result{}, err
	}
	if nw.Spec.ID == "" {
		// Its switch and router are keyed by the ID; the Network's update wakes us.
		return r.pending(ctx, nic, fmt.Sprintf("network %q is not in OVN yet", nw.Name))
	}
	conflict, err := conflictOf(ctx, r.Client, userOf(kindNetworkInterface, nic, nicAddresses(nic)), nic.Namespace, nw.Name)
	if err != nil {
		return ctrl.Result{}, err
	}
	if conflict != "" {
		return ctrl.Result{}, r.unrealize(ctx, nic, ReasonIPConflict, conflict)
	}
	held, err := publicip.Held(ctx, r.Client, nic, publicip.Addresses(nic.Spec.PublicIPs), r.Scope)
	if err != nil {
		return ctrl.Result{}, err
	}
	lbBackend := false
	if len(held) > 0 {
		if lbBackend, err = publicLBBackend(ctx, r.Client, nic); err != nil {
			return ctrl.Result{}, err
		}
	}
	built, err := rows.NetworkInterfaceRowsFor(rows.NetworkInterfaceInput{NIC: nic, Network: nw, Chassis: chassisOf(node), PublicIPs: held,
		ProviderIPv6: r.ProviderIPv6, PublicLBBackend: lbBackend, Guest: r.Guest})
	if err != nil {
		return ctrl.Result{}, r.unrealize(ctx, nic, "Invalid", err.Error())
	}
	if res, ok, err := r.write(ctx, nic, nw.Name, built.Rows); !ok {
		return res, err
	}
	before := nic.DeepCopy()
	nic.Status.PublicIPs, nic.Status.Prefixes, nic.Status.NATIPs = built.PublicIPs, built.Prefixes, r.natIPs(nic)
	status, reason, msg := metav1.ConditionTrue, "RowsWritten", "port "+apinetv1alpha1.NetworkInterfacePortName(nic)+" written"
	unheld, unallocated := unheldPublicIPs(nic, built.PublicIPs)
	switch {
	case len(built.NotRealized) > 0:
		status, reason = metav1.ConditionFalse, ReasonNotRealized
		msg = "not realized: " + strings.Join(built.NotRealized, ", ") + "; " + msg + " with the other parts"
	case len(unheld) > 0 && notHeldReason(nic.Status.Conditions) == ReasonPublicIPNotHeld:
		status, reason = metav1.ConditionFalse, ReasonPublicIPNotHeld
		msg = "public IPs " + strings.Join(unheld, ", ") + " are not held by this interface (see condition PublicIPsClaimed); " + msg + " without them"
	case len(unheld)+len(unallocated) > 0:
		// Allocated or claimed a moment ago: the claim's event wakes us.
		status, reason = metav1.ConditionFalse, "Pending"
		msg = "waiting for public IPs " + strings.Join(append(unallocated, unheld...), ", ") + " to be held; " + msg
	}
	if status == metav1.ConditionTrue && meta.FindStatusCondition(nic.Status.Conditions, apinetv1alpha1.ConditionReady) == nil {
		// Its NAT gateways claim it and write its snat rows moments later
		// (their insert wakes us): its first Ready waits for its NAT IPs,
		// one status write instead of one before and one after.
		if missing, err := r.natToCome(ctx, nic); err != nil {
			return ctrl.Result{}, err
		} else if missing > 0 {
			if err := r.firstReport.Wait(nic, nic.Status.Conditions, apinetv1alpha1.ConditionReady, fmt.Sprintf("for %d NAT IPs", missing)); err != nil {
				return ctrl.Result{}, err
			}
		}
	}
	return ctrl.Result{}, r.report(ctx, before, nic, status, reason, msg)
}

// natToCome is how many NAT gateways of nic's network NAT it
// (nat.Eligible) beyond the NAT IPs its status has.
func (r *NetworkInterfaceReconciler) natToCome(ctx context.Context, nic *apinetv1alpha1.NetworkInterface) (int, error) {
	var gws apinetv1alpha1.NATGatewayList
	if err := r.List(ctx, &gws, client.InNamespace(nic.Namespace), client.MatchingFields{index.Network: nic.Spec.NetworkRef.Name}, client.UnsafeDisableDeepCopy); err != nil {
		return 0, fmt.Errorf("list the NAT gateways of %s: %w", nic.Name, err)
	}
	n := 0
	for i := range gws.Items {
		if gws.Items[i].DeletionTimestamp.IsZero() && nat.Eligible(&gws.Items[i], nic) {
			n++
		}
	}
	return n - len(nic.Status.NATIPs), nil
}

// publicLBBackend reports whether nic is a destination of a Public
// LoadBalancer of its Network.
func publicLBBackend(ctx context.Context, c client.Reader, nic *apinetv1alpha1.NetworkInterface) (bool, error) {
	var routings apinetv1alpha1.LoadBalancerRoutingList
	if err := c.List(ctx, &routings, client.InNamespace(nic.Namespace), client.MatchingFields{indexDestination: string(nic.UID)}); err != nil {
		return false, fmt.Errorf("list the load balancer routings of %s: %w", nic.Name, err)
	}
	for _, routing := range routings.Items {
		lb := &apinetv1alpha1.LoadBalancer{}
		if err := c.Get(ctx, client.ObjectKeyFromObject(&routing), lb); err != nil {
			if apierrors.IsNotFound(err) {
				continue
			}
			return false, err
		}
		if lb.Spec.Type == apinetv1alpha1.LoadBalancerTypePublic && lb.Spec.NetworkRef.Name == nic.Spec.NetworkRef.Name && lb.DeletionTimestamp.IsZero() {
			return true, nil
		}
	}
	return false, nil
}

// destinationsWithPublicIPs maps a routing to its destination NICs that
// ask for public IPs (the others' rows do not depend on it).
func destinationsWithPublicIPs(c client.Reader) handler.MapFunc {
	return func(ctx context.Context, o client.Object) []reconcile.Request {
		var out []reconcile.Request
		for _, d := range o.(*apinetv1alpha1.LoadBalancerRouting).Destinations {
			if d.TargetRef == nil {
				continue
			}
			key := types.NamespacedName{Namespace: o.GetNamespace(), Name: d.TargetRef.Name}
			nic := &apinetv1alpha1.NetworkInterface{}
			if err := c.Get(ctx, key, nic); err == nil && len(nic.Spec.PublicIPs) > 0 {
				out = append(out, reconcile.Request{NamespacedName: key})
			}
		}
		return out
	}
}

// unheldPublicIPs names the entries of spec.publicIPs that have no row:
// naming an address the NIC does not hold, or not allocated yet.
func unheldPublicIPs(nic *apinetv1alpha1.NetworkInterface, realized []apinetv1alpha1.IPAddr) (unheld, unallocated []string) {
	for _, e := range nic.Spec.PublicIPs {
		switch {
		case slices.Contains(realized, e.IP):
		case e.IP == "":
			unallocated = append(unallocated, e.Name)
		default:
			unheld = append(unheld, e.Name+" ("+string(e.IP)+")")
		}
	}
	return unheld, unallocated
}

// unrealize removes the NIC's rows (it keeps its finalizer) and reports why.
func (r *NetworkInterfaceReconciler) unrealize(ctx context.Context, nic *apinetv1alpha1.NetworkInterface, reason, msg string) error {
	if _, err := r.NB.Delete(ctx, ownerOf(nic, kindNetworkInterface)); err != nil {
		return err
	}
	before := nic.DeepCopy()
	nic.Status.PublicIPs, nic.Status.Prefixes, nic.Status.NATIPs = nil, nil, nil
	return r.report(ctx, before, nic, metav1.ConditionFalse, reason, msg)
}

// releaseAgent runs once a deleted NIC's rows are gone: when its Node is
// gone or its agent's Lease has expired, it removes the node agent's
// finalizer (no agent is left to remove its device; one that comes back
// removes it as an orphan), so that the NIC can go.
func (r *NetworkInterfaceReconciler) releaseAgent(ctx context.Context, nic *apinetv1alpha1.NetworkInterface) (ctrl.Result, error) {
	if !controllerutil.ContainsFinalizer(nic, apinetv1alpha1.NodeAgentFinalizer) {
		return ctrl.Result{}, nil
	}
	alive, err := agentAlive(ctx, r.Client, nic.Spec.NodeRef.Name, time.Now())
	if err != nil || alive > 0 {
		// Looked at again when the Lease would expire unless renewed.
		return ctrl.Result{RequeueAfter: alive}, err
	}
	patch := client.MergeFromWithOptions(nic.DeepCopy(), client.MergeFromWithOptimisticLock{})
	controllerutil.RemoveFinalizer(nic, apinetv1alpha1.NodeAgentFinalizer)
	if err := r.Patch(ctx, nic, patch, fieldOwner); err != nil {
		return ctrl.Result{}, fmt.Errorf("remove the finalizer of the gone node's agent: %w", err)
	}
	return ctrl.Result{}, nil
}

// agentAlive is how long node's agent has left on its Lease; zero when its
// Node is gone, or its Lease is missing or has expired.
func agentAlive(ctx context.Context, c client.Reader, node string, now time.Time) (time.Duration, error) {
	if err := c.Get(ctx, types.NamespacedName{Name: node}, &apinetv1alpha1.Node{}); err != nil {
		return 0, client.IgnoreNotFound(err)
	}
	lease := &coordinationv1.Lease{}
	if err := c.Get(ctx, types.NamespacedName{Namespace: apinetv1alpha1.NodeAgentLeaseNamespace, Name: apinetv1alpha1.NodeAgentLeaseName(node)}, lease); err != nil {
		return 0, client.IgnoreNotFound(err)
	}
	if lease.Spec.RenewTime == nil || lease.Spec.LeaseDurationSeconds == nil {
		return 0, nil
	}
	left := lease.Spec.RenewTime.Add(time.Duration(*lease.Spec.LeaseDurationSeconds) * time.Second).Sub(now)
	return max(left, 0), nil
}

// natIPs are the NAT IPs of the snat rows that the NIC's gateways wrote for
// it (read from the NB cache: what OVN has, not what the tables promise).
func (r *NetworkInterfaceReconciler) natIPs(nic *apinetv1alpha1.NetworkInterface) []apinetv1alpha1.IPAddr {
	var out []apinetv1alpha1.IPAddr
	for _, n := range nic.Spec.NATGateways {
		if row, ok := r.NB.ByKey(nbdb.NATTable, rows.SNATKey(string(n.ClaimRef.UID), string(nic.UID))).(*nbdb.NAT); ok && row.Type == nbdb.NATTypeSNAT {
			out = append(out, apinetv1alpha1.IPAddr(row.ExternalIP))
		}
	}
	slices.Sort(out)
	return out
}
