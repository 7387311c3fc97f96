package ipam

import (
	"context"
	"fmt"
	"net/netip"
	"strconv"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	apinetv1alpha1 "github.com/ovnet-dev/ovnet/apis/core/v1alpha1"
	"github.com/ovnet-dev/ovnet/controllers/enqueue"
	"github.com/ovnet-dev/ovnet/controllers/internal/workers"
	"github.com/ovnet-dev/ovnet/internal/patch"
)

// NetworkReconciler gives every Network a VNI (spec.id): the given one if it
// is in range and free, else a free one. The VNI is taken by creating the
// NetworkID named after it; the Network holds spec.id while that lock names
// it. Condition IDAllocated says why a Network has no ID.
//
// With Transit it also takes the addresses of the Network's gateway port
// (IPAddress locks claimed by the Network) and shows them in the
// annotations apinetv1alpha1.AnnotationTransitIP(6), in the same write as
// spec.id: the OVN translator reads the locks, and a Network's cold start
// costs one write less.
type NetworkReconciler struct {
	client.Client
	// APIReader: see IPReconciler.
	APIReader client.Reader
	IDs       *NetworkIDs
	// Transit, when set, hands out the gateway ports' addresses.
	Transit  *Addresses
	Recorder recorder.EventRecorder
}

// +kubebuilder:rbac:groups=core.apinet.ironcore.dev,resources=networks,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=core.apinet.ironcore.dev,resources=networks/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=core.apinet.ironcore.dev,resources=networkids,verbs=get;list;watch;create;delete

func (r *NetworkReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	nw := &apinetv1alpha1.Network{}
	if err := r.Get(ctx, req.NamespacedName, nw); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if patch.Behind(nw) {
		return ctrl.Result{RequeueAfter: patch.BehindRetry}, nil
	}
	if !nw.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil // the NetworkID controller releases the VNI once the Network is gone
	}
	if nw.Spec.ID == "" {
		if err := r.APIReader.Get(ctx, req.NamespacedName, nw); err != nil {
			return ctrl.Result{}, client.IgnoreNotFound(err)
		}
	}
	// The ID and the gateway addresses are independent: taken at the same
	// time, a Network waits for one round of creates, not two, before its
	// rows can be written. Both only read nw.
	var gateway map[string]string
	var transitFull bool
	var transitErr error
	transitTaken := make(chan struct{})
	go func() {
		defer close(transitTaken)
		gateway, transitFull, transitErr = r.gatewayAddresses(ctx, nw)
	}()
	id, reason, message, err := r.allocate(ctx, nw)
	<-transitTaken
	if err != nil {
		return ctrl.Result{}, err
	}
	if transitErr != nil {
		return ctrl.Result{}, transitErr
	}
	if (id >= 0 && nw.Spec.ID == "") || !shown(nw, gateway) {
		patch := client.MergeFrom(nw.DeepCopy())
		if id >= 0 && nw.Spec.ID == "" {
			nw.Spec.ID = strconv.FormatInt(id, 10)
		}
		for k, v := range gateway {
			if v == "" {
				delete(nw.Annotations, k)
			} else {
				metav1.SetMetaDataAnnotation(&nw.ObjectMeta, k, v)
			}
		}
		if err := r.Patch(ctx, nw, patch, fieldOwner); err != nil {
			return ctrl.Result{}, fmt.Errorf("record spec.id and the gateway port's addresses: %w", err)
		}
	}
	var retry ctrl.Result
	if transitFull {
		// The OVN translator reports it (Ready=False, TransitExhausted);
		// a released address is taken on a later round.
		retry.RequeueAfter = retryWaiting
	}
	if id >= 0 && meta.FindStatusCondition(nw.Status.Conditions, apinetv1alpha1.ConditionIDAllocated) == nil {
		// IDAllocated reports trouble: a Network that got its ID at once
		// shows it in spec.id (and its NetworkID lock), which spares a
		// status write per Network. Once shown, the condition stays.
		return retry, nil
	}
	before := nw.DeepCopy()
	cond := metav1.Condition{Type: apinetv1alpha1.ConditionIDAllocated, Status: metav1.ConditionTrue, Reason: apinetv1alpha1.ReasonAllocated, Message: "network ID " + nw.Spec.ID}
	if id < 0 {
		cond.Status, cond.Reason, cond.Message = metav1.ConditionFalse, reason, message
	}
	old := patch.SetCondition(&nw.Status.Conditions, nw, cond)
	patch.Warn(r.Recorder, nw, old, cond, actionAllocate)
	if err := patch.Status(ctx, r.Client, before, nw, fieldOwner); err != nil {
		return ctrl.Result{}, err
	}
	if id < 0 && (reason == apinetv1alpha1.ReasonPoolExhausted || reason == "IDAlreadyAllocated") {
		return ctrl.Result{RequeueAfter: retryWaiting}, nil
	}
	return retry, nil
}

// gatewayAddresses returns the annotations that show the addresses of nw's
// gateway port, one per family of the transit prefixes, taking an address
// where nw holds none; "" removes an annotation. full is true when a
// family's prefix had no free address. Held addresses are read from the
// cache: a Network's locks are released only once it is gone.
func (r *NetworkReconciler) gatewayAddresses(ctx context.Context, nw *apinetv1alpha1.Network) (map[string]string, bool, error) {
	if r.Transit == nil {
		return nil, false, nil
	}
	claim := apinetv1alpha1.ClaimRef{Group: claimRefGroup, Resource: "networks", Namespace: nw.Namespace, Name: nw.Name, UID: nw.UID}
	out, full := map[string]string{}, false
	for family, annotation := range map[apinetv1alpha1.IPFamily]string{
		apinetv1alpha1.IPv4: apinetv1alpha1.AnnotationTransitIP, apinetv1alpha1.IPv6: apinetv1alpha1.AnnotationTransitIP6,
	} {
		out[annotation] = ""
		if len(r.Transit.Pool.Prefixes(family)) == 0 {
			continue
		}
		addr, ok, err := r.Transit.Held(ctx, family, nw.UID)
		if err == nil && !ok {
			addr, ok, err = r.Transit.Take(ctx, family, claim)
		}
		if err != nil {
			return nil, false, fmt.Errorf("gateway port address (%s): %w", family, err)
		}
		if !ok {
			full = true
			continue
		}
		out[annotation] = addr.String()
	}
	return out, full, nil
}

// shown reports whether nw's annotations already say what want says.
func shown(nw *apinetv1alpha1.Network, want map[string]string) bool {
	for k, v := range want {
		if nw.Annotations[k] != v {
			return false
		}
	}
	return true
}

// allocate returns the VNI the network holds (taking it if needed), or -1
// and why it has none.
func (r *NetworkReconciler) allocate(ctx context.Context, nw *apinetv1alpha1.Network) (int64, string, string, error) {
	claim := apinetv1alpha1.ClaimRef{Group: claimRefGroup, Resource: "networks", Namespace: nw.Namespace, Name: nw.Name, UID: nw.UID}
	pool := r.IDs.Pool
	if nw.Spec.ID != "" {
		id, err := strconv.ParseInt(nw.Spec.ID, 10, 32)
		if err != nil {
			return -1, "InvalidID", fmt.Sprintf("spec.id %q is not a VNI", nw.Spec.ID), nil
		}
		given, err := r.IDs.TakeGiven(ctx, id, claim)
		switch {
		case err != nil:
			return -1, "", "", err
		case given.Taken:
			return id, "", "", nil
		case given.OutOfRange:
			return -1, apinetv1alpha1.ReasonOutOfRange, fmt.Sprintf("the provided ID %d is not in range [%d, %d]", id, pool.Min, pool.Max), nil
		case given.Holder != nil:
			return -1, "IDAlreadyAllocated", fmt.Sprintf("the provided ID %d is already allocated (to %s/%s)", id, given.Holder.Namespace, given.Holder.Name), nil
		}
		return -1, "IDAlreadyAllocated", fmt.Sprintf("the provided ID %d is already allocated", id), nil
	}
	id, ok, err := r.IDs.Take(ctx, claim)
	if err != nil {
		return -1, "", "", err
	}
	if !ok {
		return -1, apinetv1alpha1.ReasonPoolExhausted, fmt.Sprintf("all network IDs in [%d, %d] are allocated", pool.Min, pool.Max), nil
	}
	return id, "", "", nil
}

func setupNetwork(d deps, ids *NetworkIDs, transit *Addresses) error {
	r := &NetworkReconciler{Client: d.c, APIReader: d.reader, IDs: ids, Transit: transit, Recorder: d.rec}
	b := ctrl.NewControllerManagedBy(d.mgr).Named("network").WithOptions(workers.Networks(d.mgr)).For(&apinetv1alpha1.Network{}).
		// A released ID (or a full range that frees up) retries the Networks waiting for one.
		Watches(&apinetv1alpha1.NetworkID{}, handler.EnqueueRequestsFromMapFunc(waitingNetworks(d.c)), builder.WithPredicates(enqueue.OnDelete()))
	if transit != nil {
		// ... and a released transit address those waiting for a gateway address.
		b = b.Watches(&apinetv1alpha1.IPAddress{}, handler.EnqueueRequestsFromMapFunc(waitingForTransit(d.c, transit.Pool)), builder.WithPredicates(enqueue.OnDelete()))
	}
	return b.Complete(patch.RequeueConflicts(r))
}

// waitingForTransit maps a released transit address to the Networks that
// show no gateway address of its family.
func waitingForTransit(c client.Client, pool *IPPool) handler.MapFunc {
	return enqueue.Listed(c, func() client.ObjectList { return &apinetv1alpha1.NetworkList{} }, func(event, o client.Object) bool {
		freed, err := netip.ParseAddr(string(event.(*apinetv1alpha1.IPAddress).Spec.IP))
		if err != nil || !pool.Contains(freed) {
			return false
		}
		annotation := apinetv1alpha1.AnnotationTransitIP
		if freed.Is6() {
			annotation = apinetv1alpha1.AnnotationTransitIP6
		}
		return o.GetAnnotations()[annotation] == ""
	})
}

// waitingNetworks maps a released ID to the Networks that could take it.
func waitingNetworks(c client.Client) handler.MapFunc {
	return enqueue.Listed(c, func() client.ObjectList { return &apinetv1alpha1.NetworkList{} }, func(_, o client.Object) bool {
		nw := o.(*apinetv1alpha1.Network)
		return nw.Spec.ID == "" || meta.IsStatusConditionFalse(nw.Status.Conditions, apinetv1alpha1.ConditionIDAllocated)
	})
}
