package ipam_test

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	apinetv1alpha1 "github.com/ovnet-dev/ovnet/apis/core/v1alpha1"
	"github.com/ovnet-dev/ovnet/test/testenv"
)

func newIP(ns, name string, family apinetv1alpha1.IPFamily, ip string) *apinetv1alpha1.IP {
	return &apinetv1alpha1.IP{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       apinetv1alpha1.IPSpec{Type: apinetv1alpha1.IPTypePublic, IPFamily: family, IP: apinetv1alpha1.IPAddr(ip)},
	}
}

func get[T client.Object](t *testing.T, c client.Client, obj T) T {
	t.Helper()
	if err := c.Get(context.Background(), client.ObjectKeyFromObject(obj), obj); err != nil {
		t.Fatal(err)
	}
	return obj
}

// TestIPAllocation: a /29 hands out its 8 addresses exactly once, the 9th IP
// waits with PoolExhausted and gets the address a deleted IP releases;
// explicit addresses are checked in range and free.
func TestIPAllocation(t *testing.T) {
	env := testenv.Start(t)
	startManager(t, env, []string{"10.0.0.0/29", "fd00::/120"}, 200, 203)
	c, ctx := env.Client, context.Background()
	ns := namespace(t, c)

	ips := make([]*apinetv1alpha1.IP, 8)
	for i := range ips {
		ips[i] = newIP(ns, fmt.Sprintf("ip-%d", i), apinetv1alpha1.IPv4, "")
		if err := c.Create(ctx, ips[i]); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[string]bool{}
	for _, ip := range ips {
		eventually(t, "IP "+ip.Name+" allocated", func() error {
			get(t, c, ip)
			if ip.Spec.IP == "" {
				return fmt.Errorf("no address yet; Ready %s", condition(ip.Status.Conditions, "Ready"))
			}
			return nil
		})
		addr := netip.MustParseAddr(string(ip.Spec.IP))
		if !netip.MustParsePrefix("10.0.0.0/29").Contains(addr) || seen[addr.String()] {
			t.Fatalf("%s got %s: outside the pool or handed out twice", ip.Name, addr)
		}
		seen[addr.String()] = true
		if ip.Labels[apinetv1alpha1.LabelIPFamily] != "IPv4" || ip.Labels[apinetv1alpha1.LabelIP] != addr.String() {
			t.Errorf("%s labels = %v", ip.Name, ip.Labels)
		}
		if got := condition(ip.Status.Conditions, "Ready"); got != "True/Allocated: allocated "+addr.String() {
			t.Errorf("%s Ready = %s", ip.Name, got)
		}
		lock := get(t, c, &apinetv1alpha1.IPAddress{ObjectMeta: metav1.ObjectMeta{Name: addr.String()}})
		if lock.Spec.ClaimRef.UID != ip.UID || lock.Spec.ClaimRef.Resource != "ips" || lock.Spec.ClaimRef.Namespace != ns || lock.Spec.ClaimRef.Name != ip.Name {
			t.Errorf("IPAddress %s claimRef = %+v", lock.Name, lock.Spec.ClaimRef)
		}
		if len(lock.Finalizers) != 1 || lock.Finalizers[0] != apinetv1alpha1.IPAddressProtectionFinalizer {
			t.Errorf("IPAddress %s finalizers = %v", lock.Name, lock.Finalizers)
		}
	}

	// An allocated IP is left alone: nothing rewrites it (a condition
	// carrying the generation of an object without status subresource
	// once made every write call for the next).
	settled := get(t, c, ips[0]).ResourceVersion
	time.Sleep(2 * time.Second)
	if rv := get(t, c, ips[0]).ResourceVersion; rv != settled {
		t.Errorf("allocated IP %s is still being rewritten (resourceVersion %s -> %s, generation %d)", ips[0].Name, settled, rv, ips[0].Generation)
	}

	ninth := newIP(ns, "ip-8", apinetv1alpha1.IPv4, "")
	if err := c.Create(ctx, ninth); err != nil {
		t.Fatal(err)
	}
	eventually(t, "9th IP reports PoolExhausted", func() error {
		get(t, c, ninth)
		if got := condition(ninth.Status.Conditions, "Ready"); got != "False/PoolExhausted: all IPv4 public IP addresses are allocated" {
			return fmt.Errorf("Ready = %s", got)
		}
		return nil
	})
	eventually(t, "PoolExhausted event", func() error {
		for _, r := range events(c, ninth) {
			if r == "PoolExhausted" {
				return nil
			}
		}
		return fmt.Errorf("events %v", events(c, ninth))
	})

	freed := string(get(t, c, ips[3]).Spec.IP)
	if err := c.Delete(ctx, ips[3]); err != nil {
		t.Fatal(err)
	}
	eventually(t, "deleted IP's address released", func() error {
		err := c.Get(ctx, client.ObjectKey{Name: freed}, &apinetv1alpha1.IPAddress{})
		if apierrors.IsNotFound(err) || (err == nil && string(get(t, c, ninth).Spec.IP) == freed) {
			return nil
		}
		return fmt.Errorf("IPAddress %s still held (err %v)", freed, err)
	})
	eventually(t, "waiting IP takes the freed address", func() error {
		if got := string(get(t, c, ninth).Spec.IP); got != freed {
			return fmt.Errorf("spec.ip = %q, want %s", got, freed)
		}
		return nil
	})

	// Explicit addresses.
	v6 := newIP(ns, "v6", apinetv1alpha1.IPv6, "fd00::1")
	out := newIP(ns, "out", "", "192.0.2.1")
	if err := c.Create(ctx, v6); err != nil {
		t.Fatal(err)
	}
	if err := c.Create(ctx, out); err != nil {
		t.Fatal(err)
	}
	eventually(t, "explicit IPv6 taken", func() error {
		get(t, c, v6)
		if condition(v6.Status.Conditions, "Ready") != "True/Allocated: allocated fd00::1" {
			return fmt.Errorf("Ready = %s", condition(v6.Status.Conditions, "Ready"))
		}
		return c.Get(ctx, client.ObjectKey{Name: "fd00-0-0-0-0-0-0-1"}, &apinetv1alpha1.IPAddress{})
	})
	// The first address of the pool, whose text ends in "::", is lockable too.
	first := newIP(ns, "first", apinetv1alpha1.IPv6, "fd00::")
	if err := c.Create(ctx, first); err != nil {
		t.Fatal(err)
	}
	eventually(t, "explicit fd00:: taken", func() error {
		get(t, c, first)
		if got := condition(first.Status.Conditions, "Ready"); got != "True/Allocated: allocated fd00::" {
			return fmt.Errorf("Ready = %s", got)
		}
		return c.Get(ctx, client.ObjectKey{Name: "fd00-0-0-0-0-0-0-0"}, &apinetv1alpha1.IPAddress{})
	})
	eventually(t, "out-of-range IP reported", func() error {
		get(t, c, out)
		if got := condition(out.Status.Conditions, "Ready"); got != "False/OutOfRange: the provided IP 192.0.2.1 is not in range of any public prefix" {
			return fmt.Errorf("Ready = %s", got)
		}
		if out.Spec.IPFamily != "" {
			return fmt.Errorf("family recorded for an unallocated IP")
		}
		return nil
	})
	if err := c.Get(ctx, client.ObjectKey{Name: "192.0.2.1"}, &apinetv1alpha1.IPAddress{}); !apierrors.IsNotFound(err) {
		t.Errorf("out-of-range address was locked: %v", err)
	}

	ns2 := namespace(t, c)
	dup := newIP(ns2, "dup", "", "fd00::1")
	if err := c.Create(ctx, dup); err != nil {
		t.Fatal(err)
	}
	eventually(t, "taken explicit address reported", func() error {
		get(t, c, dup)
		want := fmt.Sprintf("False/IPAlreadyAllocated: the provided IP fd00::1 is already allocated (to %s/v6)", ns)
		if got := condition(dup.Status.Conditions, "Ready"); got != want {
			return fmt.Errorf("Ready = %s", got)
		}
		return nil
	})
	if err := c.Delete(ctx, v6); err != nil {
		t.Fatal(err)
	}
	eventually(t, "address moves to the waiting IP once released", func() error {
		get(t, c, dup)
		if condition(dup.Status.Conditions, "Ready") != "True/Allocated: allocated fd00::1" {
			return fmt.Errorf("Ready = %s", condition(dup.Status.Conditions, "Ready"))
		}
		lock := get(t, c, &apinetv1alpha1.IPAddress{ObjectMeta: metav1.ObjectMeta{Name: "fd00-0-0-0-0-0-0-1"}})
		if lock.Spec.ClaimRef.UID != dup.UID {
			return fmt.Errorf("lock claimed by %s", lock.Spec.ClaimRef.UID)
		}
		return nil
	})
}

// TestNetworkIDs: VNIs from [200, 203], explicit ones checked, released on delete.
func TestNetworkIDs(t *testing.T) {
	env := testenv.Start(t)
	startManager(t, env, []string{"10.0.0.0/29"}, 200, 203)
	c, ctx := env.Client, context.Background()
	ns := namespace(t, c)
	nw := func(name, id string) *apinetv1alpha1.Network {
		return &apinetv1alpha1.Network{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: apinetv1alpha1.NetworkSpec{ID: id}}
	}
	ready := func(n *apinetv1alpha1.Network, want string) {
		t.Helper()
		eventually(t, n.Name+" condition", func() error {
			if got := condition(get(t, c, n).Status.Conditions, "IDAllocated"); got != want {
				return fmt.Errorf("Ready = %s", got)
			}
			return nil
		})
	}
	explicit := nw("explicit", "201")
	outOfRange := nw("far", "5000")
	for _, n := range []*apinetv1alpha1.Network{explicit, outOfRange} {
		if err := c.Create(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	ready(outOfRange, "False/OutOfRange: the provided ID 5000 is not in range [200, 203]")
	eventually(t, "explicit ID locked", func() error {
		return c.Get(ctx, client.ObjectKey{Name: "201"}, &apinetv1alpha1.NetworkID{})
	})
	// Allocated at once: spec.id and the lock say so, no condition (and no
	// status write) does.
	if got := condition(get(t, c, explicit).Status.Conditions, "IDAllocated"); got != "<none>" {
		t.Errorf("IDAllocated of a network that got its ID at once = %s, want none", got)
	}
	if err := c.Get(ctx, client.ObjectKey{Name: "5000"}, &apinetv1alpha1.NetworkID{}); !apierrors.IsNotFound(err) {
		t.Errorf("out-of-range ID was locked: %v", err)
	}
	lock := get(t, c, &apinetv1alpha1.NetworkID{ObjectMeta: metav1.ObjectMeta{Name: "201"}})
	if lock.Spec.ClaimRef != (apinetv1alpha1.ClaimRef{Group: "core.apinet.ironcore.dev", Resource: "networks", Namespace: ns, Name: "explicit", UID: explicit.UID}) {
		t.Errorf("NetworkID claimRef = %+v", lock.Spec.ClaimRef)
	}

	ids := map[string]bool{"201": true}
	var dynamic []*apinetv1alpha1.Network
	for i := range 3 {
		n := nw(fmt.Sprintf("dyn-%d", i), "")
		if err := c.Create(ctx, n); err != nil {
			t.Fatal(err)
		}
		dynamic = append(dynamic, n)
	}
	for _, n := range dynamic {
		eventually(t, n.Name+" gets an ID", func() error {
			if get(t, c, n).Spec.ID == "" {
				return fmt.Errorf("no id; %s", condition(n.Status.Conditions, "Ready"))
			}
			return nil
		})
		if ids[n.Spec.ID] {
			t.Fatalf("ID %s handed out twice", n.Spec.ID)
		}
		ids[n.Spec.ID] = true
	}
	if len(ids) != 4 || !ids["200"] || !ids["202"] || !ids["203"] {
		t.Fatalf("IDs = %v, want 200..203", ids)
	}
	waiting := nw("waiting", "")
	if err := c.Create(ctx, waiting); err != nil {
		t.Fatal(err)
	}
	ready(waiting, "False/PoolExhausted: all network IDs in [200, 203] are allocated")
	taken := nw("taken", "201")
	if err := c.Create(ctx, taken); err != nil {
		t.Fatal(err)
	}
	ready(taken, fmt.Sprintf("False/IDAlreadyAllocated: the provided ID 201 is already allocated (to %s/explicit)", ns))

	freed := get(t, c, dynamic[1]).Spec.ID
	if err := c.Delete(ctx, dynamic[1]); err != nil {
		t.Fatal(err)
	}
	eventually(t, "waiting network takes the freed ID", func() error {
		if got := get(t, c, waiting).Spec.ID; got != freed {
			return fmt.Errorf("spec.id = %q, want %s", got, freed)
		}
		return nil
	})
	if err := c.Delete(ctx, explicit); err != nil {
		t.Fatal(err)
	}
	ready(taken, "True/Allocated: network ID 201")
}

// TestForeignLocksKept: an IPAddress claimed by a kind ovnet does not manage
// is never released by ovnet, and its address is not handed out.
func TestForeignLocksKept(t *testing.T) {
	env := testenv.Start(t)
	startManager(t, env, []string{"10.9.0.0/30"}, 200, 203)
	c, ctx := env.Client, context.Background()
	ns := namespace(t, c)
	foreign := []string{"10.9.0.0", "10.9.0.1", "10.9.0.2"}
	for _, a := range foreign {
		if err := c.Create(ctx, &apinetv1alpha1.IPAddress{
			ObjectMeta: metav1.ObjectMeta{Name: a},
			Spec:       apinetv1alpha1.IPAddressSpec{IP: apinetv1alpha1.IPAddr(a), ClaimRef: apinetv1alpha1.ClaimRef{Group: "other.example", Resource: "vips", Name: "x"}},
		}); err != nil {
			t.Fatal(err)
		}
	}
	ip := newIP(ns, "ip", apinetv1alpha1.IPv4, "")
	if err := c.Create(ctx, ip); err != nil {
		t.Fatal(err)
	}
	eventually(t, "IP gets the one free address", func() error {
		if got := get(t, c, ip).Spec.IP; got != "10.9.0.3" {
			return fmt.Errorf("spec.ip = %q", got)
		}
		return nil
	})
	for _, a := range foreign {
		if err := c.Get(ctx, client.ObjectKey{Name: a}, &apinetv1alpha1.IPAddress{}); err != nil {
			t.Errorf("foreign lock %s: %v", a, err)
		}
	}
}
