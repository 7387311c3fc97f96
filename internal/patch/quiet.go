package patch

import (
	"fmt"
	"reflect"
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
	if cond.Status != metav1.ConditionFalse || cond.Reason != "Pending" || meta.FindStatusCondition(conds, cond.Type) != nil {
		return nil
	}
	first, _ := q.since.LoadOrStore(client.ObjectKeyFromObject(obj), time.Now())
	if left := QuietFor - time.Since(first.(time.Time)); left > 0 {
		// Looked at again soon anyway: what it waits for may not send an
		// event of its own.
		return quietError{left: min(left, quietRetry), what: fmt.Sprintf("%s %s", cond.Type, cond.Message)}
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

// staleVersions remembers, per object, the resourceVersions this process
// wrote over: a cache still holding one of them has not seen the write.
type staleVersions struct {
	mu sync.Mutex
	m  map[staleKey]*staleEntry
	n  int
}

type staleKey struct {
	kind      reflect.Type
	namespace string
	name      string
}

type staleEntry struct {
	versions [4]string // the last writes' starting versions
	next     int
	at       time.Time
}

// staleFor bounds how long a write's starting version is remembered: the
// cache sees a write within moments.
const staleFor = 30 * time.Second

var written = &staleVersions{m: map[staleKey]*staleEntry{}}

func keyOf(obj client.Object) staleKey {
	return staleKey{kind: reflect.TypeOf(obj), namespace: obj.GetNamespace(), name: obj.GetName()}
}

// remember records that before (its resourceVersion) was written over.
func (s *staleVersions) remember(before client.Object) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	if s.n++; s.n%1024 == 0 {
		for k, e := range s.m {
			if now.Sub(e.at) > staleFor {
				delete(s.m, k)
			}
		}
	}
	k := keyOf(before)
	e := s.m[k]
	if e == nil {
		e = &staleEntry{}
		s.m[k] = e
	}
	e.versions[e.next%len(e.versions)] = before.GetResourceVersion()
	e.next++
	e.at = now
}

// holds reports whether obj's resourceVersion was written over lately.
func (s *staleVersions) holds(obj client.Object) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := keyOf(obj)
	e := s.m[k]
	if e == nil {
		return false
	}
	if time.Since(e.at) > staleFor {
		delete(s.m, k)
		return false
	}
	rv := obj.GetResourceVersion()
	for _, v := range e.versions {
		if v != "" && v == rv {
			return true
		}
	}
	return false
}
