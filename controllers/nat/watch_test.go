package nat

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	apinetv1alpha1 "github.com/ovnet-dev/ovnet/apis/core/v1alpha1"
	"github.com/ovnet-dev/ovnet/controllers/index"
)

// TestWatchFilters: a NIC's event wakes only the gateways of its network.
func TestWatchFilters(t *testing.T) {
	gw := &apinetv1alpha1.NATGateway{ObjectMeta: metav1.ObjectMeta{Name: "gw", UID: "gw-uid"},
		Spec: apinetv1alpha1.NATGatewaySpec{NetworkRef: corev1.LocalObjectReference{Name: "net"}}}
	other := &apinetv1alpha1.NATGateway{ObjectMeta: metav1.ObjectMeta{Name: "other-gw", UID: "other-uid"},
		Spec: apinetv1alpha1.NATGatewaySpec{NetworkRef: corev1.LocalObjectReference{Name: "other"}}}
	scheme := runtime.NewScheme()
	if err := apinetv1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	cl := fake.NewClientBuilder().WithScheme(scheme).WithObjects(gw, other).
		WithIndex(&apinetv1alpha1.NATGateway{}, index.Network, func(o client.Object) []string {
			return []string{o.(*apinetv1alpha1.NATGateway).Spec.NetworkRef.Name}
		}).Build()
	nic := func(network string) *apinetv1alpha1.NetworkInterface {
		return &apinetv1alpha1.NetworkInterface{Spec: apinetv1alpha1.NetworkInterfaceSpec{NetworkRef: corev1.LocalObjectReference{Name: network}}}
	}
	for network, want := range map[string]string{"net": "gw", "other": "other-gw", "none": ""} {
		var got []string
		for _, req := range gatewaysOfNIC(cl)(context.Background(), nic(network)) {
			got = append(got, req.Name)
		}
		if strings.Join(got, ",") != want {
			t.Errorf("a NIC of network %s wakes gateways %v, want exactly %q", network, got, want)
		}
	}
}
