package policy_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	apinetv1alpha1 "github.com/ovnet-dev/ovnet/apis/core/v1alpha1"
	"github.com/ovnet-dev/ovnet/controllers/policy"
	"github.com/ovnet-dev/ovnet/test/testenv"
)

// TestNetworkPolicyRule: the rule of a policy lists exactly the Ready NICs
// of its network that its selector matches, resolves NIC and LoadBalancer
// peers of the network to host prefixes, keeps ipBlocks and ports, follows
// label and state changes, and goes with the policy.
func TestNetworkPolicyRule(t *testing.T) {
	env := testenv.Start(t)
	testenv.StartManager(t, env, func(_ context.Context, mgr manager.Manager) error { return policy.Setup(mgr) })
	c, ctx := env.Client, context.Background()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "np-"}}
	if err := c.Create(ctx, ns); err != nil {
		t.Fatal(err)
	}
	create := func(o client.Object) {
		t.Helper()
		o.SetNamespace(ns.Name)
		if err := c.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	create(&apinetv1alpha1.Network{ObjectMeta: metav1.ObjectMeta{Name: "net"}})
	nic := func(name, network, ip string, labels map[string]string, ready bool) *apinetv1alpha1.NetworkInterface {
		n := &apinetv1alpha1.NetworkInterface{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}, Spec: apinetv1alpha1.NetworkInterfaceSpec{
			NodeRef: corev1.LocalObjectReference{Name: "n1"}, NetworkRef: corev1.LocalObjectReference{Name: network}, IPs: []apinetv1alpha1.IPAddr{apinetv1alpha1.IPAddr(ip)}}}
		create(n)
		if ready {
			patch := client.MergeFrom(n.DeepCopy())
			n.Status.State = apinetv1alpha1.NetworkInterfaceStateReady
			if err := c.Status().Patch(ctx, n, patch); err != nil {
				t.Fatal(err)
			}
		}
		return n
	}
	web := map[string]string{"app": "web"}
	nic("w1", "net", "10.0.0.2", web, true)
	w2 := nic("w2", "net", "10.0.0.1", web, false) // not Ready yet
	nic("w3", "other", "10.0.0.3", web, true)      // another network
	nic("c1", "net", "10.0.0.9", map[string]string{"role": "client"}, true)
	create(&apinetv1alpha1.LoadBalancer{ObjectMeta: metav1.ObjectMeta{Name: "lb", Labels: map[string]string{"expose": "yes"}}, Spec: apinetv1alpha1.LoadBalancerSpec{
		Type: apinetv1alpha1.LoadBalancerTypeInternal, NetworkRef: corev1.LocalObjectReference{Name: "net"},
		IPs: []apinetv1alpha1.PublicIPRequest{{Name: "vip", IP: "10.0.0.100"}}}})
	prio := int32(500)
	np := &apinetv1alpha1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Spec: apinetv1alpha1.NetworkPolicySpec{
		NetworkRef: corev1.LocalObjectReference{Name: "net"}, NetworkInterfaceSelector: metav1.LabelSelector{MatchLabels: web},
		Priority: &prio, PolicyTypes: []apinetv1alpha1.PolicyType{apinetv1alpha1.PolicyTypeIngress, apinetv1alpha1.PolicyTypeEgress},
		Ingress: []apinetv1alpha1.NetworkPolicyIngressRule{{
			From: []apinetv1alpha1.NetworkPolicyPeer{
				{ObjectSelector: &apinetv1alpha1.ObjectSelector{Kind: "NetworkInterface", LabelSelector: metav1.LabelSelector{MatchLabels: map[string]string{"role": "client"}}}},
				{IPBlock: &apinetv1alpha1.IPBlock{CIDR: "192.168.0.0/16", Except: []apinetv1alpha1.IPPrefix{"192.168.1.0/24"}}},
			},
			Ports: []apinetv1alpha1.NetworkPolicyPort{{Port: 80}},
		}},
		Egress: []apinetv1alpha1.NetworkPolicyEgressRule{{
			To: []apinetv1alpha1.NetworkPolicyPeer{{ObjectSelector: &apinetv1alpha1.ObjectSelector{Kind: "LoadBalancer", LabelSelector: metav1.LabelSelector{MatchLabels: map[string]string{"expose": "yes"}}}}},
		}},
	}}
	create(np)
	render := func(r *apinetv1alpha1.NetworkPolicyRule) string {
		var targets, in, out []string
		for _, t := range r.Targets {
			targets = append(targets, string(t.IP)+"("+t.TargetRef.Name+")")
		}
		for _, rule := range r.IngressRules {
			for _, o := range rule.ObjectIPs {
				in = append(in, string(o.Prefix))
			}
			for _, b := range rule.CIDRBlock {
				in = append(in, string(b.CIDR)+" except "+fmt.Sprint(b.Except))
			}
			in = append(in, fmt.Sprintf("ports %d", len(rule.NetworkPolicyPorts)))
		}
		for _, rule := range r.EgressRules {
			for _, o := range rule.ObjectIPs {
				out = append(out, string(o.Prefix))
			}
		}
		return fmt.Sprintf("net %s prio %d targets %s | in %s | out %s", r.NetworkRef.Name, *r.Priority, strings.Join(targets, ","), strings.Join(in, ","), strings.Join(out, ","))
	}
	want := func(expected string) {
		t.Helper()
		testenv.Eventually(t, 30*time.Second, "rule "+expected, func() error {
			r := &apinetv1alpha1.NetworkPolicyRule{}
			if err := c.Get(ctx, client.ObjectKey{Namespace: ns.Name, Name: "web"}, r); err != nil {
				return err
			}
			if got := render(r); got != expected {
				return fmt.Errorf("got %q", got)
			}
			return nil
		})
	}
	want("net net prio 500 targets 10.0.0.2(w1) | in 10.0.0.9/32,192.168.0.0/16 except [192.168.1.0/24],ports 1 | out 10.0.0.100/32")

	// w2 turns Ready: it becomes a target (sorted by address).
	patch := client.MergeFrom(w2.DeepCopy())
	w2.Status.State = apinetv1alpha1.NetworkInterfaceStateReady
	if err := c.Status().Patch(ctx, w2, patch); err != nil {
		t.Fatal(err)
	}
	want("net net prio 500 targets 10.0.0.1(w2),10.0.0.2(w1) | in 10.0.0.9/32,192.168.0.0/16 except [192.168.1.0/24],ports 1 | out 10.0.0.100/32")
	// w2 leaves the selection by a label change.
	patch = client.MergeFrom(w2.DeepCopy())
	w2.Labels = map[string]string{"app": "db"}
	if err := c.Patch(ctx, w2, patch); err != nil {
		t.Fatal(err)
	}
	want("net net prio 500 targets 10.0.0.2(w1) | in 10.0.0.9/32,192.168.0.0/16 except [192.168.1.0/24],ports 1 | out 10.0.0.100/32")

	// The rule goes with its policy.
	if err := c.Delete(ctx, np); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 30*time.Second, "rule deleted", func() error {
		err := c.Get(ctx, client.ObjectKey{Namespace: ns.Name, Name: "web"}, &apinetv1alpha1.NetworkPolicyRule{})
		if !apierrors.IsNotFound(err) {
			return fmt.Errorf("rule still there: %v", err)
		}
		return nil
	})
}
