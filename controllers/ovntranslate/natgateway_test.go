package ovntranslate_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"sigs.k8s.io/controller-runtime/pkg/client"

	apinetv1alpha1 "github.com/ovnet-dev/ovnet/apis/core/v1alpha1"
	"github.com/ovnet-dev/ovnet/controllers/nat"
	"github.com/ovnet-dev/ovnet/devstack"
	"github.com/ovnet-dev/ovnet/test/testenv"
)

// TestNATGatewayRows: a NAT gateway's blocks become snat rows with
// external_port_range on the Network's router, one per NIC; adding or
// removing a NIC changes exactly its row; the NICs report their NAT IP;
// deleting the gateway removes its rows.
func TestNATGatewayRows(t *testing.T) {
	env := testenv.Start(t)
	central := devstack.StartCentralT(t)
	start(t, env, central)
	c, ctx := env.Client, context.Background()
	nbctl := func(args ...string) string { t.Helper(); return central.NBCtl(t, args...) }
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "t-"}}
	create := func(o client.Object) {
		t.Helper()
		o.SetNamespace(ns.Name)
		if err := c.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Create(ctx, ns); err != nil {
		t.Fatal(err)
	}
	if err := c.Create(ctx, &apinetv1alpha1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node1", Labels: map[string]string{apinetv1alpha1.LabelGateway: "true"}}}); err != nil {
		t.Fatal(err)
	}
	create(&apinetv1alpha1.Network{ObjectMeta: metav1.ObjectMeta{Name: "net"}})
	nic := func(name, ip string) *apinetv1alpha1.NetworkInterface {
		n := &apinetv1alpha1.NetworkInterface{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: apinetv1alpha1.NetworkInterfaceSpec{
			NodeRef: corev1.LocalObjectReference{Name: "node1"}, NetworkRef: corev1.LocalObjectReference{Name: "net"},
			IPs: []apinetv1alpha1.IPAddr{apinetv1alpha1.IPAddr(ip)}}}
		create(n)
		return n
	}
	n1 := nic("n1", "10.0.0.1")
	gw := &apinetv1alpha1.NATGateway{ObjectMeta: metav1.ObjectMeta{Name: "gw"}, Spec: apinetv1alpha1.NATGatewaySpec{
		IPFamily: apinetv1alpha1.IPv4, NetworkRef: corev1.LocalObjectReference{Name: "net"}, PortsPerNetworkInterface: 1024,
		IPs: []apinetv1alpha1.NATGatewayIP{{Name: "ip"}}}}
	// The gateway's first status write carries its allocation report
	// (counts, PortsAvailable) and its Ready together: one write, not one
	// per controller.
	firstReport := watchFirst(t, env, &apinetv1alpha1.NATGatewayList{}, ns.Name, "gw", func(gw *apinetv1alpha1.NATGateway) bool {
		return len(gw.Status.Conditions) > 0
	})
	create(gw)
	// n2 is NATed from its start: a watcher sees its first Ready already
	// with its NAT IP (one status write, not a Ready and then its NAT IP).
	firstReady := watchFirstReady(t, env, ns.Name, "n2")
	n2 := nic("n2", "10.0.0.2")

	// snat rows as "logical_ip external_ip range", sorted, and their UUIDs.
	snat := func() ([]string, map[string]string) {
		out := nbctl("--bare", "--format=csv", "--no-headings", "--columns=_uuid,logical_ip,external_ip,external_port_range", "find", "NAT", "type=snat")
		var rows []string
		uuids := map[string]string{}
		for _, line := range strings.Split(out, "\n") {
			f := strings.Split(line, ",")
			if len(f) == 4 {
				rows = append(rows, f[1]+" "+f[2]+" "+f[3])
				uuids[f[1]] = f[0]
			}
		}
		slices.Sort(rows)
		return rows, uuids
	}
	var natIP string
	wantRows := func(want ...string) map[string]string {
		t.Helper()
		var uuids map[string]string
		eventually(t, fmt.Sprintf("snat rows %v", want), func() error {
			if err := c.Get(ctx, client.ObjectKeyFromObject(gw), gw); err != nil {
				return err
			}
			if len(gw.Spec.IPs) == 0 || gw.Spec.IPs[0].IP == "" {
				return fmt.Errorf("no NAT IP yet")
			}
			natIP = string(gw.Spec.IPs[0].IP)
			var got []string
			got, uuids = snat()
			w := slices.Clone(want)
			for i := range w {
				w[i] = strings.ReplaceAll(w[i], "NATIP", natIP)
			}
			if !slices.Equal(got, w) {
				return fmt.Errorf("got %q", got)
			}
			return nil
		})
		return uuids
	}
	before := wantRows("10.0.0.1 NATIP 1024-2047", "10.0.0.2 NATIP 2048-3071")
	eventually(t, "n1 reports its NAT IP", func() error {
		if err := c.Get(ctx, client.ObjectKeyFromObject(n1), n1); err != nil {
			return err
		}
		if len(n1.Status.NATIPs) != 1 || string(n1.Status.NATIPs[0]) != natIP {
			return fmt.Errorf("status.natIPs %v", n1.Status.NATIPs)
		}
		return nil
	})
	select {
	case first := <-firstReady:
		if len(first.Status.NATIPs) != 1 || string(first.Status.NATIPs[0]) != natIP {
			t.Errorf("n2's first Ready status has natIPs %v, want [%s]", first.Status.NATIPs, natIP)
		}
	case <-time.After(time.Minute):
		t.Error("no Ready status of n2 seen by the watch")
	}
	select {
	case first := <-firstReport:
		ready := apinetv1alpha1.ConditionCopy(first.Status.Conditions, apinetv1alpha1.ConditionReady)
		ports := apinetv1alpha1.ConditionCopy(first.Status.Conditions, nat.ConditionPortsAvailable)
		if ready.Status != metav1.ConditionTrue || ports.Status != metav1.ConditionTrue || first.Status.UsedNATIPs < 1 ||
			first.Status.UsedNATIPs != first.Status.RequestedNATIPs {
			t.Errorf("the gateway's first status: Ready %s/%s, PortsAvailable %s/%s, used %d of %d requested; want both True and the counts in one write",
				ready.Status, ready.Reason, ports.Status, ports.Reason, first.Status.UsedNATIPs, first.Status.RequestedNATIPs)
		}
	case <-time.After(time.Minute):
		t.Error("no status of the gateway seen by the watch")
	}
	if got := nbctl("--bare", "--columns=external_ids", "find", "NAT", "logical_ip=10.0.0.1"); !strings.Contains(got, "apinet.ironcore.dev/owner-kind=NATGateway") || !strings.Contains(got, "apinet.ironcore.dev/nic=n1") {
		t.Errorf("snat row external_ids: %s", got)
	}

	// A third NIC adds exactly its row; the others keep row and range.
	nic("n3", "10.0.0.3")
	after := wantRows("10.0.0.1 NATIP 1024-2047", "10.0.0.2 NATIP 2048-3071", "10.0.0.3 NATIP 3072-4095")
	for ip, u := range before {
		if after[ip] != u {
			t.Errorf("row of %s was replaced (%s -> %s)", ip, u, after[ip])
		}
	}
	// Removing n2 removes exactly its row.
	if err := c.Delete(ctx, n2); err != nil {
		t.Fatal(err)
	}
	final := wantRows("10.0.0.1 NATIP 1024-2047", "10.0.0.3 NATIP 3072-4095")
	if final["10.0.0.1"] != after["10.0.0.1"] || final["10.0.0.3"] != after["10.0.0.3"] {
		t.Errorf("rows of other NICs replaced when n2 went")
	}

	// The gateway's deletion removes its rows; the NICs' own rows stay.
	if err := c.Delete(ctx, gw); err != nil {
		t.Fatal(err)
	}
	eventually(t, "snat rows gone", func() error {
		if got, _ := snat(); len(got) != 0 {
			return fmt.Errorf("left: %v", got)
		}
		return nil
	})
	if got := nbctl("--bare", "--columns=name", "find", "Logical_Switch_Port", "name="+ns.Name+"/n1"); got != ns.Name+"/n1" {
		t.Errorf("n1's port: %q", got)
	}
}

// watchFirstReady sends the first version of NIC name in namespace ns
// that a watch sees with Ready=True.
func watchFirstReady(t *testing.T, env *testenv.Env, ns, name string) <-chan *apinetv1alpha1.NetworkInterface {
	t.Helper()
	return watchFirst(t, env, &apinetv1alpha1.NetworkInterfaceList{}, ns, name, func(nic *apinetv1alpha1.NetworkInterface) bool {
		return meta.IsStatusConditionTrue(nic.Status.Conditions, apinetv1alpha1.ConditionReady)
	})
}

// watchFirst sends the first version of the object name in namespace ns
// (of list's kind) that a watch sees and match accepts.
func watchFirst[T client.Object](t *testing.T, env *testenv.Env, list client.ObjectList, ns, name string, match func(T) bool) <-chan T {
	t.Helper()
	wc, err := client.NewWithWatch(env.Config, client.Options{Scheme: testenv.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	w, err := wc.Watch(context.Background(), list, client.InNamespace(ns),
		client.MatchingFieldsSelector{Selector: fields.OneTermEqualSelector("metadata.name", name)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	out := make(chan T, 1)
	go func() {
		for ev := range w.ResultChan() {
			if obj, ok := ev.Object.(T); ok && match(obj) {
				out <- obj
				return
			}
		}
	}()
	return out
}
