package ipam_test

import (
	"context"
	"fmt"
	"slices"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	apinetv1alpha1 "github.com/ovnet-dev/ovnet/apis/core/v1alpha1"
	"github.com/ovnet-dev/ovnet/test/testenv"
)

func nic(ns, name string, public ...apinetv1alpha1.PublicIPRequest) *apinetv1alpha1.NetworkInterface {
	return &apinetv1alpha1.NetworkInterface{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: apinetv1alpha1.NetworkInterfaceSpec{
			NodeRef: corev1LocalRef("node1"), NetworkRef: corev1LocalRef("net"),
			IPs: []apinetv1alpha1.IPAddr{"192.168.0.1"}, PublicIPs: public,
		},
	}
}

func claimedBy(t *testing.T, c client.Client, ip *apinetv1alpha1.IP) string {
	t.Helper()
	get(t, c, ip)
	if ip.Spec.ClaimRef == nil {
		return ""
	}
	return ip.Spec.ClaimRef.Resource + "/" + ip.Spec.ClaimRef.Name
}

// TestPublicIPClaims covers public-IP claims (docs/ipam.md) of
// NetworkInterfaces, LoadBalancers and NATGateways, and docs/design.md
// item 14.
func TestPublicIPClaims(t *testing.T) {
	env := testenv.Start(t)
	startManager(t, env, []string{"10.0.0.0/24", "fd00::/120"}, 200, 8388607)
	c, ctx := env.Client, context.Background()
	ns := namespace(t, c)

	// A dynamic entry gets an IP of its own, owned by the NIC, and its
	// address is written back into the entry.
	a := nic(ns, "nic-a", apinetv1alpha1.PublicIPRequest{Name: "pub", IPFamily: apinetv1alpha1.IPv4})
	if err := c.Create(ctx, a); err != nil {
		t.Fatal(err)
	}
	own := &apinetv1alpha1.IP{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "nic-a-pub"}}
	eventually(t, "dynamic public IP written back", func() error {
		get(t, c, a)
		if a.Spec.PublicIPs[0].IP == "" {
			return fmt.Errorf("entry has no ip; %s", condition(a.Status.Conditions, "PublicIPsClaimed"))
		}
		if got := get(t, c, own).Spec.IP; got != a.Spec.PublicIPs[0].IP {
			return fmt.Errorf("entry ip %s, IP object %s", a.Spec.PublicIPs[0].IP, got)
		}
		return nil
	})
	if !metav1.IsControlledBy(own, a) || claimedBy(t, c, own) != "networkinterfaces/nic-a" {
		t.Errorf("dynamic IP owner %v claim %s", own.OwnerReferences, claimedBy(t, c, own))
	}
	// Claimed at once: no condition (and no status write) for it.
	if got := condition(get(t, c, a).Status.Conditions, "PublicIPsClaimed"); got != "<none>" {
		t.Errorf("PublicIPsClaimed = %s, want none: the claim never waited visibly", got)
	}

	// An explicit entry whose IP object does not exist yet: a condition and
	// an event (docs/design.md item 14); the claim completes once the IP appears.
	b := nic(ns, "nic-b", apinetv1alpha1.PublicIPRequest{Name: "ext", IP: "10.0.0.77"})
	if err := c.Create(ctx, b); err != nil {
		t.Fatal(err)
	}
	eventually(t, "IPNotFound reported", func() error {
		want := fmt.Sprintf(`False/IPNotFound: public IP "ext": no IP object with address 10.0.0.77 in namespace %s`, ns)
		if got := condition(get(t, c, b).Status.Conditions, "PublicIPsClaimed"); got != want {
			return fmt.Errorf("PublicIPsClaimed = %s", got)
		}
		if !slices.Contains(events(c, b), "IPNotFound") {
			return fmt.Errorf("events %v", events(c, b))
		}
		return nil
	})
	mine := newIP(ns, "my-ip", "", "10.0.0.77")
	if err := c.Create(ctx, mine); err != nil {
		t.Fatal(err)
	}
	eventually(t, "explicit IP claimed once it exists", func() error {
		if got := claimedBy(t, c, mine); got != "networkinterfaces/nic-b" {
			return fmt.Errorf("claimed by %q", got)
		}
		if got := condition(get(t, c, b).Status.Conditions, "PublicIPsClaimed"); got != "True/Claimed: all public IPs claimed" {
			return fmt.Errorf("PublicIPsClaimed = %s", got)
		}
		return nil
	})
	if b.Spec.PublicIPs[0].IPFamily != apinetv1alpha1.IPv4 {
		t.Errorf("ipFamily not defaulted from ip: %q", b.Spec.PublicIPs[0].IPFamily)
	}

	// Someone else's IP is not taken over.
	d := nic(ns, "nic-d", apinetv1alpha1.PublicIPRequest{Name: "ext", IP: "10.0.0.77"})
	if err := c.Create(ctx, d); err != nil {
		t.Fatal(err)
	}
	eventually(t, "conflict reported", func() error {
		want := `False/IPAlreadyClaimed: public IP "ext": IP my-ip (10.0.0.77) is already claimed by networkinterfaces nic-b`
		if got := condition(get(t, c, d).Status.Conditions, "PublicIPsClaimed"); got != want {
			return fmt.Errorf("PublicIPsClaimed = %s", got)
		}
		return nil
	})

	// Removing the entry releases a claimed IP (it survives) and it moves
	// to the NIC that waits for it.
	patch := client.MergeFrom(get(t, c, b).DeepCopy())
	b.Spec.PublicIPs = nil
	if err := c.Patch(ctx, b, patch); err != nil {
		t.Fatal(err)
	}
	eventually(t, "released IP claimed by the waiting NIC", func() error {
		if got := claimedBy(t, c, mine); got != "networkinterfaces/nic-d" {
			return fmt.Errorf("claimed by %q", got)
		}
		return nil
	})

	// Removing a dynamic entry deletes the IP the NIC owned.
	patch = client.MergeFrom(get(t, c, a).DeepCopy())
	freed := a.Spec.PublicIPs[0].IP
	a.Spec.PublicIPs = nil
	if err := c.Patch(ctx, a, patch); err != nil {
		t.Fatal(err)
	}
	eventually(t, "owned IP deleted and its address released", func() error {
		if err := c.Get(ctx, client.ObjectKeyFromObject(own), &apinetv1alpha1.IP{}); !apierrors.IsNotFound(err) {
			return fmt.Errorf("IP nic-a-pub still there: %v", err)
		}
		if err := c.Get(ctx, client.ObjectKey{Name: string(freed)}, &apinetv1alpha1.IPAddress{}); !apierrors.IsNotFound(err) {
			return fmt.Errorf("IPAddress %s still there: %v", freed, err)
		}
		return nil
	})

	// Deleting a claimer releases its claims: the user's IP survives unclaimed.
	if err := c.Delete(ctx, d); err != nil {
		t.Fatal(err)
	}
	eventually(t, "deleted NIC's claim released", func() error {
		if got := claimedBy(t, c, mine); got != "" {
			return fmt.Errorf("still claimed by %q", got)
		}
		return nil
	})

	// LoadBalancers: Public entries are allocated, Internal ones never.
	pub := &apinetv1alpha1.LoadBalancer{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "lb-pub"},
		Spec: apinetv1alpha1.LoadBalancerSpec{Type: apinetv1alpha1.LoadBalancerTypePublic, NetworkRef: corev1LocalRef("net"),
			IPs:      []apinetv1alpha1.PublicIPRequest{{Name: "v4", IPFamily: apinetv1alpha1.IPv4}, {Name: "v6", IPFamily: apinetv1alpha1.IPv6}},
			Template: lbTemplate(apinetv1alpha1.LoadBalancerTypePublic)},
	}
	internal := &apinetv1alpha1.LoadBalancer{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "lb-int"},
		Spec: apinetv1alpha1.LoadBalancerSpec{Type: apinetv1alpha1.LoadBalancerTypeInternal, NetworkRef: corev1LocalRef("net"),
			IPs:      []apinetv1alpha1.PublicIPRequest{{Name: "vip", IP: "10.0.0.100"}},
			Template: lbTemplate(apinetv1alpha1.LoadBalancerTypeInternal)},
	}
	for _, lb := range []*apinetv1alpha1.LoadBalancer{pub, internal} {
		if err := c.Create(ctx, lb); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "public LB IPs allocated", func() error {
		get(t, c, pub)
		for _, e := range pub.Spec.IPs {
			if apinetv1alpha1.FamilyOf(e.IP) != e.IPFamily {
				return fmt.Errorf("entry %s = %q", e.Name, e.IP)
			}
		}
		return nil
	})
	var all apinetv1alpha1.IPList
	if err := c.List(ctx, &all, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	for _, ip := range all.Items {
		if ip.Spec.ClaimRef != nil && ip.Spec.ClaimRef.Name == "lb-int" {
			t.Errorf("internal LB claimed IP %s", ip.Name)
		}
	}
	if got := condition(get(t, c, internal).Status.Conditions, "PublicIPsClaimed"); got != "<none>" {
		t.Errorf("internal LB has claim condition %s", got)
	}

	// NATGateways: entries without ip get IPs; deleting the gateway deletes them.
	gw := &apinetv1alpha1.NATGateway{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "gw"},
		Spec: apinetv1alpha1.NATGatewaySpec{IPFamily: apinetv1alpha1.IPv4, NetworkRef: corev1LocalRef("net"),
			IPs: []apinetv1alpha1.NATGatewayIP{{Name: "a"}, {Name: "b"}}, PortsPerNetworkInterface: 1024},
	}
	if err := c.Create(ctx, gw); err != nil {
		t.Fatal(err)
	}
	eventually(t, "gateway IPs allocated", func() error {
		get(t, c, gw)
		if gw.Spec.IPs[0].IP == "" || gw.Spec.IPs[1].IP == "" || gw.Spec.IPs[0].IP == gw.Spec.IPs[1].IP {
			return fmt.Errorf("ips %+v", gw.Spec.IPs)
		}
		return nil
	})
	if err := c.Delete(ctx, gw); err != nil {
		t.Fatal(err)
	}
	eventually(t, "gateway's IPs deleted with it", func() error {
		for _, n := range []string{"gw-a", "gw-b"} {
			if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: n}, &apinetv1alpha1.IP{}); !apierrors.IsNotFound(err) {
				return fmt.Errorf("IP %s: %v", n, err)
			}
		}
		return nil
	})
}

func lbTemplate(typ apinetv1alpha1.LoadBalancerType) apinetv1alpha1.InstanceTemplate {
	return apinetv1alpha1.InstanceTemplate{Spec: apinetv1alpha1.InstanceSpec{Type: apinetv1alpha1.InstanceTypeLoadBalancer, LoadBalancerType: typ}}
}
