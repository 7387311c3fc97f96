package patch_test

import (
	"context"
	"errors"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	apinetv1alpha1 "github.com/ovnet-dev/ovnet/apis/core/v1alpha1"
	"github.com/ovnet-dev/ovnet/internal/patch"
	"github.com/ovnet-dev/ovnet/test/testenv"
)

// TestStatus against a real API server: nothing is written when nothing
// changed; a change is one write; a writer holding a stale copy gets a
// conflict instead of replacing another writer's condition, and
// RequeueConflicts turns it into a short requeue.
func TestStatus(t *testing.T) {
	env := testenv.Start(t)
	ctx := context.Background()
	writes := 0
	c, err := client.NewWithWatch(env.Config, client.Options{Scheme: env.Client.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	counted := interceptor.NewClient(c, interceptor.Funcs{
		SubResourcePatch: func(ctx context.Context, c client.Client, sub string, obj client.Object, p client.Patch, opts ...client.SubResourcePatchOption) error {
			writes++
			return c.SubResource(sub).Patch(ctx, obj, p, opts...)
		},
	})
	nw := &apinetv1alpha1.Network{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "n"}}
	if err := counted.Create(ctx, nw); err != nil {
		t.Fatal(err)
	}
	const owner = client.FieldOwner("test")
	ready := metav1.Condition{Type: "Ready", Status: metav1.ConditionFalse, Reason: "Pending", Message: "waiting"}

	before := nw.DeepCopy()
	patch.SetCondition(&nw.Status.Conditions, nw, ready)
	if err := patch.Status(ctx, counted, before, nw, owner); err != nil {
		t.Fatal(err)
	}
	before = nw.DeepCopy()
	patch.SetCondition(&nw.Status.Conditions, nw, ready)
	if err := patch.Status(ctx, counted, before, nw, owner); err != nil {
		t.Fatal(err)
	}
	if writes != 1 {
		t.Errorf("%d writes for one change and one no-op, want 1", writes)
	}

	// Another controller writes its condition; ours, from a stale copy,
	// must not drop it.
	other := &apinetv1alpha1.Network{}
	if err := counted.Get(ctx, client.ObjectKeyFromObject(nw), other); err != nil {
		t.Fatal(err)
	}
	otherBefore := other.DeepCopy()
	patch.SetCondition(&other.Status.Conditions, other, metav1.Condition{Type: "IDAllocated", Status: metav1.ConditionTrue, Reason: "Allocated", Message: "id"})
	if err := patch.Status(ctx, counted, otherBefore, other, owner); err != nil {
		t.Fatal(err)
	}
	before = nw.DeepCopy()
	patch.SetCondition(&nw.Status.Conditions, nw, metav1.Condition{Type: "Ready", Status: metav1.ConditionTrue, Reason: "RowsWritten", Message: "done"})
	err = patch.Status(ctx, counted, before, nw, owner)
	if !apierrors.IsConflict(err) {
		t.Fatalf("stale write: %v, want a conflict", err)
	}
	if err := counted.Get(ctx, client.ObjectKeyFromObject(nw), nw); err != nil {
		t.Fatal(err)
	}
	if meta.FindStatusCondition(nw.Status.Conditions, "IDAllocated") == nil {
		t.Errorf("the other writer's condition was lost: %+v", nw.Status.Conditions)
	}
	res, err := patch.RequeueConflicts(reconcile.Func(func(context.Context, ctrl.Request) (ctrl.Result, error) {
		return ctrl.Result{}, err
	})).Reconcile(ctx, ctrl.Request{})
	if err != nil || res.RequeueAfter != patch.ConflictRetry {
		t.Errorf("conflict through RequeueConflicts: %+v %v, want a requeue after %s", res, err, patch.ConflictRetry)
	}
	boom := errors.New("boom")
	if _, err := patch.RequeueConflicts(reconcile.Func(func(context.Context, ctrl.Request) (ctrl.Result, error) {
		return ctrl.Result{}, boom
	})).Reconcile(ctx, ctrl.Request{}); !errors.Is(err, boom) {
		t.Errorf("other errors pass: got %v", err)
	}
}

// TestWarn: a new failure reason is one Warning event; the same again,
// success, and quiet (waiting) reasons are none.
func TestWarn(t *testing.T) {
	rec := events.NewFakeRecorder(10)
	obj := &apinetv1alpha1.Network{ObjectMeta: metav1.ObjectMeta{Name: "n"}}
	var conds []metav1.Condition
	step := func(status metav1.ConditionStatus, reason string) {
		cond := metav1.Condition{Type: "Ready", Status: status, Reason: reason, Message: reason}
		patch.Warn(rec, obj, patch.SetCondition(&conds, obj, cond), cond, "Test", "Pending")
	}
	step(metav1.ConditionFalse, "Pending")
	step(metav1.ConditionFalse, "IPConflict")
	step(metav1.ConditionFalse, "IPConflict")
	step(metav1.ConditionTrue, "RowsWritten")
	step(metav1.ConditionFalse, "Unsupported")
	close(rec.Events)
	var got []string
	for e := range rec.Events {
		got = append(got, e)
	}
	if len(got) != 2 || got[0] != "Warning IPConflict IPConflict" || got[1] != "Warning Unsupported Unsupported" {
		t.Errorf("events %q, want one IPConflict and one Unsupported", got)
	}
}

// TestChangeOf: a status write is counted under the conditions it changed.
func TestChangeOf(t *testing.T) {
	ready := func(reason string) metav1.Condition {
		return metav1.Condition{Type: "Ready", Status: metav1.ConditionFalse, Reason: reason, Message: "m"}
	}
	claimed := metav1.Condition{Type: "PublicIPsClaimed", Status: metav1.ConditionTrue, Reason: "Claimed"}
	for _, c := range []struct {
		before, after []metav1.Condition
		want          string
	}{
		{nil, []metav1.Condition{ready("Pending")}, "Ready=Pending"},
		{[]metav1.Condition{ready("Pending")}, []metav1.Condition{ready("Pending"), claimed}, "PublicIPsClaimed=Claimed"},
		{[]metav1.Condition{ready("Pending")}, []metav1.Condition{{Type: "Ready", Status: metav1.ConditionFalse, Reason: "Pending", Message: "other"}}, "fields"},
		{[]metav1.Condition{claimed}, []metav1.Condition{ready("Invalid"), {Type: "PublicIPsClaimed", Status: metav1.ConditionFalse, Reason: "Claimed"}}, "PublicIPsClaimed=Claimed,Ready=Invalid"},
	} {
		if got := patch.ChangeOf(c.before, c.after); got != c.want {
			t.Errorf("changeOf(%v, %v) = %q, want %q", c.before, c.after, got, c.want)
		}
	}
	nic := &apinetv1alpha1.NetworkInterface{Status: apinetv1alpha1.NetworkInterfaceStatus{Conditions: []metav1.Condition{claimed}}}
	if got := patch.ConditionsOf(nic); len(got) != 1 || got[0].Type != "PublicIPsClaimed" {
		t.Errorf("conditionsOf(NIC) = %v", got)
	}
	if got := patch.ConditionsOf(&apinetv1alpha1.NATTable{}); got != nil {
		t.Errorf("conditionsOf(NATTable) = %v, want nil", got)
	}
}
