package e2e

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	apinetv1alpha1 "github.com/ovnet-dev/ovnet/apis/core/v1alpha1"
)

// TestNetworkPolicy: an ingress policy lets TCP to the allowed port in
// and drops another port and an ipBlock `except` address; policies combine
// as a union (another policy's allow wins over an except); an egress policy
// keeps its NIC to the allowed peer and port; NICs no policy selects are
// unaffected.
func TestNetworkPolicy(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	e.network("net1")
	label := func(k, v string) func(*apinetv1alpha1.NetworkInterface) {
		return func(n *apinetv1alpha1.NetworkInterface) { n.Labels = map[string]string{k: v} }
	}
	_, s := e.nic("s", "net1", "node-1", "10.0.0.1", label("app", "web"))
	_, c1 := e.nic("c1", "net1", "node-2", "10.0.0.2", label("role", "client"))
	_, c2 := e.nic("c2", "net1", "node-3", "10.0.0.3", label("role", "other"))
	for _, port := range []string{"80", "8080"} {
		serveName(t, s.NetNS, port, "S")
		serveName(t, c2.NetNS, port, "C2")
	}
	expect := func(what string, paths ...path) { t.Helper(); expectPaths(t, what, paths...) }
	expect("everything open before any policy",
		reaches(c1, "10.0.0.1", "80", "S"), reaches(c1, "10.0.0.1", "8080", "S"), reaches(c2, "10.0.0.1", "80", "S"), reaches(c1, "10.0.0.3", "80", "C2"))

	tcp := corev1.ProtocolTCP
	ingress := &apinetv1alpha1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: e.ns, Name: "web-in"}, Spec: apinetv1alpha1.NetworkPolicySpec{
		NetworkRef:               corev1.LocalObjectReference{Name: "net1"},
		NetworkInterfaceSelector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
		PolicyTypes:              []apinetv1alpha1.PolicyType{apinetv1alpha1.PolicyTypeIngress},
		Ingress: []apinetv1alpha1.NetworkPolicyIngressRule{{
			From:  []apinetv1alpha1.NetworkPolicyPeer{{IPBlock: &apinetv1alpha1.IPBlock{CIDR: "10.0.0.0/24", Except: []apinetv1alpha1.IPPrefix{"10.0.0.3/32"}}}},
			Ports: []apinetv1alpha1.NetworkPolicyPort{{Protocol: &tcp, Port: 80}},
		}},
	}}
	if err := e.c.Create(ctx, ingress); err != nil {
		t.Fatal(err)
	}
	expect("ingress policy: c1 reaches S:80, not S:8080; c2 (except) not at all; c2 itself unaffected",
		reaches(c1, "10.0.0.1", "80", "S"), reaches(c1, "10.0.0.1", "8080", ""), reaches(c2, "10.0.0.1", "80", ""), reaches(c1, "10.0.0.3", "8080", "C2"))

	// Rules combine as a union: a second policy that lets c2 in on 80 wins
	// over the first one's except, which narrows only its own ipBlock;
	// 8080 stays closed to both.
	c2In := &apinetv1alpha1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: e.ns, Name: "web-in-c2"}, Spec: apinetv1alpha1.NetworkPolicySpec{
		NetworkRef:               corev1.LocalObjectReference{Name: "net1"},
		NetworkInterfaceSelector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
		PolicyTypes:              []apinetv1alpha1.PolicyType{apinetv1alpha1.PolicyTypeIngress},
		Ingress: []apinetv1alpha1.NetworkPolicyIngressRule{{
			From:  []apinetv1alpha1.NetworkPolicyPeer{{ObjectSelector: &apinetv1alpha1.ObjectSelector{Kind: "NetworkInterface", LabelSelector: metav1.LabelSelector{MatchLabels: map[string]string{"role": "other"}}}}},
			Ports: []apinetv1alpha1.NetworkPolicyPort{{Protocol: &tcp, Port: 80}},
		}},
	}}
	if err := e.c.Create(ctx, c2In); err != nil {
		t.Fatal(err)
	}
	expect("union: c2 allowed on 80 by the second policy, despite the first one's except; 8080 still closed",
		reaches(c2, "10.0.0.1", "80", "S"), reaches(c2, "10.0.0.1", "8080", ""), reaches(c1, "10.0.0.1", "80", "S"), reaches(c1, "10.0.0.1", "8080", ""))
	if err := e.c.Delete(ctx, c2In); err != nil {
		t.Fatal(err)
	}
	expect("second policy gone: the except holds again",
		reaches(c1, "10.0.0.1", "80", "S"), reaches(c2, "10.0.0.1", "80", ""))

	egress := &apinetv1alpha1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: e.ns, Name: "client-out"}, Spec: apinetv1alpha1.NetworkPolicySpec{
		NetworkRef:               corev1.LocalObjectReference{Name: "net1"},
		NetworkInterfaceSelector: metav1.LabelSelector{MatchLabels: map[string]string{"role": "client"}},
		PolicyTypes:              []apinetv1alpha1.PolicyType{apinetv1alpha1.PolicyTypeEgress},
		Egress: []apinetv1alpha1.NetworkPolicyEgressRule{{
			To:    []apinetv1alpha1.NetworkPolicyPeer{{ObjectSelector: &apinetv1alpha1.ObjectSelector{Kind: "NetworkInterface", LabelSelector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}}}},
			Ports: []apinetv1alpha1.NetworkPolicyPort{{Port: 80}},
		}},
	}}
	if err := e.c.Create(ctx, egress); err != nil {
		t.Fatal(err)
	}
	expect("egress policy: c1 reaches only the web NIC on 80",
		reaches(c1, "10.0.0.1", "80", "S"), reaches(c1, "10.0.0.3", "80", ""))

	// Deleting the policies opens everything again.
	for _, np := range []*apinetv1alpha1.NetworkPolicy{ingress, egress} {
		if err := e.c.Delete(ctx, np); err != nil {
			t.Fatal(err)
		}
	}
	expect("policies gone: open again",
		reaches(c1, "10.0.0.1", "8080", "S"), reaches(c2, "10.0.0.1", "80", "S"), reaches(c1, "10.0.0.3", "80", "C2"))
}
