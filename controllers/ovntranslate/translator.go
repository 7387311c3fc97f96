package ovntranslate

import (
	"context"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	"github.com/ovnet-dev/ovnet/controllers/publicip"
	"github.com/ovnet-dev/ovnet/ovn"
	"github.com/ovnet-dev/ovnet/ovn/rows"
)

// translator is the reconcile skeleton of every OVN translator: read the
// object; when it is being deleted remove its rows, then the finalizer;
// otherwise hand it to the kind's translate, which computes the rows
// (ovn/rows), writes them with write and reports with ready. Each kind's
// file holds only that translate and its watches.
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
}

func (t *translator[T]) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	obj := t.newObj()
	if err := t.Get(ctx, req.NamespacedName, obj); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if obj.GetDeletionTimestamp().IsZero() {
		return t.translate(ctx, obj)
	}
	if err := removeRows(ctx, t.Client, t.NB, obj, t.kind); err != nil {
		return ctrl.Result{}, err
	}
	if t.deleted != nil {
		return t.deleted(ctx, obj)
	}
	return ctrl.Result{}, nil
}

// ready sets obj's Ready condition and writes it when it changed.
func (t *translator[T]) ready(ctx context.Context, obj T, status metav1.ConditionStatus, reason, msg string) error {
	return patchCondition(ctx, t.Client, t.Recorder, obj, t.conditions(obj), status, reason, msg)
}

// write puts obj's finalizer and rows in place. While the rows' parents
// (its Network's switch and router) are not in OVN yet, it reports that
// (Pending) and asks to be looked at again; the Network's update wakes obj
// too. ok says whether the rows were written.
func (t *translator[T]) write(ctx context.Context, obj T, network string, want []ovn.Row) (res ctrl.Result, ok bool, err error) {
	written, err := writeRows(ctx, t.Client, t.NB, obj, t.kind, want)
	if err != nil || written {
		return ctrl.Result{}, written, err
	}
	res = ctrl.Result{RequeueAfter: retryAfter}
	if t.conditions == nil {
		return res, false, nil
	}
	return res, false, t.ready(ctx, obj, metav1.ConditionFalse, "Pending", fmt.Sprintf("network %q is not in OVN yet", network))
}

// deps are what the translators are set up with.
type deps struct {
	mgr      manager.Manager
	c        client.Client
	nb       *ovn.Client
	rec      recorder.EventRecorder
	scope    publicip.Scope
	provider rows.Provider
	guest    rows.Guest
	drift    *rowEvents
}

// translatorFor makes the skeleton for kind.
func translatorFor[T client.Object](d deps, kind string, newObj func() T, conditions func(T) *[]metav1.Condition) translator[T] {
	return translator[T]{Client: d.c, NB: d.nb, Recorder: d.rec, kind: kind, newObj: newObj, conditions: conditions}
}
