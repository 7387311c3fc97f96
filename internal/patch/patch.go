// Package patch is how every ovnet reconciler writes what it changed: the
// status once per reconcile, only when it changed, and locked (several
// controllers write conditions of one object, and a merge patch replaces
// the whole conditions list); a write conflict means "read again", not a
// failure.
//
// Two more rules keep a cold start from writing twice: a reconcile that
// reads, from the cache, an object this process has just written (Behind)
// stops and waits for the write's own event instead of computing the same
// write again and losing a conflict; and an object that has never
// reported waits a moment before it reports Pending (QuietPending), since
// what it waits for usually comes moments later.
//
// A reconcile takes a copy of the object before it changes the status,
// sets conditions with SetCondition, and ends with Status:
//
//	before := obj.DeepCopy()
//	old := patch.SetCondition(&obj.Status.Conditions, obj, cond)
//	patch.Warn(rec, obj, old, cond, "Translate")
//	return patch.Status(ctx, c, before, obj, fieldOwner)
package patch

import (
	"context"
	"errors"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/recorder"
)

// Status writes obj's status subresource as it is now, against before (the
// copy taken before the reconcile changed it). Nothing is sent when nothing
// changed: a reconcile with nothing to do writes nothing. The patch carries
// the resourceVersion, so a concurrent writer's change is never lost; the
// conflict comes back to RequeueConflicts.
func Status(ctx context.Context, c client.Client, before, obj client.Object, owner client.FieldOwner) error {
	if equality.Semantic.DeepEqual(before, obj) {
		return nil
	}
	if err := c.Status().Patch(ctx, obj, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{}), owner); err != nil {
		return fmt.Errorf("update %s status: %w", obj.GetName(), err)
	}
	countWrite("status", before, obj)
	written.remember(before)
	return nil
}

// Object is Status for kinds without a status subresource (IP, as in
// ironcore-net): the object itself is patched, only when it changed, locked.
func Object(ctx context.Context, c client.Client, before, obj client.Object, owner client.FieldOwner) error {
	if equality.Semantic.DeepEqual(before, obj) {
		return nil
	}
	if err := c.Patch(ctx, obj, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{}), owner); err != nil {
		return fmt.Errorf("update %s: %w", obj.GetName(), err)
	}
	countWrite("object", before, obj)
	written.remember(before)
	return nil
}

// SetCondition sets cond (with obj's generation observed) in conds and
// returns the condition of that type it replaces (empty when new).
func SetCondition(conds *[]metav1.Condition, obj client.Object, cond metav1.Condition) metav1.Condition {
	cond.ObservedGeneration = obj.GetGeneration()
	return SetUnversionedCondition(conds, cond)
}

// SetUnversionedCondition is SetCondition for kinds without a status
// subresource: there every condition write bumps the generation, so a
// condition that observed it would call for the next write.
func SetUnversionedCondition(conds *[]metav1.Condition, cond metav1.Condition) metav1.Condition {
	var old metav1.Condition
	if c := meta.FindStatusCondition(*conds, cond.Type); c != nil {
		old = *c
	}
	meta.SetStatusCondition(conds, cond)
	return old
}

// Warn records a Warning event when cond is False with a reason other than
// old's: each new failure once, not each reconcile. Waiting reasons (quiet)
// are not failures. It reports whether it recorded one.
func Warn(rec recorder.EventRecorder, obj client.Object, old, cond metav1.Condition, action string, quiet ...string) bool {
	if cond.Status != metav1.ConditionFalse || old.Reason == cond.Reason && old.Status == cond.Status {
		return false
	}
	for _, q := range quiet {
		if cond.Reason == q {
			return false
		}
	}
	rec.Eventf(obj, nil, "Warning", cond.Reason, action, "%s", cond.Message)
	return true
}

// ConflictRetry is how soon an object whose write conflicted is read again.
const ConflictRetry = 100 * time.Millisecond

// RequeueConflicts wraps a reconciler: a conflict error becomes a requeue
// after ConflictRetry without an error, and a Pending held back by
// QuietPending a requeue when it is due. Returned as an error, it would grow
// the object's exponential backoff until, under load, it waits for minutes.
func RequeueConflicts(r reconcile.Reconciler) reconcile.Reconciler {
	return reconcile.Func(func(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
		res, err := r.Reconcile(ctx, req)
		var quiet quietError
		switch {
		case err != nil && apierrors.IsConflict(err):
			return ctrl.Result{RequeueAfter: ConflictRetry}, nil
		case errors.As(err, &quiet):
			return ctrl.Result{RequeueAfter: quiet.left}, nil
		}
		return res, err
	})
}
