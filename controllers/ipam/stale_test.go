package ipam_test

import (
	"context"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	apinetv1alpha1 "github.com/ovnet-dev/ovnet/apis/core/v1alpha1"
	"github.com/ovnet-dev/ovnet/controllers/ipam"
	"github.com/ovnet-dev/ovnet/test/testenv"
)

// staleCache serves one object from an old snapshot, as an informer cache
// that has not yet seen a delete and re-create does.
type staleCache struct {
	client.Client
	stale client.Object
}

func (s staleCache) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	if key.Name == s.stale.GetName() {
		s.stale.(*apinetv1alpha1.NetworkID).DeepCopyInto(obj.(*apinetv1alpha1.NetworkID))
		return nil
	}
	return s.Client.Get(ctx, key, obj, opts...)
}

// TestReleaseOnlyTheJudgedLock: a network ID released by one Network and at
// once taken by another must survive a garbage collector that still sees the
// old lock in its cache (this let one ID reach two Networks).
func TestReleaseOnlyTheJudgedLock(t *testing.T) {
	env := testenv.Start(t)
	c, ctx := env.Client, context.Background()
	ns := namespace(t, c)
	mk := func(name, id string) *apinetv1alpha1.Network {
		nw := &apinetv1alpha1.Network{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: apinetv1alpha1.NetworkSpec{ID: id}}
		if err := c.Create(ctx, nw); err != nil {
			t.Fatal(err)
		}
		return nw
	}
	lock := func(nw *apinetv1alpha1.Network) *apinetv1alpha1.NetworkID {
		l := &apinetv1alpha1.NetworkID{ObjectMeta: metav1.ObjectMeta{Name: "1081"}, Spec: apinetv1alpha1.NetworkIDSpec{ClaimRef: apinetv1alpha1.ClaimRef{
			Group: "core.apinet.ironcore.dev", Resource: "networks", Namespace: ns, Name: nw.Name, UID: nw.UID}}}
		if err := c.Create(ctx, l); err != nil {
			t.Fatal(err)
		}
		return l
	}
	loser := mk("loser", "1090") // lost a race for 1081: it holds 1090
	old := lock(loser)
	if err := c.Delete(ctx, old); err != nil { // released...
		t.Fatal(err)
	}
	winner := mk("winner", "1081")
	fresh := lock(winner) // ...and taken by the winner at once

	r := ipam.NetworkIDReleaser(staleCache{Client: c, stale: old}, c)
	if _, err := r.Reconcile(ctx, ctrl.Request{NamespacedName: types.NamespacedName{Name: "1081"}}); err != nil {
		t.Fatal(err)
	}
	got := &apinetv1alpha1.NetworkID{}
	if err := c.Get(ctx, client.ObjectKey{Name: "1081"}, got); err != nil {
		t.Fatalf("the winner's lock was deleted by a collector judging the old one: %v", err)
	}
	if got.UID != fresh.UID {
		t.Fatalf("lock 1081 is not the winner's")
	}
}
