// Package conflict turns optimistic-locking conflicts into a short, fixed
// requeue. Several controllers write the same objects (conditions of a
// status, a NIC's claims); a conflict only means "read again", and
// returning it as an error would grow the object's exponential backoff
// until, under load, it waits for minutes.
package conflict

import (
	"context"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// RetryAfter is how soon an object whose write conflicted is read again.
const RetryAfter = 100 * time.Millisecond

// Requeue wraps a reconciler: a conflict error becomes a requeue after
// RetryAfter without an error.
func Requeue(r reconcile.Reconciler) reconcile.Reconciler {
	return reconcile.Func(func(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
		res, err := r.Reconcile(ctx, req)
		if err != nil && apierrors.IsConflict(err) {
			return ctrl.Result{RequeueAfter: RetryAfter}, nil
		}
		return res, err
	})
}
