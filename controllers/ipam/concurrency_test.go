package ipam_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	apinetv1alpha1 "github.com/ovnet-dev/ovnet/apis/core/v1alpha1"
	"github.com/ovnet-dev/ovnet/test/testenv"
)

// TestTwoControllersNeverDoubleBook runs two controller managers at once
// (leader election off) while 8 goroutines create 500 dynamic IPs and 100
// networks: every address and ID is handed out once, and after deleting
// everything no IPAddress or NetworkID is left.
func TestTwoControllersNeverDoubleBook(t *testing.T) {
	const (
		workers  = 8
		nIPs     = 500
		nNetwork = 100
	)
	env := testenv.Start(t)
	// A /23 is 512 addresses: 500 IPs fill it to 98%, so the two managers
	// really compete for the last free addresses. 128 IDs for 100 networks.
	startManager(t, env, []string{"10.20.0.0/23"}, 1000, 1127)
	startManager(t, env, []string{"10.20.0.0/23"}, 1000, 1127)
	c, ctx := env.Client, context.Background()
	ns := namespace(t, c)

	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < nIPs; i += workers {
				if err := c.Create(ctx, newIP(ns, fmt.Sprintf("ip-%d", i), apinetv1alpha1.IPv4, "")); err != nil {
					errs <- err
					return
				}
				if i < nNetwork {
					if err := c.Create(ctx, &apinetv1alpha1.Network{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("net-%d", i)}}); err != nil {
						errs <- err
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	t.Logf("created in %s", time.Since(start))
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	eventuallyWithin(t, 3*time.Minute, "all IPs and networks allocated", func() error {
		var ips apinetv1alpha1.IPList
		if err := c.List(ctx, &ips, client.InNamespace(ns)); err != nil {
			return err
		}
		for _, ip := range ips.Items {
			if ip.Spec.IP == "" {
				return fmt.Errorf("%s has no address: Ready %s", ip.Name, condition(ip.Status.Conditions, "Ready"))
			}
		}
		var nws apinetv1alpha1.NetworkList
		if err := c.List(ctx, &nws, client.InNamespace(ns)); err != nil {
			return err
		}
		for _, nw := range nws.Items {
			if nw.Spec.ID == "" {
				return fmt.Errorf("%s has no id", nw.Name)
			}
		}
		return nil
	})
	t.Logf("allocated after %s", time.Since(start))
	var ips apinetv1alpha1.IPList
	if err := c.List(ctx, &ips, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	byAddr := map[apinetv1alpha1.IPAddr]string{}
	for _, ip := range ips.Items {
		if other, dup := byAddr[ip.Spec.IP]; dup {
			t.Fatalf("%s handed out twice: %s and %s", ip.Spec.IP, other, ip.Name)
		}
		byAddr[ip.Spec.IP] = ip.Name
	}
	if len(byAddr) != nIPs {
		t.Fatalf("%d distinct addresses, want %d", len(byAddr), nIPs)
	}
	var nws apinetv1alpha1.NetworkList
	if err := c.List(ctx, &nws, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	byID := map[string]string{}
	for _, nw := range nws.Items {
		if other, dup := byID[nw.Spec.ID]; dup {
			var lock apinetv1alpha1.NetworkID
			_ = c.Get(ctx, client.ObjectKey{Name: nw.Spec.ID}, &lock)
			for _, n := range nws.Items {
				if n.Spec.ID == nw.Spec.ID {
					t.Logf("network %s uid %s created %s conditions %+v", n.Name, n.UID, n.CreationTimestamp, n.Status.Conditions)
				}
			}
			t.Fatalf("network ID %s handed out twice: %s and %s; lock claimRef %+v created %s", nw.Spec.ID, other, nw.Name, lock.Spec.ClaimRef, lock.CreationTimestamp)
		}
		byID[nw.Spec.ID] = nw.Name
	}
	// Locks lost in a race between the managers are released: one lock per IP.
	eventuallyWithin(t, time.Minute, "exactly one IPAddress per IP", func() error {
		var locks apinetv1alpha1.IPAddressList
		if err := c.List(ctx, &locks); err != nil {
			return err
		}
		if len(locks.Items) != nIPs {
			return fmt.Errorf("%d IPAddresses for %d IPs", len(locks.Items), nIPs)
		}
		for _, l := range locks.Items {
			if byAddr[l.Spec.IP] != l.Spec.ClaimRef.Name {
				return fmt.Errorf("IPAddress %s claimed by %s, but %s holds it", l.Name, l.Spec.ClaimRef.Name, byAddr[l.Spec.IP])
			}
		}
		var ids apinetv1alpha1.NetworkIDList
		if err := c.List(ctx, &ids); err != nil {
			return err
		}
		if len(ids.Items) != nNetwork {
			return fmt.Errorf("%d NetworkIDs for %d networks", len(ids.Items), nNetwork)
		}
		return nil
	})

	t.Logf("locks settled after %s", time.Since(start))
	if err := c.DeleteAllOf(ctx, &apinetv1alpha1.IP{}, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteAllOf(ctx, &apinetv1alpha1.Network{}, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	eventuallyWithin(t, time.Minute, "every lock released", func() error {
		var locks apinetv1alpha1.IPAddressList
		var ids apinetv1alpha1.NetworkIDList
		if err := c.List(ctx, &locks); err != nil {
			return err
		}
		if err := c.List(ctx, &ids); err != nil {
			return err
		}
		if len(locks.Items)+len(ids.Items) != 0 {
			return fmt.Errorf("%d IPAddresses and %d NetworkIDs left", len(locks.Items), len(ids.Items))
		}
		return nil
	})
}
