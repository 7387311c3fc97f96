package nat_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	apinetv1alpha1 "github.com/ovnet-dev/ovnet/apis/core/v1alpha1"
	"github.com/ovnet-dev/ovnet/test/testenv"
)

// TestNATRelease: a NIC's natGateways entry goes when its gateway is gone
// (docs/design.md item 2), and stays while it exists.
func TestNATRelease(t *testing.T) {
	f := start(t)
	ctx := context.Background()
	// The gateway claims the NIC itself; the NIC also names a gateway
	// that does not exist.
	gw := f.gateway("gw", "net", 1024, 1)
	n := f.nic("nic", "net", "192.168.0.1", func(n *apinetv1alpha1.NetworkInterface) {
		n.Spec.IPs = append(n.Spec.IPs, "fd00::1")
		n.Spec.NATGateways = []apinetv1alpha1.NetworkInterfaceNAT{
			{IPFamily: apinetv1alpha1.IPv6, ClaimRef: apinetv1alpha1.LocalUIDReference{Name: "gone", UID: "no-such-uid"}},
		}
	})
	natGateways := func() []apinetv1alpha1.NetworkInterfaceNAT {
		if err := f.c.Get(ctx, client.ObjectKeyFromObject(n), n); err != nil {
			t.Fatal(err)
		}
		return n.Spec.NATGateways
	}
	testenv.Eventually(t, 30*time.Second, "claim of a missing gateway dropped", func() error {
		if got := natGateways(); len(got) != 1 || got[0].ClaimRef.UID != gw.UID {
			return fmt.Errorf("natGateways = %+v", got)
		}
		return nil
	})
	if err := f.c.Delete(ctx, gw); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 30*time.Second, "claim of a deleted gateway dropped", func() error {
		if got := natGateways(); len(got) != 0 {
			return fmt.Errorf("natGateways = %+v", got)
		}
		return nil
	})
}
