package nat

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	apinetv1alpha1 "github.com/ovnet-dev/ovnet/apis/core/v1alpha1"
	"github.com/ovnet-dev/ovnet/controllers/index"
)

// TestWatchFilters: IP and NIC events wake only the gateways they concern.
func TestWatchFilters(t *testing.T) {
	gw := &apinetv1alpha1.NATGateway{ObjectMeta: metav1.ObjectMeta{Name: "gw", UID: "gw-uid"},
		Spec: apinetv1alpha1.NATGatewaySpec{NetworkRef: corev1.LocalObjectReference{Name: "net"},
			IPs: []apinetv1alpha1.NATGatewayIP{{Name: "a", IP: "10.0.0.1"}}}}
	ip := func(addr apinetv1alpha1.IPAddr, claimer string) *apinetv1alpha1.IP {
		o := &apinetv1alpha1.IP{Spec: apinetv1alpha1.IPSpec{IP: addr}}
		if claimer != "" {
			o.Spec.ClaimRef = &apinetv1alpha1.IPClaimRef{UID: types.UID(claimer)}
		}
		return o
	}
	for _, c := range []struct {
		name string
		ip   *apinetv1alpha1.IP
		want bool
	}{
		{"held by the gateway", ip("10.0.0.9", "gw-uid"), true},
		{"named by the gateway, released", ip("10.0.0.1", ""), true},
		{"another claimer's other address", ip("10.0.0.2", "other"), false},
		{"unallocated", ip("", ""), false},
	} {
		if got := gatewayOfIP(c.ip, gw); got != c.want {
			t.Errorf("%s: gatewayOfIP = %v, want %v", c.name, got, c.want)
		}
	}
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
