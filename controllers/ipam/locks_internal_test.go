package ipam

import (
	"context"
	"net/netip"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	apinetv1alpha1 "github.com/ovnet-dev/ovnet/apis/core/v1alpha1"
)

// TestTakeBeforeTheCacheHasTheLock: a claimer
// reconciled again before its new lock reached the cache (here: a cache
// that never shows it) gets the address it took, not a second one.
func TestTakeBeforeTheCacheHasTheLock(t *testing.T) {
	ctx := context.Background()
	// The claimer's locks are listed from the cache; this one lags forever.
	a, server := addressesBehindCache(t, []string{"100.64.9.0/24"}, func(context.Context, client.Client, client.ObjectList) error {
		return nil
	})
	claim := apinetv1alpha1.ClaimRef{Group: claimRefGroup, Resource: "networks", Namespace: "default", Name: "net", UID: "net-uid"}
	first, ok, err := a.Take(ctx, apinetv1alpha1.IPv4, claim)
	if err != nil || !ok {
		t.Fatalf("take: %v %v", ok, err)
	}
	again, ok, err := a.Take(ctx, apinetv1alpha1.IPv4, claim)
	if err != nil || !ok {
		t.Fatalf("take again: %v %v", ok, err)
	}
	if again != first {
		t.Errorf("taken again before the cache had the lock: %s, then %s", first, again)
	}
	var locks apinetv1alpha1.IPAddressList
	if err := server.List(ctx, &locks); err != nil {
		t.Fatal(err)
	}
	held := 0
	for _, l := range locks.Items {
		if l.Spec.ClaimRef.UID == claim.UID {
			held++
		}
	}
	if held != 1 {
		t.Errorf("the claimer holds %d IPAddress locks, want 1", held)
	}
}

// TestTakeOtherFamilyBeforeTheCacheHasIt: the cache shows a claimer's IPv4
// lock but not yet its new IPv6 one; finding the IPv4 one must not make it
// forget the IPv6 one and take a second.
func TestTakeOtherFamilyBeforeTheCacheHasIt(t *testing.T) {
	ctx := context.Background()
	// The cache shows the IPv4 locks only.
	a, server := addressesBehindCache(t, []string{"100.64.9.0/24", "fd00:64::/64"}, func(ctx context.Context, server client.Client, list client.ObjectList) error {
		var all apinetv1alpha1.IPAddressList
		if err := server.List(ctx, &all); err != nil {
			return err
		}
		out := list.(*apinetv1alpha1.IPAddressList)
		for _, l := range all.Items {
			if apinetv1alpha1.FamilyOf(l.Spec.IP) == apinetv1alpha1.IPv4 {
				out.Items = append(out.Items, l)
			}
		}
		return nil
	})
	claim := apinetv1alpha1.ClaimRef{Group: claimRefGroup, Resource: "networks", Namespace: "default", Name: "net", UID: "net-uid"}
	take := func(f apinetv1alpha1.IPFamily) netip.Addr {
		t.Helper()
		a, ok, err := a.Take(ctx, f, claim)
		if err != nil || !ok {
			t.Fatalf("take %s: %v %v", f, ok, err)
		}
		return a
	}
	take(apinetv1alpha1.IPv4)
	first6 := take(apinetv1alpha1.IPv6)
	take(apinetv1alpha1.IPv4) // found in the cache
	if again6 := take(apinetv1alpha1.IPv6); again6 != first6 {
		t.Errorf("IPv6 taken again while the cache lacked it: %s, then %s", first6, again6)
	}
	if held, ok, err := a.Held(ctx, apinetv1alpha1.IPv6, claim.UID); err != nil || !ok || held != first6 {
		t.Errorf("Held(IPv6) = %s %v %v, want %s", held, ok, err, first6)
	}
	var locks apinetv1alpha1.IPAddressList
	if err := server.List(ctx, &locks); err != nil {
		t.Fatal(err)
	}
	if len(locks.Items) != 2 {
		t.Errorf("the claimer holds %d IPAddress locks, want 2 (one per family)", len(locks.Items))
	}
}

// addressesBehindCache is an allocator of prefixes on a fake API server whose
// cache lists with list (given the server).
func addressesBehindCache(t *testing.T, prefixes []string, list func(context.Context, client.Client, client.ObjectList) error) (*Addresses, client.Client) {
	t.Helper()
	scheme := runtime.NewScheme()
	if err := apinetv1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	server := fake.NewClientBuilder().WithScheme(scheme).Build()
	cache := interceptor.NewClient(server, interceptor.Funcs{
		List: func(ctx context.Context, _ client.WithWatch, l client.ObjectList, _ ...client.ListOption) error {
			return list(ctx, server, l)
		},
	})
	var pfxs []netip.Prefix
	for _, p := range prefixes {
		pfxs = append(pfxs, netip.MustParsePrefix(p))
	}
	pool := NewIPPool(pfxs)
	return &Addresses{Pool: pool, locks: &Locks[netip.Addr]{client: cache, live: server, kind: ipAddressLocks,
		view: &pool.taken, created: map[types.UID][]netip.Addr{}}}, server
}
