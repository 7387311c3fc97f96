package ovntranslate_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	apinetv1alpha1 "github.com/ovnet-dev/ovnet/apis/core/v1alpha1"
	"github.com/ovnet-dev/ovnet/devstack"
	"github.com/ovnet-dev/ovnet/ovn"
	"github.com/ovnet-dev/ovnet/test/testenv"
)

// TestTenantSafety: a NIC realizes only the public IPs it holds (naming
// another tenant's address or the upstream router gets it no row); of two
// NICs with one address the first keeps it and the second waits with
// IPConflict until the first is gone; both families are routed and an
// IPv6 public IP becomes an IPv6 dnat_and_snat row; a NAT row deleted
// behind ovnet's back comes back.
func TestTenantSafety(t *testing.T) {
	env := testenv.Start(t)
	central := devstack.StartCentralT(t)
	start(t, env, central)
	c, ctx := env.Client, context.Background()
	nbctl := func(args ...string) string { t.Helper(); return central.NBCtl(t, args...) }
	namespace := func() string {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "t-"}}
		if err := c.Create(ctx, ns); err != nil {
			t.Fatal(err)
		}
		return ns.Name
	}
	create := func(o client.Object) {
		t.Helper()
		if err := c.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	nsA, nsB := namespace(), namespace()
	create(&apinetv1alpha1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node1", Labels: map[string]string{apinetv1alpha1.LabelGateway: "true"}}})
	for _, ns := range []string{nsA, nsB} {
		create(&apinetv1alpha1.Network{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "net"}})
	}
	nic := func(ns, name string, ips []apinetv1alpha1.IPAddr, pub ...apinetv1alpha1.PublicIPRequest) *apinetv1alpha1.NetworkInterface {
		n := &apinetv1alpha1.NetworkInterface{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			Spec: apinetv1alpha1.NetworkInterfaceSpec{NodeRef: corev1.LocalObjectReference{Name: "node1"},
				NetworkRef: corev1.LocalObjectReference{Name: "net"}, IPs: ips, PublicIPs: pub}}
		create(n)
		return n
	}
	conds := func(n *apinetv1alpha1.NetworkInterface) func() []metav1.Condition {
		return func() []metav1.Condition { return n.Status.Conditions }
	}
	nat := func() string {
		return nbctl("--bare", "--format=csv", "--no-headings", "--columns=external_ip,logical_ip", "find", "NAT", "type=dnat_and_snat")
	}

	a := nic(nsA, "nic-a", []apinetv1alpha1.IPAddr{"10.1.0.5"}, apinetv1alpha1.PublicIPRequest{Name: "pub", IPFamily: apinetv1alpha1.IPv4})
	ready(t, c, a, conds(a), "True/RowsWritten")
	if len(a.Status.PublicIPs) != 1 {
		t.Fatalf("A's status.publicIPs = %v", a.Status.PublicIPs)
	}
	pub := a.Status.PublicIPs[0]

	// B names A's public IP, and B2 the upstream router's address.
	b := nic(nsB, "nic-b", []apinetv1alpha1.IPAddr{"10.1.0.6"}, apinetv1alpha1.PublicIPRequest{Name: "steal", IP: pub})
	b2 := nic(nsB, "nic-b2", []apinetv1alpha1.IPAddr{"10.1.0.7"}, apinetv1alpha1.PublicIPRequest{Name: "router", IP: "100.64.0.1"})
	ready(t, c, b, conds(b), "False/PublicIPNotHeld")
	ready(t, c, b2, conds(b2), "False/PublicIPNotHeld")
	if len(b.Status.PublicIPs) != 0 || len(b2.Status.PublicIPs) != 0 {
		t.Errorf("status.publicIPs of B = %v, B2 = %v; want none", b.Status.PublicIPs, b2.Status.PublicIPs)
	}
	if claimed := apinetv1alpha1.ConditionCopy(b.Status.Conditions, "PublicIPsClaimed"); claimed.Reason != apinetv1alpha1.ReasonIPNotFound {
		t.Errorf("B's PublicIPsClaimed = %s/%s", claimed.Status, claimed.Reason)
	}
	if got, want := nat(), string(pub)+",10.1.0.5"; got != want {
		t.Errorf("dnat_and_snat rows = %q, want only A's %q", got, want)
	}
	// So do B's NAT gateway and Public LoadBalancer naming A's address:
	// not Ready, and no row with it.
	gwB := &apinetv1alpha1.NATGateway{ObjectMeta: metav1.ObjectMeta{Namespace: nsB, Name: "gw-b"}, Spec: apinetv1alpha1.NATGatewaySpec{
		IPFamily: apinetv1alpha1.IPv4, NetworkRef: corev1.LocalObjectReference{Name: "net"}, PortsPerNetworkInterface: 1024,
		IPs: []apinetv1alpha1.NATGatewayIP{{Name: "steal", IP: pub}}}}
	lbB := &apinetv1alpha1.LoadBalancer{ObjectMeta: metav1.ObjectMeta{Namespace: nsB, Name: "lb-b"}, Spec: apinetv1alpha1.LoadBalancerSpec{
		Type: apinetv1alpha1.LoadBalancerTypePublic, NetworkRef: corev1.LocalObjectReference{Name: "net"},
		IPs: []apinetv1alpha1.PublicIPRequest{{Name: "steal", IP: pub}}}}
	create(gwB)
	create(lbB)
	ready(t, c, gwB, func() []metav1.Condition { return gwB.Status.Conditions }, "False/PublicIPNotHeld: 0 of 1 NAT IPs held")
	ready(t, c, lbB, func() []metav1.Condition { return lbB.Status.Conditions }, "False/PublicIPNotHeld: no IP of the load balancer is held")
	if got := nbctl("--bare", "--columns=external_ip", "find", "NAT", "external_ip="+string(pub), "type=snat"); got != "" {
		t.Errorf("B's NAT gateway wrote snat rows with A's address: %q", got)
	}
	if got := nbctl("--bare", "--columns=vips", "find", "Load_Balancer", "external_ids:"+ovn.KeyOwnerName+"=lb-b"); got != "" {
		t.Errorf("B's load balancer has VIPs %q", got)
	}

	// A second NIC with A's address in the same Network waits. (Creation
	// times have seconds; objects of the same second are ordered by UID.)
	for time.Now().Unix() <= a.CreationTimestamp.Unix() {
		time.Sleep(100 * time.Millisecond)
	}
	dup := nic(nsA, "nic-dup", []apinetv1alpha1.IPAddr{"10.1.0.5"})
	ready(t, c, dup, conds(dup), "False/IPConflict: address 10.1.0.5 is used by NetworkInterface nic-a")
	if got := nbctl("--bare", "--columns=name", "find", "Logical_Switch_Port", "name="+nsA+"/nic-dup"); got != "" {
		t.Errorf("the later NIC got a port: %q", got)
	}
	if routes := nbctl("--bare", "--columns=ip_prefix", "find", "Logical_Router_Static_Route", `ip_prefix="10.1.0.5/32"`); routes != "10.1.0.5/32" {
		t.Errorf("routes for 10.1.0.5: %q, want one", routes)
	}
	eventually(t, "IPConflict event", func() error {
		return hasEvent(ctx, c, nsA, "nic-dup", "IPConflict")
	})

	// Drift: A's NAT row deleted behind ovnet's back comes back (with the
	// same UUID: it is derived from the row's key). lr-nat-del succeeds
	// even when nothing matches, so the row must first be listed by the
	// router it is removed from.
	uuid := nbctl("--bare", "--columns=_uuid", "find", "NAT", "type=dnat_and_snat", "external_ip="+string(pub))
	if uuid == "" || !strings.Contains(nbctl("--bare", "--columns=nat", "list", "Logical_Router", nsA+"/net"), uuid) {
		t.Fatalf("NAT row %q of %s is not in router %s/net", uuid, pub, nsA)
	}
	nbctl("lr-nat-del", nsA+"/net", "dnat_and_snat", string(pub))
	eventually(t, "deleted NAT row restored", func() error {
		if got := nbctl("--bare", "--columns=_uuid", "find", "NAT", "type=dnat_and_snat", "external_ip="+string(pub)); got == "" {
			return fmt.Errorf("no NAT row for %s", pub)
		}
		return nil
	})
	// ... and so does a port whose addresses were changed.
	nbctl("lsp-set-addresses", nsA+"/nic-a", "0a:00:00:00:00:01 10.1.0.99")
	eventually(t, "changed port restored", func() error {
		if got := nbctl("--bare", "--columns=addresses", "find", "Logical_Switch_Port", "name="+nsA+"/nic-a"); !strings.Contains(got, "10.1.0.5") {
			return fmt.Errorf("addresses %q", got)
		}
		return nil
	})

	// When A goes, the later NIC takes the address over.
	if err := c.Delete(ctx, a); err != nil {
		t.Fatal(err)
	}
	ready(t, c, dup, conds(dup), "True/RowsWritten")

	// The agent's finalizer on a NIC being deleted stays while the agent's
	// Lease is valid; once it has expired (the Node stays), or when the
	// Node goes, the controller removes it: no agent is left to do it.
	orphan := func(node string, leaseSeconds int32) *apinetv1alpha1.NetworkInterface {
		t.Helper()
		create(&apinetv1alpha1.Node{ObjectMeta: metav1.ObjectMeta{Name: node}})
		create(&coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: apinetv1alpha1.NodeAgentLeaseNamespace, Name: apinetv1alpha1.NodeAgentLeaseName(node)},
			Spec: coordinationv1.LeaseSpec{HolderIdentity: &node, LeaseDurationSeconds: &leaseSeconds, RenewTime: &metav1.MicroTime{Time: time.Now()}}})
		n := &apinetv1alpha1.NetworkInterface{ObjectMeta: metav1.ObjectMeta{Namespace: nsA, Name: "orphan-" + node, Finalizers: []string{apinetv1alpha1.NodeAgentFinalizer}},
			Spec: apinetv1alpha1.NetworkInterfaceSpec{NodeRef: corev1.LocalObjectReference{Name: node}, NetworkRef: corev1.LocalObjectReference{Name: "net"}, IPs: []apinetv1alpha1.IPAddr{"10.1.0.20"}}}
		create(n)
		ready(t, c, n, conds(n), "True/RowsWritten")
		if err := c.Delete(ctx, n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	deleted := func(n *apinetv1alpha1.NetworkInterface, within time.Duration) {
		t.Helper()
		testenv.Eventually(t, within, n.Name+" deleted", func() error {
			if err := c.Get(ctx, client.ObjectKeyFromObject(n), n); err == nil {
				return fmt.Errorf("still there, finalizers %v", n.Finalizers)
			}
			if got := nbctl("--bare", "--columns=name", "find", "Logical_Switch_Port", "name="+nsA+"/"+n.Name); got != "" {
				return fmt.Errorf("its port is left")
			}
			return nil
		})
	}
	quiet := orphan("quiet", 6)
	time.Sleep(time.Second)
	if err := c.Get(ctx, client.ObjectKeyFromObject(quiet), quiet); err != nil || !controllerutil.ContainsFinalizer(quiet, apinetv1alpha1.NodeAgentFinalizer) {
		t.Errorf("the agent's finalizer went while its Lease was valid: %v %v", err, quiet.Finalizers)
	}
	deleted(quiet, 15*time.Second)
	gone := orphan("gone", 40)
	if err := c.Delete(ctx, &apinetv1alpha1.Node{ObjectMeta: metav1.ObjectMeta{Name: "gone"}}); err != nil {
		t.Fatal(err)
	}
	deleted(gone, 10*time.Second)

	// Both families are routed; an IPv6 public IP is translated to the
	// NIC's IPv6 address (the test provider carries IPv6).
	ds := nic(nsA, "dual", []apinetv1alpha1.IPAddr{"10.1.0.8", "fd00::8"})
	ready(t, c, ds, conds(ds), "True/RowsWritten")
	if got := nbctl("--bare", "--columns=addresses", "find", "Logical_Switch_Port", "name="+nsA+"/dual"); !strings.HasSuffix(got, " 10.1.0.8 fd00::8") {
		t.Errorf("dual-stack NIC's port: %q", got)
	}
	if got := nbctl("--bare", "--columns=nexthop", "find", "Logical_Router_Static_Route", "ip_prefix=\"fd00::8/128\""); got != "fd00::8" {
		t.Errorf("dual-stack NIC's IPv6 route: %q", got)
	}
	v6pub := nic(nsA, "v6pub", []apinetv1alpha1.IPAddr{"fd00::9"}, apinetv1alpha1.PublicIPRequest{Name: "pub6", IPFamily: apinetv1alpha1.IPv6})
	ready(t, c, v6pub, conds(v6pub), "True/RowsWritten")
	if err := c.Get(ctx, client.ObjectKeyFromObject(v6pub), v6pub); err != nil || len(v6pub.Status.PublicIPs) != 1 {
		t.Fatalf("v6pub's status.publicIPs %v (%v)", v6pub.Status.PublicIPs, err)
	}
	if got := nbctl("--bare", "--columns=logical_ip", "find", "NAT", "external_ip=\""+string(v6pub.Status.PublicIPs[0])+"\""); got != "fd00::9" {
		t.Errorf("IPv6 public IP %s translates to %q, want fd00::9", v6pub.Status.PublicIPs[0], got)
	}
}

// hasEvent reports whether an event with reason was recorded for the object.
func hasEvent(ctx context.Context, c client.Client, ns, name, reason string) error {
	var list eventsv1.EventList
	if err := c.List(ctx, &list, client.InNamespace(ns)); err != nil {
		return err
	}
	for _, e := range list.Items {
		if e.Regarding.Name == name && e.Reason == reason {
			return nil
		}
	}
	return fmt.Errorf("no %s event for %s/%s", reason, ns, name)
}
