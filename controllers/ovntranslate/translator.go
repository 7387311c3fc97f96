package ovntranslate

import (
	"context"
	"fmt"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	apinetv1alpha1 "github.com/ovnet-dev/ovnet/apis/core/v1alpha1"
	"github.com/ovnet-dev/ovnet/controllers/publicip"
	"github.com/ovnet-dev/ovnet/internal/patch"
	"github.com/ovnet-dev/ovnet/ovn"
	"github.com/ovnet-dev/ovnet/ovn/rows"
)

// translator is the reconcile skeleton of every OVN translator: read the
// object; when it is gone or being deleted remove its rows; otherwise hand
// it to the kind's translate, which computes the rows (ovn/rows), writes
// them with write and reports with ready. Each kind's file holds only that
// translate and its watches.
type translator[T client.Object] struct {
	client.Client
	NB       *ovn.Client
	Recorder recorder.EventRecorder
	// kind is the owner kind in the rows' external_ids.
	kind   string
	newObj func() T
	// conditions is where the kind's Ready condition lives; nil for a kind
	// without one (NetworkPolicy reports on its NetworkPolicyRule).
	conditions func(T) *[]metav1.Condition
	translate  func(context.Context, T) (ctrl.Result, error)
	// deleted, optional, runs once the object's rows are gone.
	deleted func(context.Context, T) (ctrl.Result, error)
	// waiting holds when objects that never reported began to wait.
	waiting *sync.Map
}

// quietFor is how long an object that has never reported Ready waits for
// what it needs (its Network's ID and rows) before it says Pending: in a
// cold start those come moments later, and a Pending write would be one
// API write per object for nothing. An object that has reported says so
// at once.
const quietFor = 10 * time.Second

func (t *translator[T]) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	obj := t.newObj()
	if err := t.Get(ctx, req.NamespacedName, obj); apierrors.IsNotFound(err) {
		// Gone: its rows go by its name (of whichever UID).
		t.waiting.Delete(req.NamespacedName)
		_, err := t.NB.DeleteOthers(ctx, ovn.Owner{Kind: t.kind, Namespace: req.Namespace, Name: req.Name})
		return ctrl.Result{}, err
	} else if err != nil {
		return ctrl.Result{}, err
	}
	if obj.GetDeletionTimestamp().IsZero() {
		return t.translate(ctx, obj)
	}
	if err := removeRows(ctx, t.Client, t.NB, obj, t.kind); err != nil {
		return ctrl.Result{}, err
	}
	t.done(obj)
	if t.deleted != nil {
		return t.deleted(ctx, obj)
	}
	return ctrl.Result{}, nil
}

// ready sets obj's Ready condition and writes it when it changed.
func (t *translator[T]) ready(ctx context.Context, obj T, status metav1.ConditionStatus, reason, msg string) error {
	return t.report(ctx, obj.DeepCopyObject().(T), obj, status, reason, msg)
}

// report is ready carrying, in the same request, the status changes made
// to obj since the copy before: one write per reconcile instead of two. A
// Warning event marks Ready turning False with a new reason.
func (t *translator[T]) report(ctx context.Context, before, obj T, status metav1.ConditionStatus, reason, msg string) error {
	cond := metav1.Condition{Type: apinetv1alpha1.ConditionReady, Status: status, Reason: reason, Message: msg}
	old := patch.SetCondition(t.conditions(obj), obj, cond)
	patch.Warn(t.Recorder, obj, old, cond, "Translate", "Pending")
	return patch.Status(ctx, t.Client, before, obj, fieldOwner)
}

// write puts obj's finalizer and rows in place. While the rows' parents
// (its Network's switch and router) are not in OVN yet, it reports that
// (Pending) and asks to be looked at again; the Network's update wakes obj
// too. ok says whether the rows were written.
func (t *translator[T]) write(ctx context.Context, obj T, network string, want []ovn.Row) (res ctrl.Result, ok bool, err error) {
	written, err := writeRows(ctx, t.NB, obj, t.kind, want)
	if err != nil || written {
		if written {
			t.done(obj)
		}
		return ctrl.Result{}, written, err
	}
	res = ctrl.Result{RequeueAfter: retryAfter}
	if t.conditions == nil {
		return res, false, nil
	}
	res, err = t.pending(ctx, obj, fmt.Sprintf("network %q is not in OVN yet", network))
	return res, false, err
}

// pending reports that obj waits (Ready=False, Pending) and asks to be
// looked at again; an object that has never reported stays quiet for
// quietFor first.
func (t *translator[T]) pending(ctx context.Context, obj T, msg string) (ctrl.Result, error) {
	res := ctrl.Result{RequeueAfter: retryAfter}
	if meta.FindStatusCondition(*t.conditions(obj), apinetv1alpha1.ConditionReady) == nil {
		first, _ := t.waiting.LoadOrStore(client.ObjectKeyFromObject(obj), time.Now())
		if left := quietFor - time.Since(first.(time.Time)); left > 0 {
			res.RequeueAfter = min(retryAfter, left)
			return res, nil
		}
	}
	return res, t.ready(ctx, obj, metav1.ConditionFalse, "Pending", msg)
}

// done forgets that obj waited.
func (t *translator[T]) done(obj T) { t.waiting.Delete(client.ObjectKeyFromObject(obj)) }

// deps are what the translators are set up with.
type deps struct {
	mgr      manager.Manager
	c        client.Client
	nb       *ovn.Client
	sb       *ovn.Client // nil: no health checks
	rec      recorder.EventRecorder
	scope    publicip.Scope
	provider rows.Provider
	guest    rows.Guest
	drift    *rowEvents
}

// translatorFor makes the skeleton for kind.
func translatorFor[T client.Object](d deps, kind string, newObj func() T, conditions func(T) *[]metav1.Condition) translator[T] {
	return translator[T]{Client: d.c, NB: d.nb, Recorder: d.rec, kind: kind, newObj: newObj, conditions: conditions, waiting: &sync.Map{}}
}
