package ovn

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"

	"github.com/ovnet-dev/ovnet/ovn/ovntest"
)

// TestLeaderOnly: against a three-server raft cluster the client writes only
// to the leader; when the leader dies it moves to the new leader and the
// next apply succeeds.
func TestLeaderOnly(t *testing.T) {
	cl := ovntest.StartCluster(t, "ovn-nb.ovsschema", "OVN_Northbound")
	leader := cl.WaitLeader()
	// List the followers first, so a client that ignored leadership would
	// stay on a follower.
	var endpoints []string
	for i, s := range cl.Servers {
		if i != leader {
			endpoints = append(endpoints, s.Endpoint())
		}
	}
	endpoints = append(endpoints, cl.Servers[leader].Endpoint())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := ConnectNB(ctx, Config{Endpoints: endpoints, LeaderOnly: true, InactivityProbe: 2 * time.Second, Logger: logr.Discard()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got := c.CurrentEndpoint(); got != cl.Servers[leader].Endpoint() {
		t.Fatalf("connected to %s, want the leader %s", got, cl.Servers[leader].Endpoint())
	}
	mustApply(t, c, netOwner, networkRows(10))

	cl.Servers[leader].Stop()
	newLeader := cl.WaitLeader()
	deadline := time.Now().Add(30 * time.Second)
	for c.CurrentEndpoint() != cl.Servers[newLeader].Endpoint() || !c.Connected() {
		if time.Now().After(deadline) {
			t.Fatalf("client on %q, want the new leader %s", c.CurrentEndpoint(), cl.Servers[newLeader].Endpoint())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if n := mustApply(t, c, netOwner, networkRows(10)); n != 0 {
		t.Errorf("after failover, unchanged apply sent %d operations", n)
	}
	mustApply(t, c, nicOwner, nicRows("1024-2047"))
	if got := cl.Servers[newLeader].NBCtl("--bare", "--columns=external_port_range", "find", "NAT", "type=snat"); strings.TrimSpace(got) != "1024-2047" {
		t.Errorf("write after failover: %q", got)
	}
}
