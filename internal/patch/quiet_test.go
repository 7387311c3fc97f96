package patch_test

import (
	"context"
	"errors"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	apinetv1alpha1 "github.com/ovnet-dev/ovnet/apis/core/v1alpha1"
	"github.com/ovnet-dev/ovnet/internal/patch"
	"github.com/ovnet-dev/ovnet/test/testenv"
)

// TestBehind against a real API server: after a status write, the copy it
// was written from is Behind (a cache still holding it has not seen the
// write), the written object is not, nor is another object.
func TestBehind(t *testing.T) {
	env := testenv.Start(t)
	ctx := context.Background()
	nw := &apinetv1alpha1.Network{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "behind"}}
	other := &apinetv1alpha1.Network{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "other"}}
	for _, o := range []client.Object{nw, other} {
		if err := env.Client.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	stale := nw.DeepCopy()
	if patch.Behind(stale) {
		t.Fatal("an object nothing was written over is Behind")
	}
	patch.SetCondition(&nw.Status.Conditions, nw, metav1.Condition{Type: "Ready", Status: metav1.ConditionTrue, Reason: "RowsWritten"})
	if err := patch.Status(ctx, env.Client, stale, nw, "test"); err != nil {
		t.Fatal(err)
	}
	if !patch.Behind(stale) {
		t.Error("the version the status was written over is not Behind")
	}
	if patch.Behind(nw) {
		t.Error("the written version is Behind")
	}
	if patch.Behind(other) {
		t.Error("another object is Behind")
	}
	// A no-op write remembers nothing.
	current := nw.DeepCopy()
	if err := patch.Status(ctx, env.Client, current, nw, "test"); err != nil || patch.Behind(current) {
		t.Errorf("after a no-op write: err %v, Behind %v", err, patch.Behind(current))
	}
}

// TestQuietPending: the first Pending of an object without that condition
// is held back, and RequeueConflicts turns the hold into a requeue, not an
// error; a Pending that replaces a reported condition, and any other
// reason, are not held.
func TestQuietPending(t *testing.T) {
	var q patch.Quiet
	obj := &apinetv1alpha1.NetworkInterface{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "nic"}}
	pending := metav1.Condition{Type: "Ready", Status: metav1.ConditionFalse, Reason: "Pending", Message: "network not in OVN yet"}
	held := q.Hold(obj, nil, pending)
	if held == nil {
		t.Fatal("the first Pending of a new object is not held back")
	}
	res, err := patch.RequeueConflicts(reconcile.Func(func(context.Context, ctrl.Request) (ctrl.Result, error) {
		return ctrl.Result{}, held
	})).Reconcile(context.Background(), ctrl.Request{})
	if err != nil || res.RequeueAfter <= 0 || res.RequeueAfter > patch.QuietFor {
		t.Errorf("a held Pending reconciles to %+v, %v; want a requeue within %s and no error", res, err, patch.QuietFor)
	}
	reported := []metav1.Condition{{Type: "Ready", Status: metav1.ConditionTrue, Reason: "RowsWritten"}}
	if err := q.Hold(obj, reported, pending); err != nil {
		t.Errorf("a Pending replacing a reported Ready is held back: %v", err)
	}
	failed := pending
	failed.Reason = "IPConflict"
	if err := q.Hold(obj, nil, failed); err != nil {
		t.Errorf("a failure is held back: %v", err)
	}
	// Another error is passed on.
	boom := errors.New("boom")
	if _, err := patch.RequeueConflicts(reconcile.Func(func(context.Context, ctrl.Request) (ctrl.Result, error) {
		return ctrl.Result{}, boom
	})).Reconcile(context.Background(), ctrl.Request{}); !errors.Is(err, boom) {
		t.Errorf("another error became %v", err)
	}
}
