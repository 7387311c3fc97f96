package ipam

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestPoolMetrics(t *testing.T) {
	pool := NewIPPool([]netip.Prefix{netip.MustParsePrefix("10.0.0.0/29"), netip.MustParsePrefix("fd00::/120")})
	pool.MarkTaken(netip.MustParseAddr("10.0.0.3"))
	pool.MarkTaken(netip.MustParseAddr("10.0.0.5"))
	reg := prometheus.NewRegistry()
	if err := RegisterPoolMetrics(reg, pool); err != nil {
		t.Fatal(err)
	}
	want := `
# HELP ovnet_public_ips_used Addresses of a public prefix that are taken.
# TYPE ovnet_public_ips_used gauge
ovnet_public_ips_used{prefix="10.0.0.0/29"} 2
ovnet_public_ips_used{prefix="fd00::/120"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "ovnet_public_ips_used"); err != nil {
		t.Error(err)
	}
	want = `
# HELP ovnet_public_ips_size Addresses in a public prefix (network and broadcast included).
# TYPE ovnet_public_ips_size gauge
ovnet_public_ips_size{prefix="10.0.0.0/29"} 8
ovnet_public_ips_size{prefix="fd00::/120"} 256
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "ovnet_public_ips_size"); err != nil {
		t.Error(err)
	}
}
