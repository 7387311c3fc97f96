package ovntranslate

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"

	apinetv1alpha1 "github.com/ovnet-dev/ovnet/apis/core/v1alpha1"
	"github.com/ovnet-dev/ovnet/controllers/index"
)

// TestLoadBalancerWatchFilters: Network and NIC events wake only the
// load balancers they concern.
func TestLoadBalancerWatchFilters(t *testing.T) {
	lb := &apinetv1alpha1.LoadBalancer{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "lb", UID: "lb-uid"},
		Spec: apinetv1alpha1.LoadBalancerSpec{NetworkRef: corev1.LocalObjectReference{Name: "net"},
			IPs: []apinetv1alpha1.PublicIPRequest{{Name: "vip", IP: "10.0.0.1"}}}}
	other := &apinetv1alpha1.LoadBalancer{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "other-lb", UID: "other-uid"},
		Spec: apinetv1alpha1.LoadBalancerSpec{NetworkRef: corev1.LocalObjectReference{Name: "other"}}}
	scheme := runtime.NewScheme()
	if err := apinetv1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(lb, other).
		WithIndex(&apinetv1alpha1.LoadBalancer{}, index.Network, func(o client.Object) []string {
			return []string{o.(*apinetv1alpha1.LoadBalancer).Spec.NetworkRef.Name}
		}).Build()
	// wakes reports whether the map function enqueues lb (and only lb).
	wakes := func(m handler.MapFunc, event client.Object) bool {
		reqs := m(context.Background(), event)
		return len(reqs) == 1 && reqs[0].Name == lb.Name
	}
	nw := func(name string) *apinetv1alpha1.Network {
		return &apinetv1alpha1.Network{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name}}
	}
	nic := func(network string) *apinetv1alpha1.NetworkInterface {
		return &apinetv1alpha1.NetworkInterface{ObjectMeta: metav1.ObjectMeta{Namespace: "ns"},
			Spec: apinetv1alpha1.NetworkInterfaceSpec{NetworkRef: corev1.LocalObjectReference{Name: network}}}
	}
	for _, c := range []struct {
		name      string
		got, want bool
	}{
		{"its network", wakes(loadBalancersOfNetwork(c), nw("net")), true},
		{"another network", wakes(loadBalancersOfNetwork(c), nw("other")), false},
		{"a NIC of its network", wakes(loadBalancersOfNIC(c), nic("net")), true},
		{"a NIC of another network", wakes(loadBalancersOfNIC(c), nic("other")), false},
	} {
		if c.got != c.want {
			t.Errorf("%s: %v, want %v", c.name, c.got, c.want)
		}
	}
}

// TestOwnEchoes: the update a translator's own status write made is passed
// over once; any other update of the object passes.
func TestOwnEchoes(t *testing.T) {
	var e ownEchoes
	p := e.predicate()
	nic := func(rv string) *apinetv1alpha1.NetworkInterface {
		return &apinetv1alpha1.NetworkInterface{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "nic", ResourceVersion: rv}}
	}
	update := func(from, to string) bool {
		return p.Update(event.UpdateEvent{ObjectOld: nic(from), ObjectNew: nic(to)})
	}
	if !update("1", "2") {
		t.Fatal("an update with no write of ours was passed over")
	}
	e.expect(nic("3"), "2") // our write: 2 -> 3
	if !update("2", "4") {
		t.Error("someone else's update of the version we wrote over was passed over")
	}
	if update("2", "3") {
		t.Error("the echo of our own write passed")
	}
	if !update("2", "3") {
		t.Error("the echo was passed over twice")
	}
	e.expect(nic("5"), "5") // nothing written: no echo to expect
	if !update("4", "5") {
		t.Error("an update was passed over though nothing was written")
	}
	e.expect(nic("6"), "5")
	if !p.Delete(event.DeleteEvent{Object: nic("6")}) || !update("5", "6") {
		t.Error("a deleted object's expected echo outlived it")
	}
}
