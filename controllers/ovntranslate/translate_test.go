package ovntranslate_test

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	apinetv1alpha1 "github.com/ovnet-dev/ovnet/apis/core/v1alpha1"
	"github.com/ovnet-dev/ovnet/devstack"
	"github.com/ovnet-dev/ovnet/ovn"
	"github.com/ovnet-dev/ovnet/test/testenv"
)

// start runs allocation and translation in one manager until stop is called
// (or the test ends); it returns the manager's NB client.
func start(t *testing.T, env *testenv.Env, central *devstack.Central) (*ovn.Client, func()) {
	t.Helper()
	p, err := devstack.StartInProcess(env.Config, central, devstack.TestProvider(), 300, 400)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Stop)
	return p.NB, p.Stop
}

func eventually(t *testing.T, what string, check func() error) {
	t.Helper()
	testenv.Eventually(t, 30*time.Second, what, check)
}

func ready(t *testing.T, c client.Client, obj client.Object, conds func() []metav1.Condition, want string) {
	t.Helper()
	eventually(t, obj.GetName()+" Ready", func() error {
		if err := c.Get(context.Background(), client.ObjectKeyFromObject(obj), obj); err != nil {
			return err
		}
		for _, cond := range conds() {
			if cond.Type == "Ready" {
				got := string(cond.Status) + "/" + cond.Reason + ": " + cond.Message
				if strings.HasPrefix(got, want) {
					return nil
				}
				return fmt.Errorf("Ready = %s", got)
			}
		}
		return fmt.Errorf("no Ready condition")
	})
}

func TestTranslation(t *testing.T) {
	env := testenv.Start(t)
	central := devstack.StartCentralT(t)
	_, stop := start(t, env, central)
	c, ctx := env.Client, context.Background()
	nbctl := func(args ...string) string { t.Helper(); return central.NBCtl(t, args...) }
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "t-"}}
	if err := c.Create(ctx, ns); err != nil {
		t.Fatal(err)
	}

	nw := &apinetv1alpha1.Network{ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "net"}}
	if err := c.Create(ctx, nw); err != nil {
		t.Fatal(err)
	}
	ready(t, c, nw, func() []metav1.Condition { return nw.Status.Conditions }, "True/RowsWritten")
	sw := ns.Name + "/net"
	if got := nbctl("--bare", "--columns=other_config", "find", "Logical_Switch", "name="+sw); got != "requested-tnl-key="+nw.Spec.ID {
		t.Errorf("switch other_config = %q, want requested-tnl-key=%s", got, nw.Spec.ID)
	}
	transit, transit6 := nw.Annotations[apinetv1alpha1.AnnotationTransitIP], nw.Annotations[apinetv1alpha1.AnnotationTransitIP6]
	if got := nbctl("--bare", "--columns=networks", "find", "Logical_Router_Port", "name="+sw+"/lr-gw"); got != transit+"/16 "+transit6+"/64" {
		t.Errorf("gateway port networks = %q, want %s/16 %s/64", got, transit, transit6)
	}
	if _, err := netip.ParseAddr(transit); err != nil || transit == "100.64.0.1" {
		t.Errorf("transit address %q", transit)
	}
	if a, err := netip.ParseAddr(transit6); err != nil || !netip.MustParsePrefix("fd00:64::/64").Contains(a) || transit6 == "fd00:64::1" {
		t.Errorf("IPv6 transit address %q", transit6)
	}
	if got := nbctl("--bare", "--columns=name", "find", "Logical_Router", "external_ids:apinet.ironcore.dev/owner-name=net"); got != sw {
		t.Errorf("router found by owner = %q", got)
	}

	// A NIC on a Node that does not exist yet waits, and says why.
	nic := &apinetv1alpha1.NetworkInterface{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "nic-a"},
		Spec: apinetv1alpha1.NetworkInterfaceSpec{NodeRef: corev1.LocalObjectReference{Name: "node1"}, NetworkRef: corev1.LocalObjectReference{Name: "net"},
			IPs: []apinetv1alpha1.IPAddr{"192.168.178.1"}, Prefixes: []apinetv1alpha1.IPPrefix{"10.50.0.0/24"}},
	}
	if err := c.Create(ctx, nic); err != nil {
		t.Fatal(err)
	}
	ready(t, c, nic, func() []metav1.Condition { return nic.Status.Conditions }, `False/Pending: node "node1" does not exist`)
	node := &apinetv1alpha1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node1", Labels: map[string]string{apinetv1alpha1.LabelGateway: "true"},
		Annotations: map[string]string{apinetv1alpha1.AnnotationChassis: "chassis-1"}}}
	if err := c.Create(ctx, node); err != nil {
		t.Fatal(err)
	}
	ready(t, c, nic, func() []metav1.Condition { return nic.Status.Conditions }, "True/RowsWritten")
	port := ns.Name + "/nic-a"
	if got := nbctl("--bare", "--columns=options", "find", "Logical_Switch_Port", "name="+port); got != "requested-chassis=chassis-1" {
		t.Errorf("port options = %q", got)
	}
	routes := nbctl("lr-route-list", sw)
	for _, want := range []string{"192.168.178.1             192.168.178.1 dst-ip " + sw + "/lr-ls", "10.50.0.0/24             192.168.178.1 dst-ip " + sw + "/lr-ls", "0.0.0.0/0                100.64.0.1 dst-ip"} {
		if !strings.Contains(routes, want) {
			t.Errorf("routes lack %q:\n%s", want, routes)
		}
	}
	eventually(t, "gateway chassis follows the gateway Node", func() error {
		if got := nbctl("--bare", "--columns=chassis_name", "find", "Gateway_Chassis", "external_ids:apinet.ironcore.dev/owner-name=net"); got != "chassis-1" {
			return fmt.Errorf("gateway chassis %q", got)
		}
		return nil
	})
	if len(nic.Status.Prefixes) != 1 || nic.Status.Prefixes[0] != "10.50.0.0/24" {
		t.Errorf("status.prefixes = %v", nic.Status.Prefixes)
	}

	// A public IP becomes a dnat_and_snat row and shows in status.
	nicB := &apinetv1alpha1.NetworkInterface{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "nic-b"},
		Spec: apinetv1alpha1.NetworkInterfaceSpec{NodeRef: corev1.LocalObjectReference{Name: "node1"}, NetworkRef: corev1.LocalObjectReference{Name: "net"},
			IPs: []apinetv1alpha1.IPAddr{"10.0.0.7"}, PublicIPs: []apinetv1alpha1.PublicIPRequest{{Name: "pub", IPFamily: apinetv1alpha1.IPv4}}},
	}
	if err := c.Create(ctx, nicB); err != nil {
		t.Fatal(err)
	}
	eventually(t, "public IP realized", func() error {
		if err := c.Get(ctx, client.ObjectKeyFromObject(nicB), nicB); err != nil {
			return err
		}
		if len(nicB.Status.PublicIPs) != 1 {
			return fmt.Errorf("status.publicIPs = %v", nicB.Status.PublicIPs)
		}
		return nil
	})
	pub := string(nicB.Status.PublicIPs[0])
	if got := nbctl("--bare", "--columns=external_ip,logical_ip", "find", "NAT", "type=dnat_and_snat"); got != pub+"\n10.0.0.7" {
		t.Errorf("NAT = %q, want %s -> 10.0.0.7", got, pub)
	}

	// A restarted controller finds everything in place and writes nothing.
	stop()
	nb2, _ := start(t, env, central)
	time.Sleep(5 * time.Second)
	ready(t, c, nicB, func() []metav1.Condition { return nicB.Status.Conditions }, "True/RowsWritten")
	if n := nb2.Transactions(); n != 0 {
		t.Errorf("restarted controller issued %d NB transactions, want 0", n)
	}

	// Deleting a NIC removes exactly its rows.
	if err := c.Delete(ctx, nicB); err != nil {
		t.Fatal(err)
	}
	eventually(t, "NIC rows removed", func() error {
		if got := nbctl("--bare", "--columns=_uuid", "find", "NAT", "type=dnat_and_snat"); got != "" {
			return fmt.Errorf("NAT left: %s", got)
		}
		if got := nbctl("--bare", "--columns=name", "find", "Logical_Switch_Port", "name="+ns.Name+"/nic-b"); got != "" {
			return fmt.Errorf("port left")
		}
		return nil
	})
	if got := nbctl("--bare", "--columns=name", "find", "Logical_Switch_Port", "name="+port); got != port {
		t.Errorf("the other NIC's port went too: %q", got)
	}

	// A NIC made again at once under the same name, with another address:
	// only its rows exist (translated objects have no finalizer; the
	// earlier one's rows go by name).
	again := &apinetv1alpha1.NetworkInterface{ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "nic-b"},
		Spec: apinetv1alpha1.NetworkInterfaceSpec{NodeRef: corev1.LocalObjectReference{Name: "node1"}, NetworkRef: corev1.LocalObjectReference{Name: "net"},
			IPs: []apinetv1alpha1.IPAddr{"10.0.0.9"}}}
	if err := c.Create(ctx, again); err != nil {
		t.Fatal(err)
	}
	ready(t, c, again, func() []metav1.Condition { return again.Status.Conditions }, "True/RowsWritten")
	if len(again.Finalizers) != 0 {
		t.Errorf("finalizers %v on a translated NIC, want none", again.Finalizers)
	}
	eventually(t, "only the new nic-b's rows", func() error {
		if got := nbctl("--bare", "--columns=addresses", "find", "Logical_Switch_Port", "name="+ns.Name+"/nic-b"); !strings.HasSuffix(got, " 10.0.0.9") {
			return fmt.Errorf("ports named nic-b: %q", got)
		}
		if got := nbctl("--bare", "--columns=ip_prefix", "find", "Logical_Router_Static_Route", `ip_prefix="10.0.0.7/32"`); got != "" {
			return fmt.Errorf("the earlier nic-b's route is left")
		}
		return nil
	})
	if err := c.Delete(ctx, again); err != nil {
		t.Fatal(err)
	}
	eventually(t, "nic-b rows removed", func() error {
		if got := nbctl("--bare", "--columns=name", "find", "Logical_Switch_Port", "name="+ns.Name+"/nic-b"); got != "" {
			return fmt.Errorf("port left")
		}
		return nil
	})

	// Deleting the Network removes its rows and releases its transit address.
	if err := c.Delete(ctx, nw); err != nil {
		t.Fatal(err)
	}
	eventually(t, "network rows removed", func() error {
		if got := nbctl("--bare", "--columns=name", "list", "Logical_Router"); got != "" {
			return fmt.Errorf("routers left: %q", got)
		}
		if got := nbctl("--bare", "--columns=name", "list", "Logical_Switch"); got != "provider/physnet1" {
			return fmt.Errorf("switches left: %q", got)
		}
		if err := c.Get(ctx, client.ObjectKey{Name: transit}, &apinetv1alpha1.IPAddress{}); !apierrors.IsNotFound(err) {
			return fmt.Errorf("transit lock %s still there: %v", transit, err)
		}
		return nil
	})
	ready(t, c, nic, func() []metav1.Condition { return nic.Status.Conditions }, `False/Pending: network "net" does not exist`)
}
