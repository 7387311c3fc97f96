package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	apinetv1alpha1 "github.com/ovnet-dev/ovnet/apis/core/v1alpha1"
	"github.com/ovnet-dev/ovnet/controllers/ovntranslate"
	"github.com/ovnet-dev/ovnet/test/testenv"
)

// TestLoadBalancerHealthCheck: a Public LB with health checks on two
// backends; under a NetworkPolicy that admits port 80 only from the
// provider network the probes still pass; when B's service stops (its
// interface stays up) every connection goes to A within interval ×
// failures, and the LB says so in its BackendsHealthy condition and an
// event; when it starts again both answer.
func TestLoadBalancerHealthCheck(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	e.network("net1")
	web := func(n *apinetv1alpha1.NetworkInterface) { n.Labels = map[string]string{"app": "web"} }
	_, vmA := e.nic("a", "net1", "node-1", "10.0.0.1", web)
	_, vmB := e.nic("b", "net1", "node-2", "10.0.0.2", web)
	_, vmG := e.nic("g", "net1", "node-3", "10.0.0.3")
	serveName(t, vmA.NetNS, "80", "A")
	stopB := serveName(t, vmB.NetNS, "80", "B")
	const interval, failures = 2, 2
	lb := &apinetv1alpha1.LoadBalancer{ObjectMeta: metav1.ObjectMeta{Namespace: e.ns, Name: "checked",
		Annotations: map[string]string{ovntranslate.AnnotationHealthCheck: fmt.Sprintf("interval=%d,timeout=1,success=1,failure=%d", interval, failures)}},
		Spec: apinetv1alpha1.LoadBalancerSpec{
			Type: apinetv1alpha1.LoadBalancerTypePublic, NetworkRef: corev1.LocalObjectReference{Name: "net1"},
			IPs:            []apinetv1alpha1.PublicIPRequest{{Name: "vip", IPFamily: apinetv1alpha1.IPv4}},
			Ports:          []apinetv1alpha1.LoadBalancerPort{{Port: 80}},
			TargetSelector: &apinetv1alpha1.LabelSelector{MatchLabels: map[string]apinetv1alpha1.LabelValue{"app": "web"}},
		}}
	if err := e.c.Create(ctx, lb); err != nil {
		t.Fatal(err)
	}
	health := func(want string) {
		t.Helper()
		testenv.Eventually(t, 30*time.Second, "BackendsHealthy "+want, func() error {
			if err := e.c.Get(ctx, client.ObjectKeyFromObject(lb), lb); err != nil {
				return err
			}
			c := meta.FindStatusCondition(lb.Status.Conditions, ovntranslate.ConditionBackendsHealthy)
			if c == nil || !strings.HasPrefix(string(c.Status)+"/"+c.Reason+": "+c.Message, want) {
				return fmt.Errorf("condition %+v", c)
			}
			return nil
		})
	}
	health("True/Online: 2 probed backends online")
	vip := string(lb.Spec.IPs[0].IP)
	ext := e.s.External
	both := func(what string) {
		t.Helper()
		testenv.Eventually(t, 30*time.Second, what, func() error {
			if got := answers(ext, "tcp", vip, "80", 12); got["A"] == 0 || got["B"] == 0 {
				return fmt.Errorf("answers %v", got)
			}
			return nil
		})
	}
	both("both backends answer on the VIP")
	expectPaths(t, "a NIC of the network reaches A before the policy", reaches(vmG, "10.0.0.1", "80", "A"))
	t.Logf("%s: %s", ovntranslate.AnnotationHealthCheck, e.nbctl("--bare", "--columns=vip,options", "list", "Load_Balancer_Health_Check"))

	// A default deny on the backends that admits port 80 from the provider
	// network only: the probes (from 169.254.0.2) still pass.
	tcp := corev1.ProtocolTCP
	policy := &apinetv1alpha1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: e.ns, Name: "web"}, Spec: apinetv1alpha1.NetworkPolicySpec{
		NetworkRef:               corev1.LocalObjectReference{Name: "net1"},
		NetworkInterfaceSelector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
		PolicyTypes:              []apinetv1alpha1.PolicyType{apinetv1alpha1.PolicyTypeIngress},
		Ingress: []apinetv1alpha1.NetworkPolicyIngressRule{{
			From:  []apinetv1alpha1.NetworkPolicyPeer{{IPBlock: &apinetv1alpha1.IPBlock{CIDR: upstream + "/32"}}},
			Ports: []apinetv1alpha1.NetworkPolicyPort{{Protocol: &tcp, Port: 80}},
		}},
	}}
	if err := e.c.Create(ctx, policy); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 30*time.Second, "the policy drops g -> a:80", func() error {
		if got := ask(vmG, "tcp", "10.0.0.1", "80"); got != "" {
			return fmt.Errorf("answered %q", got)
		}
		return nil
	})
	expectPaths(t, "the policy admits no NIC", reaches(vmG, "10.0.0.1", "80", ""))
	time.Sleep(3 * interval * failures * time.Second)
	t.Logf("service monitors under the policy: %s", e.sbctl("--bare", "--columns=logical_port,ip,port,status", "list", "Service_Monitor"))
	health("True/Online: 2 probed backends online")
	both("both backends answer under the policy")

	// B's service stops, its interface stays up: out of rotation.
	stopB()
	stopped := time.Now()
	testenv.Eventually(t, 30*time.Second, "only A answers once B's service is down", func() error {
		if got := answers(ext, "tcp", vip, "80", 8); got["A"] != 8 {
			return fmt.Errorf("answers %v", got)
		}
		return nil
	})
	t.Logf("B's service stopped: out of rotation after %s (interval %ds × %d failures); service monitors: %s", time.Since(stopped).Round(100*time.Millisecond),
		interval, failures, e.sbctl("--bare", "--columns=logical_port,ip,port,status", "list", "Service_Monitor"))
	health("False/BackendsDown: offline: " + e.ns + "/b 10.0.0.2:80/tcp")
	if err := lbEvent(ctx, e.c, lb, "BackendDown"); err != nil {
		t.Error(err)
	}

	serveName(t, vmB.NetNS, "80", "B")
	both("both answer once B's service is back")
	health("True/Online: 2 probed backends online")
	if err := lbEvent(ctx, e.c, lb, "BackendUp"); err != nil {
		t.Error(err)
	}
}

// lbEvent finds an event with reason about lb.
func lbEvent(ctx context.Context, c client.Client, lb *apinetv1alpha1.LoadBalancer, reason string) error {
	var list eventsv1.EventList
	if err := c.List(ctx, &list, client.InNamespace(lb.Namespace)); err != nil {
		return err
	}
	for _, ev := range list.Items {
		if ev.Regarding.Name == lb.Name && ev.Reason == reason {
			return nil
		}
	}
	return fmt.Errorf("no %s event for LoadBalancer %s", reason, lb.Name)
}
