package rows

import (
	"net/netip"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	apinetv1alpha1 "github.com/ovnet-dev/ovnet/apis/core/v1alpha1"
	"github.com/ovnet-dev/ovnet/ovn/nbdb"
)

func lbInput(typ apinetv1alpha1.LoadBalancerType, ports ...apinetv1alpha1.LoadBalancerPort) LoadBalancerInput {
	return LoadBalancerInput{
		LB: &apinetv1alpha1.LoadBalancer{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web", UID: "lb-uid"},
			Spec: apinetv1alpha1.LoadBalancerSpec{Type: typ, Ports: ports}},
		Network:  &apinetv1alpha1.Network{ObjectMeta: metav1.ObjectMeta{UID: "net-uid"}},
		VIPs:     []netip.Addr{netip.MustParseAddr("203.0.113.50")},
		Backends: []netip.Addr{netip.MustParseAddr("10.0.0.7"), netip.MustParseAddr("192.168.178.1"), netip.MustParseAddr("10.0.0.7")},
	}
}

func TestLoadBalancerRowsPublicPorts(t *testing.T) {
	udp := corev1.ProtocolUDP
	end := int32(8081)
	got, err := LoadBalancerRows(lbInput(apinetv1alpha1.LoadBalancerTypePublic,
		apinetv1alpha1.LoadBalancerPort{Port: 80}, apinetv1alpha1.LoadBalancerPort{Port: 8080, EndPort: &end},
		apinetv1alpha1.LoadBalancerPort{Protocol: &udp, Port: 5353}))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("%d rows, want tcp LB, udp LB, discard route", len(got))
	}
	tcp := got[0].Model.(*nbdb.LoadBalancer)
	if tcp.Name != "ns/web/tcp" || *tcp.Protocol != "tcp" || tcp.Options["neighbor_responder"] != "all" || len(tcp.Vips) != 3 ||
		tcp.Vips["203.0.113.50:80"] != "10.0.0.7:80,192.168.178.1:80" || tcp.Vips["203.0.113.50:8081"] != "10.0.0.7:8081,192.168.178.1:8081" {
		t.Errorf("tcp LB %+v", tcp)
	}
	if len(got[0].Parents) != 2 || got[0].Parents[0].Key != "net-uid/ls" || got[0].Parents[1].Key != "net-uid/lr" {
		t.Errorf("public LB parents %+v", got[0].Parents)
	}
	if u := got[1].Model.(*nbdb.LoadBalancer); u.Name != "ns/web/udp" || u.Vips["203.0.113.50:5353"] != "10.0.0.7:5353,192.168.178.1:5353" {
		t.Errorf("udp LB %+v", u)
	}
	if r := got[2].Model.(*nbdb.LogicalRouterStaticRoute); r.IPPrefix != "203.0.113.50/32" || r.Nexthop != "discard" {
		t.Errorf("discard route %+v", r)
	}
}

func TestLoadBalancerRowsInternalAllPorts(t *testing.T) {
	got, err := LoadBalancerRows(lbInput(apinetv1alpha1.LoadBalancerTypeInternal))
	if err != nil {
		t.Fatal(err)
	}
	all := got[0].Model.(*nbdb.LoadBalancer)
	if all.Name != "ns/web/all" || all.Protocol != nil || all.Vips["203.0.113.50"] != "10.0.0.7,192.168.178.1" || all.Options != nil {
		t.Errorf("IP-only LB %+v", all)
	}
	// Internal: the switch only (never neighbor_responder on a router:
	// internal VIPs overlap between Networks).
	if len(got[0].Parents) != 1 || got[0].Parents[0].Table != nbdb.LogicalSwitchTable {
		t.Errorf("internal LB parents %+v", got[0].Parents)
	}
}

func TestLoadBalancerRowsTooManyPorts(t *testing.T) {
	end := int32(65535)
	_, err := LoadBalancerRows(lbInput(apinetv1alpha1.LoadBalancerTypePublic, apinetv1alpha1.LoadBalancerPort{Port: 1, EndPort: &end}))
	if err == nil || !strings.Contains(err.Error(), "more than 4096") {
		t.Errorf("err = %v", err)
	}
}

// TestLoadBalancerRowsDualStack: each VIP gets the backends of its family;
// IPv6 entries are bracketed and the discard route is a /128.
func TestLoadBalancerRowsDualStack(t *testing.T) {
	in := lbInput(apinetv1alpha1.LoadBalancerTypeInternal, apinetv1alpha1.LoadBalancerPort{Port: 80})
	in.VIPs = append(in.VIPs, netip.MustParseAddr("fd00::100"))
	in.Backends = append(in.Backends, netip.MustParseAddr("fd00::7"), netip.MustParseAddr("fd00::1"))
	got, err := LoadBalancerRows(in)
	if err != nil {
		t.Fatal(err)
	}
	tcp := got[0].Model.(*nbdb.LoadBalancer)
	if len(tcp.Vips) != 2 || tcp.Vips["203.0.113.50:80"] != "10.0.0.7:80,192.168.178.1:80" || tcp.Vips["[fd00::100]:80"] != "[fd00::1]:80,[fd00::7]:80" {
		t.Errorf("dual-stack LB VIPs %v", tcp.Vips)
	}
	var discard []string
	for _, r := range got[1:] {
		discard = append(discard, r.Model.(*nbdb.LogicalRouterStaticRoute).IPPrefix)
	}
	if strings.Join(discard, " ") != "203.0.113.50/32 fd00::100/128" {
		t.Errorf("discard routes %v", discard)
	}
}

// Health checks: one check per IPv4 VIP and checked port (the first port
// of each protocol when none is listed), linked from its protocol's LB,
// and the backends' NIC ports with the probes' source in ip_port_mappings.
func TestLoadBalancerRowsHealthCheck(t *testing.T) {
	udp := corev1.ProtocolUDP
	in := lbInput(apinetv1alpha1.LoadBalancerTypePublic, apinetv1alpha1.LoadBalancerPort{Port: 80}, apinetv1alpha1.LoadBalancerPort{Port: 443},
		apinetv1alpha1.LoadBalancerPort{Protocol: &udp, Port: 5353})
	in.VIPs = append(in.VIPs, netip.MustParseAddr("2001:db8::50"))
	in.HealthCheck = &HealthCheck{Interval: 5, Timeout: 2, SuccessCount: 1, FailureCount: 3}
	in.BackendPorts = map[netip.Addr]string{netip.MustParseAddr("10.0.0.7"): "ns/a"}
	got, err := LoadBalancerRows(in)
	if err != nil {
		t.Fatal(err)
	}
	var checks []string
	for _, r := range got {
		switch m := r.Model.(type) {
		case *nbdb.LoadBalancerHealthCheck:
			checks = append(checks, m.Vip+" from "+r.Parents[0].Key+"."+r.Parents[0].Column)
			if m.Options["interval"] != "5" || m.Options["timeout"] != "2" || m.Options["success_count"] != "1" || m.Options["failure_count"] != "3" {
				t.Errorf("health check options %v", m.Options)
			}
		case *nbdb.LoadBalancer:
			if len(m.IPPortMappings) != 1 || m.IPPortMappings["10.0.0.7"] != "ns/a:"+HealthCheckSource {
				t.Errorf("%s ip_port_mappings %v, want the known backend's port and the probe source", m.Name, m.IPPortMappings)
			}
		}
	}
	if strings.Join(checks, ";") != "203.0.113.50:80 from lb-uid/lb/tcp.health_check;203.0.113.50:5353 from lb-uid/lb/udp.health_check" {
		t.Errorf("health checks %v", checks)
	}
	in.HealthCheck.Ports = []int{443}
	got, _ = LoadBalancerRows(in)
	checks = nil
	for _, r := range got {
		if m, ok := r.Model.(*nbdb.LoadBalancerHealthCheck); ok {
			checks = append(checks, m.Vip)
		}
	}
	if strings.Join(checks, ";") != "203.0.113.50:443" {
		t.Errorf("listed port: health checks %v, want only 443", checks)
	}
}
