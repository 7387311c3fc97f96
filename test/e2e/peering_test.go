package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	apinetv1alpha1 "github.com/ovnet-dev/ovnet/apis/core/v1alpha1"
	"github.com/ovnet-dev/ovnet/test/testenv"
)

// TestPeering: two Networks that list each other reach each other — a
// Network's entry with prefixes exposes only those to the peer (the API's
// "prefixes of this network exposed to the peer"); a one-sided peering connects
// nothing; unpeering cuts it again; status.peerings reports the state.
func TestPeering(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	netA := e.network("net-a")
	netB := e.network("net-b")
	v6 := func(ip apinetv1alpha1.IPAddr) func(*apinetv1alpha1.NetworkInterface) {
		return func(n *apinetv1alpha1.NetworkInterface) { n.Spec.IPs = append(n.Spec.IPs, ip) }
	}
	_, a := e.nic("a", "net-a", "node-1", "10.0.0.1", v6("fd00:a::1"))
	_, b1 := e.nic("b1", "net-b", "node-2", "192.168.1.1", v6("fd00:b::1"))
	_, b2 := e.nic("b2", "net-b", "node-3", "192.168.2.1", v6("fd00:b::2"))

	setPeerings := func(nw *apinetv1alpha1.Network, peerings ...apinetv1alpha1.NetworkPeering) {
		t.Helper()
		if err := e.c.Get(ctx, client.ObjectKeyFromObject(nw), nw); err != nil {
			t.Fatal(err)
		}
		patch := client.MergeFrom(nw.DeepCopy())
		nw.Spec.Peerings = peerings
		if err := e.c.Patch(ctx, nw, patch); err != nil {
			t.Fatal(err)
		}
	}
	peerState := func(nw *apinetv1alpha1.Network, want apinetv1alpha1.NetworkPeeringState) {
		t.Helper()
		testenv.Eventually(t, 30*time.Second, nw.Name+" peering "+string(want), func() error {
			if err := e.c.Get(ctx, client.ObjectKeyFromObject(nw), nw); err != nil {
				return err
			}
			got := nw.Status.Peerings["ovn"]
			if len(got) != 1 || got[0].State != want {
				return fmt.Errorf("status.peerings %+v", nw.Status.Peerings)
			}
			return nil
		})
	}
	onlyB1 := apinetv1alpha1.IPPrefix("192.168.1.0/24")
	// One-sided: A lists B, B does not list A.
	setPeerings(netA, apinetv1alpha1.NetworkPeering{Name: "to-b", ID: netB.Spec.ID})
	peerState(netA, apinetv1alpha1.NetworkPeeringStatePending)
	if ping(a, "192.168.1.1") {
		t.Error("a one-sided peering connected the networks")
	}

	if ping(a, "fd00:b::1") {
		t.Error("a one-sided peering connected the networks over IPv6")
	}

	// Both sides, B exposing everything: both families cross.
	setPeerings(netB, apinetv1alpha1.NetworkPeering{Name: "to-a", ID: netA.Spec.ID})
	peerState(netB, apinetv1alpha1.NetworkPeeringStateReady)
	mustReach(t, a, "fd00:b::1")
	mustReach(t, b2, "fd00:a::1")
	mustReach(t, a, "192.168.2.1")

	// B exposing only b1's IPv4 prefix to A: A reaches b1, not b2, and
	// nothing of B over IPv6; B reaches A (A exposes everything).
	setPeerings(netB, apinetv1alpha1.NetworkPeering{Name: "to-a", ID: netA.Spec.ID,
		Prefixes: []apinetv1alpha1.PeeringPrefix{{Name: "b1", Prefix: &onlyB1}}})
	peerState(netA, apinetv1alpha1.NetworkPeeringStateReady)
	peerState(netB, apinetv1alpha1.NetworkPeeringStateReady)
	mustReach(t, a, "192.168.1.1")
	mustReach(t, b1, "10.0.0.1")
	if got := transfer(t, b1, a, "192.168.1.1", "tcp"); got != "ovnet-tcp" {
		t.Errorf("tcp from a to b1 over the peering: %q", got)
	}
	testenv.Eventually(t, 30*time.Second, "a cut from b2 and from B's IPv6", func() error {
		if ping(a, "192.168.2.1") {
			return fmt.Errorf("a reached b2, outside the peering's prefix")
		}
		if ping(a, "fd00:b::1") {
			return fmt.Errorf("a reached b1 over IPv6, outside the peering's prefix")
		}
		return nil
	})
	if ping(b2, "10.0.0.1") {
		// B routes all of A, but A routes back only what B exposes.
		t.Error("b2 got an answer from a although a does not route back to it")
	}

	// Unpeering (B drops A) cuts it again.
	setPeerings(netB)
	peerState(netA, apinetv1alpha1.NetworkPeeringStatePending)
	testenv.Eventually(t, 30*time.Second, "unpeered networks cut", func() error {
		if ping(a, "192.168.1.1") {
			return fmt.Errorf("a still reaches b1")
		}
		return nil
	})
}
