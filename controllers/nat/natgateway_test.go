package nat_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	apinetv1alpha1 "github.com/ovnet-dev/ovnet/apis/core/v1alpha1"
	"github.com/ovnet-dev/ovnet/controllers/ipam"
	"github.com/ovnet-dev/ovnet/controllers/nat"
	"github.com/ovnet-dev/ovnet/controllers/publicip"
	"github.com/ovnet-dev/ovnet/test/testenv"
)

type fixture struct {
	t  *testing.T
	c  client.Client
	ns string
}

// start runs the allocation controllers (they give the gateways their IPs)
// and the NAT controllers on a real API server.
func start(t *testing.T) *fixture {
	env := testenv.Start(t)
	testenv.StartManager(t, env, func(ctx context.Context, mgr manager.Manager) error {
		pfx, _ := ipam.ParsePrefixes([]string{"203.0.113.0/24"})
		ids, _ := ipam.NewIDPool(200, 300)
		if err := ipam.Setup(ctx, mgr, ipam.Options{IPPool: ipam.NewIPPool(pfx), IDPool: ids}); err != nil {
			return err
		}
		return nat.Setup(mgr, nat.Options{Scope: publicip.Scope{Public: pfx}})
	})
	ctx := context.Background()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "nat-"}}
	if err := env.Client.Create(ctx, ns); err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, c: env.Client, ns: ns.Name}
}

func (f *fixture) create(obj client.Object) {
	f.t.Helper()
	obj.SetNamespace(f.ns)
	if err := f.c.Create(context.Background(), obj); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) gateway(name, network string, ppni int32, ips int) *apinetv1alpha1.NATGateway {
	gw := &apinetv1alpha1.NATGateway{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: apinetv1alpha1.NATGatewaySpec{
		IPFamily: apinetv1alpha1.IPv4, NetworkRef: corev1.LocalObjectReference{Name: network}, PortsPerNetworkInterface: ppni}}
	for i := range ips {
		gw.Spec.IPs = append(gw.Spec.IPs, apinetv1alpha1.NATGatewayIP{Name: fmt.Sprintf("ip-%d", i)})
	}
	f.create(gw)
	return gw
}

func (f *fixture) nic(name, network, ip string, mutate ...func(*apinetv1alpha1.NetworkInterface)) *apinetv1alpha1.NetworkInterface {
	n := &apinetv1alpha1.NetworkInterface{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: apinetv1alpha1.NetworkInterfaceSpec{
		NodeRef: corev1.LocalObjectReference{Name: "node-1"}, NetworkRef: corev1.LocalObjectReference{Name: network},
		IPs: []apinetv1alpha1.IPAddr{apinetv1alpha1.IPAddr(ip)}}}
	for _, m := range mutate {
		m(n)
	}
	f.create(n)
	// Distinct creation timestamps keep "oldest first" well defined.
	time.Sleep(1100 * time.Millisecond)
	return n
}

// table renders a NATTable as "G0: nicIP=port-end(name) ...; G1: ..." with
// the gateway's IPs named G0, G1 in spec order.
func (f *fixture) table(gw *apinetv1alpha1.NATGateway) (string, error) {
	ctx := context.Background()
	if err := f.c.Get(ctx, client.ObjectKeyFromObject(gw), gw); err != nil {
		return "", err
	}
	t := &apinetv1alpha1.NATTable{}
	if err := f.c.Get(ctx, client.ObjectKeyFromObject(gw), t); apierrors.IsNotFound(err) {
		// A gateway that has never given out a block has no table.
		return "", nil
	} else if err != nil {
		return "", err
	}
	var out []string
	for _, ip := range t.IPs {
		name := string(ip.IP)
		for i, e := range gw.Spec.IPs {
			if e.IP == ip.IP {
				name = fmt.Sprintf("G%d", i)
			}
		}
		s := name + ":"
		for _, sec := range ip.Sections {
			s += fmt.Sprintf(" %s=%d-%d(%s)", sec.IP, sec.Port, sec.EndPort, sec.TargetRef.Name)
		}
		out = append(out, s)
	}
	// The table lists NAT IPs by address; allocated addresses are random,
	// so compare in spec order.
	slices.Sort(out)
	return strings.Join(out, "; "), nil
}

func (f *fixture) wantTable(gw *apinetv1alpha1.NATGateway, want string, used, requested int64) {
	f.t.Helper()
	testenv.Eventually(f.t, 30*time.Second, gw.Name+" table", func() error {
		got, err := f.table(gw)
		if err != nil {
			return err
		}
		if got != want || gw.Status.UsedNATIPs != used || gw.Status.RequestedNATIPs != requested {
			return fmt.Errorf("table %q used %d requested %d; want %q %d %d", got, gw.Status.UsedNATIPs, gw.Status.RequestedNATIPs, want, used, requested)
		}
		return nil
	})
}

func (f *fixture) claims(nic *apinetv1alpha1.NetworkInterface) []string {
	f.t.Helper()
	if err := f.c.Get(context.Background(), client.ObjectKeyFromObject(nic), nic); err != nil {
		f.t.Fatal(err)
	}
	var out []string
	for _, n := range nic.Spec.NATGateways {
		out = append(out, n.ClaimRef.Name)
	}
	return out
}

func TestNATGatewayTables(t *testing.T) {
	f := start(t)
	ctx := context.Background()

	// ppni 64: the first block is 1024-1087.
	gw64 := f.gateway("gw64", "net-a", 64, 1)
	f.nic("a1", "net-a", "10.0.0.1")
	f.wantTable(gw64, "G0: 10.0.0.1=1024-1087(a1)", 1, 1)
	if got := gauge(t, "ovnet_nat_ports_used", f.ns, "gw64"); got != 64 {
		t.Errorf("ovnet_nat_ports_used of gw64 = %v, want 64", got)
	}

	// ppni 1024, three NICs: consecutive blocks, oldest first; a NIC with a
	// public IP and a NIC claimed by another gateway are not NATed by it.
	gw1k := f.gateway("gw1k", "net-b", 1024, 1)
	b1 := f.nic("b1", "net-b", "10.0.1.1")
	b2 := f.nic("b2", "net-b", "10.0.1.2")
	f.nic("b3", "net-b", "10.0.1.3")
	pub := f.nic("b-pub", "net-b", "10.0.1.9", func(n *apinetv1alpha1.NetworkInterface) {
		n.Spec.PublicIPs = []apinetv1alpha1.PublicIPRequest{{Name: "pub", IPFamily: apinetv1alpha1.IPv4}}
	})
	f.wantTable(gw1k, "G0: 10.0.1.1=1024-2047(b1) 10.0.1.2=2048-3071(b2) 10.0.1.3=3072-4095(b3)", 3, 3)
	if got := f.claims(pub); len(got) != 0 {
		t.Errorf("NIC with a public IP claimed by %v", got)
	}
	if got := f.claims(b2); !slices.Equal(got, []string{"gw1k"}) {
		t.Errorf("b2 claimed by %v", got)
	}

	// Removing b2 frees its block and moves no other; a new NIC takes it.
	if err := f.c.Delete(ctx, b2); err != nil {
		t.Fatal(err)
	}
	f.wantTable(gw1k, "G0: 10.0.1.1=1024-2047(b1) 10.0.1.3=3072-4095(b3)", 2, 2)
	f.nic("b4", "net-b", "10.0.1.4")
	f.wantTable(gw1k, "G0: 10.0.1.1=1024-2047(b1) 10.0.1.4=2048-3071(b4) 10.0.1.3=3072-4095(b3)", 3, 3)

	// A second gateway of the same network does not take gw1k's NICs.
	gwOther := f.gateway("gw-other", "net-b", 1024, 1)
	f.wantTable(gwOther, "", 0, 0)
	if got := f.claims(b1); !slices.Equal(got, []string{"gw1k"}) {
		t.Errorf("b1 claimed by %v after a second gateway appeared", got)
	}

	// ppni 64512, two NICs: one NATed, one waiting; the gateway says so.
	gwFull := f.gateway("gw-full", "net-c", 64512, 1)
	c1 := f.nic("c1", "net-c", "10.0.2.1")
	c2 := f.nic("c2", "net-c", "10.0.2.2")
	f.wantTable(gwFull, "G0: 10.0.2.1=1024-65535(c1)", 1, 2)
	if got := gauge(t, "ovnet_nat_interfaces_waiting", f.ns, "gw-full"); got != 1 {
		t.Errorf("ovnet_nat_interfaces_waiting of gw-full = %v, want 1", got)
	}
	if got := f.claims(c2); len(got) != 0 {
		t.Errorf("waiting NIC claimed by %v", got)
	}
	cond := meta.FindStatusCondition(gwFull.Status.Conditions, nat.ConditionPortsAvailable)
	if cond == nil || cond.Reason != apinetv1alpha1.ReasonPortsExhausted || !strings.Contains(cond.Message, "1 interfaces wait") {
		t.Errorf("PortsAvailable = %+v", cond)
	}
	testenv.Eventually(t, 10*time.Second, "PortsExhausted event", func() error {
		var evs eventsv1.EventList
		if err := f.c.List(ctx, &evs, client.InNamespace(f.ns)); err != nil {
			return err
		}
		for _, ev := range evs.Items {
			if ev.Regarding.Name == "gw-full" && ev.Reason == apinetv1alpha1.ReasonPortsExhausted {
				return nil
			}
		}
		return fmt.Errorf("none among %d events: %+v", len(evs.Items), evs.Items)
	})

	// The autoscaler adds an IP (rounded up): both NICs NATed.
	f.create(&apinetv1alpha1.NATGatewayAutoscaler{ObjectMeta: metav1.ObjectMeta{Name: "scale-full"},
		Spec: apinetv1alpha1.NATGatewayAutoscalerSpec{NATGatewayRef: corev1.LocalObjectReference{Name: "gw-full"},
			MinPublicIPs: ptr[int32](1), MaxPublicIPs: ptr[int32](3)}})
	f.wantTable(gwFull, "G0: 10.0.2.1=1024-65535(c1); G1: 10.0.2.2=1024-65535(c2)", 2, 2)
	if len(gwFull.Spec.IPs) != 2 {
		t.Errorf("autoscaled to %d IPs, want 2", len(gwFull.Spec.IPs))
	}

	// An address the gateway names but does not hold (no IP object) is
	// never used for NAT.
	gwLit := &apinetv1alpha1.NATGateway{ObjectMeta: metav1.ObjectMeta{Name: "gw-literal"}, Spec: apinetv1alpha1.NATGatewaySpec{
		IPFamily: apinetv1alpha1.IPv4, NetworkRef: corev1.LocalObjectReference{Name: "net-d"}, PortsPerNetworkInterface: 1024,
		IPs: []apinetv1alpha1.NATGatewayIP{{Name: "lit", IP: "203.0.113.250"}}}}
	f.create(gwLit)
	d1 := f.nic("d1", "net-d", "10.0.3.1")
	f.wantTable(gwLit, "", 0, 1)
	if got := f.claims(d1); len(got) != 0 {
		t.Errorf("NIC claimed by a gateway without NAT IPs: %v", got)
	}
	if c := meta.FindStatusCondition(gwLit.Status.Conditions, nat.ConditionPortsAvailable); c == nil || c.Reason != "Pending" {
		t.Errorf("PortsAvailable of a gateway without held IPs = %+v", c)
	}

	// Deleting the gateway removes its table and the NICs' claims.
	if err := f.c.Delete(ctx, gw64); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 30*time.Second, "gw64's table and claims gone", func() error {
		if err := f.c.Get(ctx, client.ObjectKeyFromObject(gw64), &apinetv1alpha1.NATTable{}); !apierrors.IsNotFound(err) {
			return fmt.Errorf("table: %v", err)
		}
		a1 := &apinetv1alpha1.NetworkInterface{ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: "a1"}}
		if got := f.claims(a1); len(got) != 0 {
			return fmt.Errorf("a1 still claimed by %v", got)
		}
		return nil
	})
	_ = c1
}

func ptr[T any](v T) *T { return &v }

// gauge reads a NAT gauge of controller-runtime's registry (where the
// binaries serve it).
func gauge(t *testing.T, name, ns, gw string) float64 {
	t.Helper()
	families, err := metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, fam := range families {
		if fam.GetName() != name {
			continue
		}
		for _, m := range fam.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["namespace"] == ns && labels["natgateway"] == gw {
				return m.GetGauge().GetValue()
			}
		}
	}
	return -1
}
