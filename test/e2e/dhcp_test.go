package e2e

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	apinetv1alpha1 "github.com/ovnet-dev/ovnet/apis/core/v1alpha1"
	"github.com/ovnet-dev/ovnet/devstack"
	"github.com/ovnet-dev/ovnet/test/testenv"
)

// TestGuestDHCP: a dual-stack guest that runs only DHCP clients gets, from
// OVN, its IPv4 address as a /32, the router 169.254.0.1 with the routes
// ironcore guests expect (169.254.0.0/16 on-link, default via the router),
// the MTU, its spec.hostname and the DNS server; by DHCPv6 its IPv6 address
// as a /128, and from the router's advertisements its IPv6 default route
// via fe80::1; with that alone it is online in both families: it reaches
// another NIC of its Network.
func TestGuestDHCP(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	e.network("net1")
	_, vmS := e.nic("s", "net1", "node-1", "10.0.0.1", func(n *apinetv1alpha1.NetworkInterface) { n.Spec.IPs = append(n.Spec.IPs, "fd00::1") })
	serveName(t, vmS.NetNS, "80", "S")

	g := &apinetv1alpha1.NetworkInterface{ObjectMeta: metav1.ObjectMeta{Namespace: e.ns, Name: "g"},
		Spec: apinetv1alpha1.NetworkInterfaceSpec{NodeRef: corev1.LocalObjectReference{Name: "node-2"}, Hostname: "guest-1",
			NetworkRef: corev1.LocalObjectReference{Name: "net1"}, IPs: []apinetv1alpha1.IPAddr{"10.0.0.2", "fd00::2"}}}
	if err := e.c.Create(ctx, g); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, time.Minute, "g Ready with a tap device", func() error {
		if err := e.c.Get(ctx, client.ObjectKeyFromObject(g), g); err != nil {
			return err
		}
		if g.Status.State != apinetv1alpha1.NetworkInterfaceStateReady || g.Status.TapDevice == nil {
			return fmt.Errorf("state %q", g.Status.State)
		}
		return conditionTrue(g.Status.Conditions, apinetv1alpha1.ConditionReady)
	})
	vm, err := e.s.Layout.AttachDHCPVM(g)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(vm.Remove)
	t.Cleanup(func() { _ = os.Remove(devstack.LeaseFile(vm.NetNS)); _ = os.Remove(devstack.LeaseFile6(vm.NetNS)) })

	lease, err := os.ReadFile(devstack.LeaseFile(vm.NetNS))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(lease)), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			got[k] = v
		}
	}
	want := map[string]string{
		"ip": "10.0.0.2", "mask": "32", "router": "169.254.0.1", "serverid": "169.254.0.1",
		"staticroutes": "169.254.0.0/16 0.0.0.0 0.0.0.0/0 169.254.0.1",
		"mtu":          "1400", "hostname": "guest-1", "dns": "192.0.2.53",
	}
	for k, v := range want {
		if strings.TrimSpace(got[k]) != v {
			t.Errorf("lease %s = %q, want %q", k, got[k], v)
		}
	}
	// What the guest configured from it alone.
	if out, _ := vm.Exec("ip", "-o", "addr", "show", "dev", "eth0"); !strings.Contains(out, "inet 10.0.0.2/32") {
		t.Errorf("eth0 addresses: %s", out)
	}
	if out, _ := vm.Exec("ip", "link", "show", "dev", "eth0"); !strings.Contains(out, "mtu 1400") {
		t.Errorf("eth0: %s", out)
	}
	routes, _ := vm.Exec("ip", "route")
	for _, r := range []string{"default via 169.254.0.1 dev eth0", "169.254.0.0/16 dev eth0"} {
		if !strings.Contains(routes, r) {
			t.Errorf("routes lack %q:\n%s", r, routes)
		}
	}
	testenv.Eventually(t, 30*time.Second, "the DHCP guest reaches S", func() error {
		if got := ask(vm, "tcp", "10.0.0.1", "80"); got != "S" {
			return fmt.Errorf("answered %q", got)
		}
		return nil
	})

	// IPv6: the DHCPv6 reply, and what the guest made of it and of the
	// router's advertisements.
	lease6, err := os.ReadFile(devstack.LeaseFile6(vm.NetNS))
	if err != nil {
		t.Fatal(err)
	}
	if s := string(lease6); !strings.Contains(s, "new_ip6_address=fd00::2\n") || !strings.Contains(s, "new_ip6_prefixlen=128\n") {
		t.Errorf("DHCPv6 lease:\n%s", s)
	}
	if out, _ := vm.Exec("ip", "-o", "-6", "addr", "show", "dev", "eth0"); !strings.Contains(out, "inet6 fd00::2/128") {
		t.Errorf("eth0 IPv6 addresses: %s", out)
	}
	testenv.Eventually(t, 30*time.Second, "the DHCP guest's IPv6 default route from router advertisements", func() error {
		if out, _ := vm.Exec("ip", "-6", "route", "show", "default"); !strings.Contains(out, "via fe80::1 dev eth0 proto ra") {
			return fmt.Errorf("IPv6 default routes: %q", out)
		}
		return nil
	})
	testenv.Eventually(t, 30*time.Second, "the DHCP guest reaches S over IPv6", func() error {
		if got := ask(vm, "tcp", "fd00::1", "80"); got != "S" {
			return fmt.Errorf("answered %q", got)
		}
		return nil
	})
}
