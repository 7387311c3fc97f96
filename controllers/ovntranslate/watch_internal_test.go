package ovntranslate

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	apinetv1alpha1 "github.com/ovnet-dev/ovnet/apis/core/v1alpha1"
)

// TestLoadBalancerWatchFilters: Network, NIC and IP events wake only the
// load balancers they concern.
func TestLoadBalancerWatchFilters(t *testing.T) {
	lb := &apinetv1alpha1.LoadBalancer{ObjectMeta: metav1.ObjectMeta{Name: "lb", UID: "lb-uid"},
		Spec: apinetv1alpha1.LoadBalancerSpec{NetworkRef: corev1.LocalObjectReference{Name: "net"},
			IPs: []apinetv1alpha1.PublicIPRequest{{Name: "vip", IP: "10.0.0.1"}}}}
	nw := func(name string) *apinetv1alpha1.Network {
		return &apinetv1alpha1.Network{ObjectMeta: metav1.ObjectMeta{Name: name}}
	}
	nic := func(network string) *apinetv1alpha1.NetworkInterface {
		return &apinetv1alpha1.NetworkInterface{Spec: apinetv1alpha1.NetworkInterfaceSpec{NetworkRef: corev1.LocalObjectReference{Name: network}}}
	}
	ip := func(addr apinetv1alpha1.IPAddr, claimer string) *apinetv1alpha1.IP {
		o := &apinetv1alpha1.IP{Spec: apinetv1alpha1.IPSpec{IP: addr}}
		if claimer != "" {
			o.Spec.ClaimRef = &apinetv1alpha1.IPClaimRef{UID: "lb-uid"}
		}
		return o
	}
	for _, c := range []struct {
		name      string
		got, want bool
	}{
		{"its network", loadBalancerOfNetwork(nw("net"), lb), true},
		{"another network", loadBalancerOfNetwork(nw("other"), lb), false},
		{"a NIC of its network", loadBalancerOfNIC(nic("net"), lb), true},
		{"a NIC of another network", loadBalancerOfNIC(nic("other"), lb), false},
		{"an IP it holds", loadBalancerOfIP(ip("10.0.0.9", "lb"), lb), true},
		{"the address it names, released", loadBalancerOfIP(ip("10.0.0.1", ""), lb), true},
		{"another address", loadBalancerOfIP(ip("10.0.0.2", ""), lb), false},
	} {
		if c.got != c.want {
			t.Errorf("%s: %v, want %v", c.name, c.got, c.want)
		}
	}
}
