package ovn

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ovnet-dev/ovnet/ovn/nbdb"
	"github.com/ovnet-dev/ovnet/ovn/ovntest"
)

func TestParseEndpoints(t *testing.T) {
	got, err := ParseEndpoints("tcp:10.0.0.1:6641, ssl:10.0.0.2:6641,unix:/run/ovn/ovnnb_db.sock")
	if err != nil || len(got) != 3 || got[1] != "ssl:10.0.0.2:6641" {
		t.Fatalf("ParseEndpoints = %v, %v", got, err)
	}
	for _, bad := range []string{"", "http://x", "tcp:", "10.0.0.1:6641"} {
		if _, err := ParseEndpoints(bad); err == nil {
			t.Errorf("ParseEndpoints(%q) accepted", bad)
		}
	}
}

// TestTLS talks to an ovsdb-server over ssl: with certificates signed by the
// test CA; a CA that did not sign the server's certificate is refused.
func TestTLS(t *testing.T) {
	certs := ovntest.GenerateCerts(t)
	srv, endpoint := ovntest.StartTLSServer(t, "ovn-nb.ovsschema", certs.ServerKey, certs.ServerCert, certs.CA)
	tlsCfg, err := LoadTLS(certs.ClientKey, certs.ClientCert, certs.CA)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := ConnectNB(ctx, Config{Endpoints: []string{endpoint}, TLS: tlsCfg, Logger: logr.Discard()})
	if err != nil {
		t.Fatalf("connect over TLS: %v", err)
	}
	defer c.Close()
	mustApply(t, c, netOwner, networkRows(10)[:1])
	if got := srv.NBCtl("--bare", "--columns=name", "list", "Logical_Switch"); got != "net301" {
		t.Fatalf("switch written over TLS = %q", got)
	}

	other := ovntest.GenerateCerts(t)
	wrongCA, err := LoadTLS(certs.ClientKey, certs.ClientCert, other.CA)
	if err != nil {
		t.Fatal(err)
	}
	short, cancel2 := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel2()
	if c2, err := ConnectNB(short, Config{Endpoints: []string{endpoint}, TLS: wrongCA, Logger: logr.Discard()}); err == nil {
		c2.Close()
		t.Fatal("connected to a server whose certificate our CA did not sign")
	}
}

// TestHungServer pauses the server: the inactivity probe notices the silent
// connection, and after the server continues the client is back and writes.
func TestHungServer(t *testing.T) {
	srv := ovntest.StartServer(t, "ovn-nb.ovsschema")
	c := connect(t, srv.Endpoint()) // 2 s inactivity probe
	mustApply(t, c, netOwner, networkRows(10))
	srv.Pause()
	deadline := time.Now().Add(15 * time.Second)
	for c.Connected() {
		if time.Now().After(deadline) {
			srv.Resume()
			t.Fatal("client did not notice the hung server")
		}
		time.Sleep(100 * time.Millisecond)
	}
	srv.Resume()
	mustApply(t, c, nicOwner, nicRows("1024-2047"))
	if got := srv.NBCtl("--bare", "--columns=external_port_range", "find", "NAT", "type=snat"); got != "1024-2047" {
		t.Fatalf("after the hang: snat range %q", got)
	}
}

// TestTransactionErrorsAreReported: a transaction that ovsdb-server refuses
// (a constraint violation) is an error and counted, never a silent success.
func TestTransactionErrorsAreReported(t *testing.T) {
	srv := ovntest.StartServer(t, "ovn-nb.ovsschema")
	reg := prometheus.NewRegistry()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := ConnectNB(ctx, Config{Endpoints: []string{srv.Endpoint()}, Logger: logr.Discard(), Metrics: NewMetrics(reg)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	mustApply(t, c, netOwner, networkRows(10))
	// Two router ports with one name violate the Logical_Router_Port name index.
	dup := append(networkRows(10), Row{Key: "dup", Model: &nbdb.LogicalRouterPort{Name: "net301-lr-ls", MAC: "0a:58:00:01:2d:09", Networks: []string{"169.254.0.9/32"}},
		Parents: []Parent{{Table: nbdb.LogicalRouterTable, Column: "ports", Key: "lr"}}})
	_, err = c.Apply(context.Background(), netOwner, dup)
	if err == nil || !strings.Contains(err.Error(), "constraint violation") {
		t.Fatalf("duplicate port name: err = %v, want a constraint violation", err)
	}
	if n := testutil.ToFloat64(c.cfg.Metrics.errors.WithLabelValues("OVN_Northbound")); n != 1 {
		t.Errorf("error counter = %v, want 1", n)
	}
	if n := testutil.CollectAndCount(c.cfg.Metrics.latency); n != 1 {
		t.Errorf("latency series = %d, want 1", n)
	}
}
