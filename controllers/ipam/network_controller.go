package ipam

import (
	"context"
	"fmt"
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
	"github.com/ovnet-dev/ovnet/internal/patch"
)

// NetworkReconciler gives every Network a VNI (spec.id): the given one if it
// is in range and free, else a free one. The VNI is taken by creating the
// NetworkID named after it; the Network holds spec.id while that lock names
// it. Condition IDAllocated says why a Network has no ID.
type NetworkReconciler struct {
	client.Client
	// APIReader: see IPReconciler.
	APIReader client.Reader
	IDs       *NetworkIDs
	Recorder  recorder.EventRecorder
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
	id, reason, message, err := r.allocate(ctx, nw)
	if err != nil {
		return ctrl.Result{}, err
	}
	if id >= 0 && nw.Spec.ID == "" {
		patch := client.MergeFrom(nw.DeepCopy())
		nw.Spec.ID = strconv.FormatInt(id, 10)
		if err := r.Patch(ctx, nw, patch, fieldOwner); err != nil {
			return ctrl.Result{}, fmt.Errorf("record spec.id: %w", err)
		}
	}
	if id >= 0 && meta.FindStatusCondition(nw.Status.Conditions, apinetv1alpha1.ConditionIDAllocated) == nil {
		// IDAllocated reports trouble: a Network that got its ID at once
		// shows it in spec.id (and its NetworkID lock), which spares a
		// status write per Network. Once shown, the condition stays.
		return ctrl.Result{}, nil
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
	return ctrl.Result{}, nil
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

func setupNetwork(d deps, ids *NetworkIDs) error {
	r := &NetworkReconciler{Client: d.c, APIReader: d.reader, IDs: ids, Recorder: d.rec}
	return ctrl.NewControllerManagedBy(d.mgr).Named("network").For(&apinetv1alpha1.Network{}).
		// A released ID (or a full range that frees up) retries the Networks waiting for one.
		Watches(&apinetv1alpha1.NetworkID{}, handler.EnqueueRequestsFromMapFunc(waitingNetworks(d.c)), builder.WithPredicates(enqueue.OnDelete())).
		Complete(patch.RequeueConflicts(r))
}

// waitingNetworks maps a released ID to the Networks that could take it.
func waitingNetworks(c client.Client) handler.MapFunc {
	return enqueue.Listed(c, func() client.ObjectList { return &apinetv1alpha1.NetworkList{} }, func(_, o client.Object) bool {
		nw := o.(*apinetv1alpha1.Network)
		return nw.Spec.ID == "" || meta.IsStatusConditionFalse(nw.Status.Conditions, apinetv1alpha1.ConditionIDAllocated)
	})
}
