package ovntranslate

import (
	"context"
	"fmt"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
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
	// alsoReport, optional, sets the parts of the status that another
	// controller computes too, so that a new object's first write carries
	// them with Ready (a NATGateway's allocation report).
	alsoReport func(context.Context, T) error
	// deleted, optional, runs once the object's rows are gone.
	deleted func(context.Context, T) (ctrl.Result, error)
	// quiet holds back the first Pending of an object (patch.QuietFor).
	quiet *patch.Quiet
	// firstReport holds back an object's first Ready while a part of it
	// that comes moments later is missing (patch.Quiet.Wait). Unlike quiet
	// it is not reset when rows are written.
	firstReport *patch.Quiet
	// echoes are the events of its own status writes, which its watch of
	// the kind passes over (ownEchoes).
	echoes *ownEchoes
}

func (t *translator[T]) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	obj := t.newObj()
	if err := t.Get(ctx, req.NamespacedName, obj); apierrors.IsNotFound(err) {
		// Gone: its rows go by its name (of whichever UID).
		t.quiet.Done(req.NamespacedName)
		t.firstReport.Done(req.NamespacedName)
		_, err := t.NB.DeleteOthers(ctx, ovn.Owner{Kind: t.kind, Namespace: req.Namespace, Name: req.Name})
		return ctrl.Result{}, err
	} else if err != nil {
		return ctrl.Result{}, err
	}
	if patch.Behind(obj) {
		return ctrl.Result{RequeueAfter: patch.BehindRetry}, nil
	}
	if obj.GetDeletionTimestamp().IsZero() {
		return t.translate(ctx, obj)
	}
	if err := removeRows(ctx, t.Client, t.NB, obj, t.kind); err != nil {
		return ctrl.Result{}, err
	}
	t.done(obj)
	t.firstReport.Done(req.NamespacedName)
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
// Warning event marks Ready turning False with a new reason. The first
// Pending of an object that has never reported is held back a while
// (patch.QuietFor), since what it waits for is under way: the error asks
// for the object again.
func (t *translator[T]) report(ctx context.Context, before, obj T, status metav1.ConditionStatus, reason, msg string) error {
	cond := metav1.Condition{Type: apinetv1alpha1.ConditionReady, Status: status, Reason: reason, Message: msg}
	if err := t.quiet.Hold(obj, *t.conditions(obj), cond); err != nil {
		return err
	}
	return t.set(ctx, before, obj, cond)
}

// missing reports at once that obj waits for an object that does not
// exist (Ready=False, Pending): nothing is under way that would end it.
func (t *translator[T]) missing(ctx context.Context, obj T, msg string) error {
	cond := metav1.Condition{Type: apinetv1alpha1.ConditionReady, Status: metav1.ConditionFalse, Reason: "Pending", Message: msg}
	return t.set(ctx, obj.DeepCopyObject().(T), obj, cond)
}

func (t *translator[T]) set(ctx context.Context, before, obj T, cond metav1.Condition) error {
	t.done(obj)
	t.firstReport.Done(client.ObjectKeyFromObject(obj))
	if t.alsoReport != nil {
		if err := t.alsoReport(ctx, obj); err != nil {
			return err
		}
	}
	old := patch.SetCondition(t.conditions(obj), obj, cond)
	patch.Warn(t.Recorder, obj, old, cond, "Translate", "Pending")
	from := obj.GetResourceVersion()
	if err := patch.Status(ctx, t.Client, before, obj, fieldOwner); err != nil {
		return err
	}
	t.echoes.expect(obj, from)
	return nil
}

// ownEchoes remembers, per object, the update its translator's last status
// write made (resourceVersion from → to), so that the translator's watch
// of the kind passes over that event: the write was computed from the
// version it replaced and from everything else the translator reads, each
// of which has events of its own, so its echo would compute the same rows
// and status again (at 10,000 NICs, one reconcile in three). A change by
// anyone else carries other versions and passes.
type ownEchoes struct{ m sync.Map } // types.NamespacedName -> echo

type echo struct{ from, to string }

func (e *ownEchoes) expect(obj client.Object, from string) {
	if to := obj.GetResourceVersion(); to != from {
		e.m.Store(client.ObjectKeyFromObject(obj), echo{from: from, to: to})
	}
}

// predicate is for the translator's For: it drops the echo of the last
// own write (once) and passes every other event.
func (e *ownEchoes) predicate() predicate.Predicate {
	return predicate.Funcs{
		UpdateFunc: func(ev event.UpdateEvent) bool {
			key := client.ObjectKeyFromObject(ev.ObjectNew)
			v, ok := e.m.Load(key)
			if !ok || v.(echo) != (echo{from: ev.ObjectOld.GetResourceVersion(), to: ev.ObjectNew.GetResourceVersion()}) {
				return true
			}
			e.m.CompareAndDelete(key, v)
			return false
		},
		DeleteFunc: func(ev event.DeleteEvent) bool {
			e.m.Delete(client.ObjectKeyFromObject(ev.Object))
			return true
		},
	}
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
// looked at again.
func (t *translator[T]) pending(ctx context.Context, obj T, msg string) (ctrl.Result, error) {
	return ctrl.Result{RequeueAfter: retryAfter}, t.ready(ctx, obj, metav1.ConditionFalse, "Pending", msg)
}

// done forgets that obj waited.
func (t *translator[T]) done(obj T) { t.quiet.Done(client.ObjectKeyFromObject(obj)) }

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
	return translator[T]{Client: d.c, NB: d.nb, Recorder: d.rec, kind: kind, newObj: newObj, conditions: conditions, quiet: &patch.Quiet{}, firstReport: &patch.Quiet{},
		echoes: &ownEchoes{}}
}
