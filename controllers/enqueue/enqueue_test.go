package enqueue

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"

	apinetv1alpha1 "github.com/ovnet-dev/ovnet/apis/core/v1alpha1"
)

func TestReadyChanged(t *testing.T) {
	p := ReadyChanged(apinetv1alpha1.ConditionReady, func(o client.Object) []metav1.Condition {
		return o.(*apinetv1alpha1.Network).Status.Conditions
	})
	base := &apinetv1alpha1.Network{ObjectMeta: metav1.ObjectMeta{Name: "n", UID: "u1", ResourceVersion: "1"}}
	ready := metav1.Condition{Type: apinetv1alpha1.ConditionReady, Status: metav1.ConditionTrue, Reason: "RowsWritten", Message: "VNI 200"}
	cases := []struct {
		name   string
		change func(*apinetv1alpha1.Network)
		want   bool
	}{
		{"annotation only", func(n *apinetv1alpha1.Network) { n.Annotations = map[string]string{"a": "b"} }, false},
		{"spec.id recorded", func(n *apinetv1alpha1.Network) { n.Spec.ID = "200"; n.Generation++ }, false},
		{"another condition", func(n *apinetv1alpha1.Network) {
			n.Status.Conditions = append(n.Status.Conditions, metav1.Condition{Type: apinetv1alpha1.ConditionIDAllocated, Status: metav1.ConditionTrue})
		}, false},
		{"Ready appears", func(n *apinetv1alpha1.Network) { n.Status.Conditions = []metav1.Condition{ready} }, true},
		{"deleted", func(n *apinetv1alpha1.Network) { n.DeletionTimestamp = &metav1.Time{Time: time.Now()} }, true},
		{"recreated under the same name", func(n *apinetv1alpha1.Network) { n.UID = "u2" }, true},
	}
	for _, c := range cases {
		n := base.DeepCopy()
		n.ResourceVersion = "2"
		c.change(n)
		if got := p.Update(event.UpdateEvent{ObjectOld: base, ObjectNew: n}); got != c.want {
			t.Errorf("%s: passed %v, want %v", c.name, got, c.want)
		}
	}
	// A Ready whose message changes (another VNI, another gateway address)
	// passes too; the same Ready again does not.
	old := base.DeepCopy()
	old.Status.Conditions = []metav1.Condition{ready}
	same, moved := old.DeepCopy(), old.DeepCopy()
	moved.Status.Conditions[0].Message = "VNI 201"
	if p.Update(event.UpdateEvent{ObjectOld: old, ObjectNew: same}) {
		t.Error("an unchanged Ready passed")
	}
	if !p.Update(event.UpdateEvent{ObjectOld: old, ObjectNew: moved}) {
		t.Error("a Ready with a new message did not pass")
	}
	if !p.Create(event.CreateEvent{Object: base}) || !p.Delete(event.DeleteEvent{Object: base}) {
		t.Error("creations and deletions must pass")
	}
}
