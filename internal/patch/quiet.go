package patch

import (
	"fmt"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// QuietFor is how long an object that has never reported a condition
// waits before it reports that condition Pending: in a cold start what it
// waits for (its Network's ID and rows, an address) comes moments later,
// and a Pending write would be one API write per object for nothing. An
// object that has reported the condition says so at once.
const QuietFor = 30 * time.Second

// Quiet remembers since when objects have waited without reporting.
type Quiet struct{ since sync.Map }

// Hold reports whether cond, a Pending about to be set in conds, is held
// back: the object has no condition of its type yet and has waited less
// than QuietFor. The error, returned from the reconcile, asks
// RequeueConflicts to look at the object again when the wait is over.
func (q *Quiet) Hold(obj client.Object, conds []metav1.Condition, cond metav1.Condition) error {
	if cond.Status != metav1.ConditionFalse || cond.Reason != "Pending" {
		return nil
	}
	return q.Wait(obj, conds, cond.Type, cond.Message)
}

// Wait is Hold for a first report that is not Pending but would be
// followed at once by another: an object that has never reported
// condType waits up to QuietFor for what (a part that comes moments
// later), so that one write carries both.
func (q *Quiet) Wait(obj client.Object, conds []metav1.Condition, condType, what string) error {
	if meta.FindStatusCondition(conds, condType) != nil {
		return nil
	}
	first, _ := q.since.LoadOrStore(client.ObjectKeyFromObject(obj), time.Now())
	if left := QuietFor - time.Since(first.(time.Time)); left > 0 {
		// Looked at again soon anyway: what it waits for may not send an
		// event of its own.
		return quietError{left: min(left, quietRetry), what: fmt.Sprintf("%s %s", condType, what)}
	}
	return nil
}

// quietRetry is how often an object whose Pending is held back is looked
// at again.
const quietRetry = 5 * time.Second

// Done forgets that the object of key waited (it reported, or it is gone).
func (q *Quiet) Done(key client.ObjectKey) { q.since.Delete(key) }

// quietError is a Pending held back for left.
type quietError struct {
	left time.Duration
	what string
}

func (e quietError) Error() string { return "held back for " + e.left.String() + ": " + e.what }
