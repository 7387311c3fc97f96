package rows

import (
	"strconv"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	apinetv1alpha1 "github.com/ovnet-dev/ovnet/apis/core/v1alpha1"
	"github.com/ovnet-dev/ovnet/ovn/nbdb"
)

func TestPolicyRows(t *testing.T) {
	udp := corev1.ProtocolUDP
	end := int32(90)
	np := &apinetv1alpha1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{UID: "1234-abcd"}, Spec: apinetv1alpha1.NetworkPolicySpec{
		PolicyTypes: []apinetv1alpha1.PolicyType{apinetv1alpha1.PolicyTypeIngress},
		Ingress:     []apinetv1alpha1.NetworkPolicyIngressRule{{From: []apinetv1alpha1.NetworkPolicyPeer{{}}}, {}},
	}}
	prio := int32(500)
	rule := &apinetv1alpha1.NetworkPolicyRule{Priority: &prio,
		Targets: []apinetv1alpha1.TargetNetworkInterface{{IP: "10.0.0.1"}, {IP: "fd00::1"}},
		IngressRules: []apinetv1alpha1.Rule{
			{CIDRBlock: []apinetv1alpha1.IPBlock{{CIDR: "10.0.0.0/24", Except: []apinetv1alpha1.IPPrefix{"10.0.0.3/32"}}, {CIDR: "fd00:9::/64"}},
				ObjectIPs:          []apinetv1alpha1.ObjectIP{{Prefix: "192.168.0.7/32"}},
				NetworkPolicyPorts: []apinetv1alpha1.NetworkPolicyPort{{Port: 80, EndPort: &end}, {Protocol: &udp, Port: 53}}},
			{}, // no peers, no ports: everything
		},
		// Egress rules without the Egress type are not enforced.
		EgressRules: []apinetv1alpha1.Rule{{}},
	}
	got := PolicyRows(PolicyInput{Policy: np, Rule: rule, Network: &apinetv1alpha1.Network{ObjectMeta: metav1.ObjectMeta{UID: "net"}}})
	var acls, sets []string
	for _, r := range got {
		switch m := r.Model.(type) {
		case *nbdb.AddressSet:
			sets = append(sets, m.Name+"="+strings.Join(m.Addresses, ","))
		case *nbdb.ACL:
			acls = append(acls, string(m.Direction)+" "+strconv.Itoa(m.Priority)+" "+string(m.Action)+" "+m.Match)
			// Each ACL says what of its policy it is (kubectl ovnet trace).
			wantDecision := "default deny (ingress)"
			if m.Action != nbdb.ACLActionDrop {
				wantDecision = "ingress rule 1"
				if m.Match == "ip4.dst == $ovnet_np_1234abcd" || m.Match == "ip6.dst == $ovnet_np_1234abcd_ip6" {
					wantDecision = "ingress rule 2"
				}
			}
			if got := r.Extra[KeyPolicyDecision]; got != wantDecision {
				t.Errorf("ACL %s %s: decision %q, want %q", m.Action, m.Match, got, wantDecision)
			}
			if r.Parents[0].Key != "net/ls" {
				t.Errorf("ACL parent %+v", r.Parents)
			}
		}
	}
	// One address set per family of the targets.
	if strings.Join(sets, " ") != "ovnet_np_1234abcd=10.0.0.1 ovnet_np_1234abcd_ip6=fd00::1" {
		t.Errorf("address sets %v", sets)
	}
	want := []string{
		// The except narrows its own block only: no drop above other rules' allows.
		"to-lport 29500 allow-related ip4.dst == $ovnet_np_1234abcd && ip4.src == {192.168.0.7/32} && tcp.dst >= 80 && tcp.dst <= 90",
		"to-lport 29500 allow-related ip4.dst == $ovnet_np_1234abcd && ip4.src == 10.0.0.0/24 && ip4.src != {10.0.0.3/32} && tcp.dst >= 80 && tcp.dst <= 90",
		"to-lport 29500 allow-related ip4.dst == $ovnet_np_1234abcd && ip4.src == {192.168.0.7/32} && udp.dst == 53",
		"to-lport 29500 allow-related ip4.dst == $ovnet_np_1234abcd && ip4.src == 10.0.0.0/24 && ip4.src != {10.0.0.3/32} && udp.dst == 53",
		"to-lport 29500 allow-related ip4.dst == $ovnet_np_1234abcd",
		"to-lport 100 drop ip4.dst == $ovnet_np_1234abcd",
		// IPv6 on its own: only the rules' IPv6 peers, and its own default deny.
		"to-lport 29500 allow-related ip6.dst == $ovnet_np_1234abcd_ip6 && ip6.src == {fd00:9::/64} && tcp.dst >= 80 && tcp.dst <= 90",
		"to-lport 29500 allow-related ip6.dst == $ovnet_np_1234abcd_ip6 && ip6.src == {fd00:9::/64} && udp.dst == 53",
		"to-lport 29500 allow-related ip6.dst == $ovnet_np_1234abcd_ip6",
		"to-lport 100 drop ip6.dst == $ovnet_np_1234abcd_ip6",
	}
	if strings.Join(acls, "\n") != strings.Join(want, "\n") {
		t.Errorf("ACLs:\n%s\nwant:\n%s", strings.Join(acls, "\n"), strings.Join(want, "\n"))
	}
	for _, a := range acls {
		if strings.Contains(a, " drop ") && !strings.HasPrefix(a, "to-lport 100 ") {
			t.Errorf("a drop above the default deny overrides other allows: %s", a)
		}
	}
	// Keys follow the content: a rule inserted first keeps the others' keys.
	keys := map[string]bool{}
	for _, r := range got {
		keys[r.Key] = true
	}
	np2, rule2 := np.DeepCopy(), rule.DeepCopy()
	np2.Spec.Ingress = append([]apinetv1alpha1.NetworkPolicyIngressRule{{}}, np2.Spec.Ingress...)
	rule2.IngressRules = append([]apinetv1alpha1.Rule{{NetworkPolicyPorts: []apinetv1alpha1.NetworkPolicyPort{{Port: 22}}}}, rule2.IngressRules...)
	added := 0
	for _, r := range PolicyRows(PolicyInput{Policy: np2, Rule: rule2, Network: &apinetv1alpha1.Network{ObjectMeta: metav1.ObjectMeta{UID: "net"}}}) {
		if !keys[r.Key] {
			added++
		}
	}
	if added != 2 {
		t.Errorf("inserting one rule changed %d ACL keys, want 2 new (one per family)", added)
	}
	// No target: nothing at all.
	rule.Targets = nil
	if got := PolicyRows(PolicyInput{Policy: np, Rule: rule, Network: &apinetv1alpha1.Network{}}); got != nil {
		t.Errorf("rows without targets: %d", len(got))
	}
}
