package allocation

import (
	"context"
	"fmt"
	"strconv"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	apinetv1alpha1 "github.com/ovnet-dev/ovnet/apis/core/v1alpha1"
	"github.com/ovnet-dev/ovnet/controllers/index"
	"github.com/ovnet-dev/ovnet/internal/patch"
)

// NetworkReconciler gives every Network a VNI (spec.id): the given one if it
// is in range and free, else a free one. The VNI is taken by creating the
// NetworkID named after it.
type NetworkReconciler struct {
	client.Client
	// APIReader: see IPReconciler.
	APIReader client.Reader
	Pool      *IDPool
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
	if nw.Spec.ID != "" {
		id, err := strconv.ParseInt(nw.Spec.ID, 10, 32)
		if err != nil {
			return -1, "InvalidID", fmt.Sprintf("spec.id %q is not a VNI", nw.Spec.ID), nil
		}
		lock := &apinetv1alpha1.NetworkID{}
		err = r.Get(ctx, types.NamespacedName{Name: nw.Spec.ID}, lock)
		switch {
		case err == nil && lock.Spec.ClaimRef.UID == nw.UID:
			return id, "", "", nil
		case err == nil:
			return -1, "IDAlreadyAllocated", fmt.Sprintf("the provided ID %d is already allocated (to %s/%s)", id, lock.Spec.ClaimRef.Namespace, lock.Spec.ClaimRef.Name), nil
		case !apierrors.IsNotFound(err):
			return -1, "", "", err
		}
		if !r.Pool.Contains(id) {
			return -1, apinetv1alpha1.ReasonOutOfRange, fmt.Sprintf("the provided ID %d is not in range [%d, %d]", id, r.Pool.Min, r.Pool.Max), nil
		}
		created, err := r.createLock(ctx, nw, id)
		if err != nil || !created {
			return -1, "IDAlreadyAllocated", fmt.Sprintf("the provided ID %d is already allocated", id), err
		}
		return id, "", "", nil
	}
	var locks apinetv1alpha1.NetworkIDList
	if err := r.List(ctx, &locks, client.MatchingFields{index.ClaimUID: string(nw.UID)}); err != nil {
		return -1, "", "", err
	}
	for _, l := range locks.Items {
		// The cache may still hold a lock the server already released:
		// reuse a lock only if it is still ours on the server.
		if id, err := strconv.ParseInt(l.Name, 10, 64); err == nil && l.DeletionTimestamp.IsZero() {
			live := &apinetv1alpha1.NetworkID{}
			if err := r.APIReader.Get(ctx, types.NamespacedName{Name: l.Name}, live); err == nil && live.Spec.ClaimRef.UID == nw.UID && live.DeletionTimestamp.IsZero() {
				return id, "", "", nil
			} else if err != nil && !apierrors.IsNotFound(err) {
				return -1, "", "", err
			}
		}
	}
	taken := int64(-1)
	ok, err := r.Pool.Candidates(func(id int64) (bool, error) {
		created, err := r.createLock(ctx, nw, id)
		if created {
			taken = id
		}
		return created, err
	})
	if err != nil {
		return -1, "", "", err
	}
	if !ok {
		return -1, apinetv1alpha1.ReasonPoolExhausted, fmt.Sprintf("all network IDs in [%d, %d] are allocated", r.Pool.Min, r.Pool.Max), nil
	}
	return taken, "", "", nil
}

func (r *NetworkReconciler) createLock(ctx context.Context, nw *apinetv1alpha1.Network, id int64) (bool, error) {
	lock := &apinetv1alpha1.NetworkID{
		ObjectMeta: metav1.ObjectMeta{Name: strconv.FormatInt(id, 10)},
		Spec: apinetv1alpha1.NetworkIDSpec{ClaimRef: apinetv1alpha1.ClaimRef{
			Group: claimRefGroup, Resource: "networks", Namespace: nw.Namespace, Name: nw.Name, UID: nw.UID,
		}},
	}
	if err := r.Create(ctx, lock, fieldOwner); err != nil {
		if apierrors.IsAlreadyExists(err) {
			return false, nil
		}
		return false, fmt.Errorf("create NetworkID %s: %w", lock.Name, err)
	}
	r.Pool.MarkTaken(id)
	return true, nil
}

// NetworkIDReconciler deletes NetworkIDs whose Network is gone (or holds
// another ID): the VNI is free again.
type NetworkIDReconciler struct {
	client.Client
	APIReader client.Reader
}

func (r *NetworkIDReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	lock := &apinetv1alpha1.NetworkID{}
	if err := r.Get(ctx, req.NamespacedName, lock); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !lock.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil
	}
	ref := lock.Spec.ClaimRef
	nw := &apinetv1alpha1.Network{}
	ok, err := ExistsLive(ctx, r.APIReader, nw, types.NamespacedName{Namespace: ref.Namespace, Name: ref.Name}, string(ref.UID))
	if err != nil {
		return ctrl.Result{}, err
	}
	if ok && nw.Spec.ID == "" {
		return ctrl.Result{RequeueAfter: recheckPending}, nil // see IPAddressReconciler
	}
	if ok && nw.Spec.ID == lock.Name {
		return ctrl.Result{}, nil
	}
	if !ok {
		if wait := tooYoungToRelease(lock.CreationTimestamp); wait > 0 {
			return ctrl.Result{RequeueAfter: wait}, nil // see releaseGrace
		}
	}
	if err := r.Delete(ctx, lock, exactly(lock)); err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return ctrl.Result{}, fmt.Errorf("release network ID %s: %w", lock.Name, err)
	}
	return ctrl.Result{}, nil
}
