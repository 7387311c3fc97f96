package main

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	apinetv1alpha1 "github.com/ovnet-dev/ovnet/apis/core/v1alpha1"
)

// createNodes creates the population's Nodes, as their agents register them.
func createNodes(ctx context.Context, c client.Client, sc coldScale) error {
	for i := range sc.Nodes {
		name := fmt.Sprintf("node-%d", i)
		if err := c.Create(ctx, &apinetv1alpha1.Node{ObjectMeta: metav1.ObjectMeta{Name: name,
			Labels:      map[string]string{apinetv1alpha1.LabelGateway: "true"},
			Annotations: map[string]string{apinetv1alpha1.AnnotationChassis: "chassis-" + name}}}); err != nil {
			return err
		}
	}
	return nil
}

// createPopulation creates namespace ns with Networks and their NICs,
// NATGateways on the first networks, and LoadBalancers whose targets'
// agents already reported Ready.
func createPopulation(ctx context.Context, c client.Client, sc coldScale, ns string, res *coldResult) error {
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		return err
	}
	perNetwork := sc.NICs / sc.Networks
	if err := parallel(8, sc.Networks, func(i int) error {
		return c.Create(ctx, &apinetv1alpha1.Network{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("net-%d", i)}})
	}); err != nil {
		return err
	}
	for i := range sc.NATGateways {
		gw := &apinetv1alpha1.NATGateway{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("gw-%d", i)},
			Spec: apinetv1alpha1.NATGatewaySpec{IPFamily: apinetv1alpha1.IPv4, PortsPerNetworkInterface: 64,
				NetworkRef: corev1.LocalObjectReference{Name: fmt.Sprintf("net-%d", i%sc.Networks)},
				IPs:        []apinetv1alpha1.NATGatewayIP{{Name: "ip-0"}}}}
		if err := c.Create(ctx, gw); err != nil {
			return err
		}
	}
	natted := map[int]bool{}
	for i := range sc.NATGateways {
		natted[i%sc.Networks] = true
	}
	// LoadBalancer l targets the first lbTargets NICs of network l.
	lbOf := func(network, k int) (string, bool) {
		if network < sc.LoadBalancers && k < lbTargets {
			return fmt.Sprintf("lb-%d", network), true
		}
		return "", false
	}
	for i := range sc.NICs {
		switch network := i / perNetwork; {
		case i%publicEvery == publicEvery-1:
			res.publicNICs++
		case natted[network]:
			res.natedNICs++
		}
	}
	if err := parallel(8, sc.NICs, func(i int) error {
		network, k := i/perNetwork, i%perNetwork
		nic := &apinetv1alpha1.NetworkInterface{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("nic-%d", i)},
			Spec: apinetv1alpha1.NetworkInterfaceSpec{NodeRef: corev1.LocalObjectReference{Name: fmt.Sprintf("node-%d", i%sc.Nodes)},
				NetworkRef: corev1.LocalObjectReference{Name: fmt.Sprintf("net-%d", network)},
				IPs:        []apinetv1alpha1.IPAddr{apinetv1alpha1.IPAddr(fmt.Sprintf("10.0.%d.%d", k>>8, (k&255)+1))}},
		}
		if i%publicEvery == publicEvery-1 {
			nic.Spec.PublicIPs = []apinetv1alpha1.PublicIPRequest{{Name: "pub", IPFamily: apinetv1alpha1.IPv4}}
		}
		lb, target := lbOf(network, k)
		if target {
			nic.Labels = map[string]string{"lb": lb}
		}
		if err := c.Create(ctx, nic); err != nil {
			return err
		}
		if !target {
			return nil
		}
		// The agent's report: the backend's device is up.
		nic.Status.State = apinetv1alpha1.NetworkInterfaceStateReady
		return c.Status().Update(ctx, nic)
	}); err != nil {
		return err
	}
	return parallel(8, sc.LoadBalancers, func(l int) error {
		name := fmt.Sprintf("lb-%d", l)
		return c.Create(ctx, &apinetv1alpha1.LoadBalancer{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			Spec: apinetv1alpha1.LoadBalancerSpec{Type: apinetv1alpha1.LoadBalancerTypePublic,
				NetworkRef:     corev1.LocalObjectReference{Name: fmt.Sprintf("net-%d", l%sc.Networks)},
				IPs:            []apinetv1alpha1.PublicIPRequest{{Name: "vip", IPFamily: apinetv1alpha1.IPv4}},
				Ports:          []apinetv1alpha1.LoadBalancerPort{{Port: 80}},
				TargetSelector: &apinetv1alpha1.LabelSelector{MatchLabels: map[string]apinetv1alpha1.LabelValue{"lb": apinetv1alpha1.LabelValue(name)}}}})
	})
}
