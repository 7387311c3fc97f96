package e2e

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	apinetv1alpha1 "github.com/ovnet-dev/ovnet/apis/core/v1alpha1"
	"github.com/ovnet-dev/ovnet/nodeagent"
	"github.com/ovnet-dev/ovnet/ovn"
	"github.com/ovnet-dev/ovnet/ovn/rows"
	"github.com/ovnet-dev/ovnet/test/testenv"
)

// TestDrift: what someone else removes or changes is put back, and the
// traffic with it: a NIC's switch port, its /32 route, its public IP's NAT
// row, the Network's router with everything on it, a policy's ACLs (the
// drop returns), a br-int port and a veth pair on a node.
func TestDrift(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	e.network("net1")
	label := func(n *apinetv1alpha1.NetworkInterface) { n.Labels = map[string]string{"app": "web"} }
	s, vmS := e.nic("s", "net1", "node-1", "10.0.0.1", label, func(n *apinetv1alpha1.NetworkInterface) {
		n.Spec.PublicIPs = []apinetv1alpha1.PublicIPRequest{{Name: "pub", IPFamily: apinetv1alpha1.IPv4}}
	})
	c, vmC := e.nic("c", "net1", "node-2", "10.0.0.2")
	_, vmO := e.nic("o", "net1", "node-3", "10.0.0.3")
	pub := e.publicIP(s)
	serveName(t, vmS.NetNS, "80", "S")

	// Only c may reach S (a policy); o is dropped on the same path.
	policy := &apinetv1alpha1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: e.ns, Name: "web"}, Spec: apinetv1alpha1.NetworkPolicySpec{
		NetworkRef:               corev1.LocalObjectReference{Name: "net1"},
		NetworkInterfaceSelector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
		PolicyTypes:              []apinetv1alpha1.PolicyType{apinetv1alpha1.PolicyTypeIngress},
		Ingress: []apinetv1alpha1.NetworkPolicyIngressRule{{From: []apinetv1alpha1.NetworkPolicyPeer{
			{IPBlock: &apinetv1alpha1.IPBlock{CIDR: "10.0.0.2/32"}},
			{IPBlock: &apinetv1alpha1.IPBlock{CIDR: "0.0.0.0/0", Except: []apinetv1alpha1.IPPrefix{"10.0.0.0/8"}}},
		}}},
	}}
	if err := e.c.Create(ctx, policy); err != nil {
		t.Fatal(err)
	}
	// works waits until c and the external host reach S (east-west and
	// through the public IP), and o is dropped.
	works := func(after string) {
		t.Helper()
		testenv.Eventually(t, 30*time.Second, "traffic after "+after, func() error {
			if got := ask(vmC, "tcp", "10.0.0.1", "80"); got != "S" {
				return fmt.Errorf("c -> S answered %q", got)
			}
			if got := ask(e.s.External, "tcp", pub, "80"); got != "S" {
				return fmt.Errorf("external -> %s answered %q", pub, got)
			}
			if got := ask(vmO, "tcp", "10.0.0.1", "80"); got != "" {
				return fmt.Errorf("o -> S answered %q, want it dropped", got)
			}
			return nil
		})
	}
	works("setup")

	// uuids are the _uuid of the rows find selects.
	uuids := func(table string, conds ...string) string {
		return e.nbctl(append([]string{"--bare", "--columns=_uuid", "find", table}, conds...)...)
	}
	// parent names the reference column that lists rows of a non-root
	// table: removing the reference deletes them.
	type parent struct{ table, name, column string }
	// removed runs remove on the rows find selects and waits for them to
	// be put back and for the traffic. Rows of tables without an index come
	// back with the same UUID (derived from their key), so that the
	// removal is proven by the command: lsp-del, lr-route-del and lr-del
	// fail when nothing matches; for a command that does not (lr-nat-del,
	// acl-del), the rows must be listed by the parent it removes them from.
	removed := func(what, table string, find []string, from *parent, remove ...[]string) {
		t.Helper()
		before := strings.Fields(uuids(table, find...))
		if len(before) == 0 {
			t.Fatalf("%s: no %s rows to remove", what, table)
		}
		if from != nil {
			listed := e.nbctl("--bare", "--columns="+from.column, "list", from.table, from.name)
			for _, uuid := range before {
				if !strings.Contains(listed, uuid) {
					t.Fatalf("%s: %s row %s is not in %s %s %s (%q)", what, table, uuid, from.table, from.name, from.column, listed)
				}
			}
		}
		for _, args := range remove {
			e.nbctl(args...)
		}
		testenv.Eventually(t, 30*time.Second, what+" put back", func() error {
			if uuids(table, find...) == "" {
				return fmt.Errorf("no %s rows", table)
			}
			return nil
		})
		works(what)
	}
	port := e.ns + "/s"
	router := e.ns + "/net1"
	sw := rows.NetworkSwitchName(&apinetv1alpha1.Network{ObjectMeta: metav1.ObjectMeta{Namespace: e.ns, Name: "net1"}})
	removed("switch port deleted", "Logical_Switch_Port", []string{"name=" + port}, nil, []string{"lsp-del", port})
	removed("/32 route deleted", "Logical_Router_Static_Route", []string{`ip_prefix="10.0.0.1/32"`}, nil,
		[]string{"lr-route-del", router, "10.0.0.1/32"})
	removed("NAT row deleted", "NAT", []string{"type=dnat_and_snat", "external_ip=" + pub}, &parent{"Logical_Router", router, "nat"},
		[]string{"lr-nat-del", router, "dnat_and_snat", pub})
	removed("router deleted", "Logical_Router", []string{"name=" + router}, nil, []string{"lr-del", router})
	removed("ACLs deleted", "ACL", []string{"external_ids:" + ovn.KeyOwnerKind + "=NetworkPolicy"}, &parent{"Logical_Switch", sw, "acls"},
		[]string{"acl-del", sw})

	// On node-1: S's br-int port deleted.
	host, _ := nodeagent.VethNames(s)
	ch := e.chassis("node-1")
	vsctl := func(args ...string) (string, error) {
		out, err := exec.Command("ovs-vsctl", append([]string{"--db=unix:" + ch.DB}, args...)...).CombinedOutput()
		return strings.TrimSpace(string(out)), err
	}
	if out, err := vsctl("del-port", "br-int", host); err != nil {
		t.Fatalf("del-port: %v %s", err, out)
	}
	testenv.Eventually(t, 30*time.Second, "br-int port put back", func() error {
		if out, err := vsctl("list-ports", "br-int"); err != nil || !strings.Contains(out, host) {
			return fmt.Errorf("br-int ports %q %v", out, err)
		}
		return nil
	})
	works("br-int port deleted")

	// On node-2: c's veth pair deleted (its VM loses eth0); the agent
	// makes a new pair, and the VM takes the new tap as a VM would.
	cHost, _ := nodeagent.VethNames(c)
	if out, err := exec.Command("ip", "-n", e.chassis("node-2").NetNS, "link", "del", cHost).CombinedOutput(); err != nil {
		t.Fatalf("delete veth: %v %s", err, out)
	}
	vmC.Remove()
	testenv.Eventually(t, 30*time.Second, "veth put back", func() error {
		if err := exec.Command("ip", "-n", e.chassis("node-2").NetNS, "link", "show", cHost).Run(); err != nil {
			return fmt.Errorf("no %s", cHost)
		}
		return nil
	})
	var err error
	if vmC, err = e.s.Layout.AttachVM(c); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(vmC.Remove)
	works("veth deleted")
}
