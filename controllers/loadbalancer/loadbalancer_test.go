package loadbalancer_test

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
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	apinetv1alpha1 "github.com/ovnet-dev/ovnet/apis/core/v1alpha1"
	"github.com/ovnet-dev/ovnet/controllers/loadbalancer"
	"github.com/ovnet-dev/ovnet/test/testenv"
)

type fixture struct {
	t  *testing.T
	c  client.Client
	ns string
}

func start(t *testing.T) *fixture {
	env := testenv.Start(t)
	testenv.StartManager(t, env, func(_ context.Context, mgr manager.Manager) error { return loadbalancer.Setup(mgr) })
	ctx := context.Background()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "lb-"}}
	if err := env.Client.Create(ctx, ns); err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, c: env.Client, ns: ns.Name}
}

func (f *fixture) node(name string, labels map[string]string) *apinetv1alpha1.Node {
	f.t.Helper()
	n := &apinetv1alpha1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
	if err := f.c.Create(context.Background(), n); err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { _ = f.c.Delete(context.Background(), n) })
	return n
}

// placements lists "instance-owner@node" of the namespace's instances, sorted.
func (f *fixture) placements(ownerPrefix string) ([]string, []apinetv1alpha1.Instance, error) {
	var list apinetv1alpha1.InstanceList
	if err := f.c.List(context.Background(), &list, client.InNamespace(f.ns)); err != nil {
		return nil, nil, err
	}
	var out []string
	var insts []apinetv1alpha1.Instance
	for _, i := range list.Items {
		if !strings.HasPrefix(i.Name, ownerPrefix) || !i.DeletionTimestamp.IsZero() {
			continue
		}
		node := "?"
		if i.Spec.NodeRef != nil {
			node = i.Spec.NodeRef.Name
		}
		out = append(out, node)
		insts = append(insts, i)
	}
	slices.Sort(out)
	return out, insts, nil
}

func (f *fixture) wantPlacements(prefix string, want ...string) []apinetv1alpha1.Instance {
	f.t.Helper()
	var insts []apinetv1alpha1.Instance
	testenv.Eventually(f.t, 30*time.Second, prefix+" on "+strings.Join(want, ","), func() error {
		got, i, err := f.placements(prefix)
		if err != nil {
			return err
		}
		insts = i
		if !slices.Equal(got, want) {
			return fmt.Errorf("placements %v", got)
		}
		return nil
	})
	return insts
}

// TestLoadBalancerDaemonSet: the LB's DaemonSet with exact values, one
// Instance per node bound by the scheduler, ips/ports changes rolled out,
// a deleted Instance replaced, a deleted Node's Instance removed, the LB's
// deletion removing its DaemonSet and Instances.
func TestLoadBalancerDaemonSet(t *testing.T) {
	f := start(t)
	ctx := context.Background()
	host := "apinet.ironcore.dev/test-host"
	f.node("n1", map[string]string{host: "n1"})
	f.node("n2", map[string]string{host: "n2"})
	udp := corev1.ProtocolUDP
	lb := &apinetv1alpha1.LoadBalancer{ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: "web"}, Spec: apinetv1alpha1.LoadBalancerSpec{
		Type: apinetv1alpha1.LoadBalancerTypeInternal, NetworkRef: corev1.LocalObjectReference{Name: "net"},
		IPs:   []apinetv1alpha1.PublicIPRequest{{Name: "vip", IP: "10.0.0.100"}},
		Ports: []apinetv1alpha1.LoadBalancerPort{{Port: 80}, {Protocol: &udp, Port: 5353}},
		Template: apinetv1alpha1.InstanceTemplate{Metadata: apinetv1alpha1.TemplateMetadata{
			Labels: map[string]apinetv1alpha1.LabelValue{"app": "web"}, Annotations: map[string]string{"note": "kept"}},
			Spec: apinetv1alpha1.InstanceSpec{Type: apinetv1alpha1.InstanceTypeLoadBalancer, LoadBalancerType: apinetv1alpha1.LoadBalancerTypeInternal,
				TopologySpreadConstraints: []apinetv1alpha1.TopologySpreadConstraint{{MaxSkew: 1, TopologyKey: "apinet.ironcore.dev/test-host", WhenUnsatisfiable: "DoNotSchedule"}}}},
	}}
	if err := f.c.Create(ctx, lb); err != nil {
		t.Fatal(err)
	}
	ds := &apinetv1alpha1.DaemonSet{}
	testenv.Eventually(t, 30*time.Second, "DaemonSet lb-web", func() error {
		return f.c.Get(ctx, client.ObjectKey{Namespace: f.ns, Name: "lb-web"}, ds)
	})
	if ref := metav1.GetControllerOf(ds); ref == nil || ref.Kind != "LoadBalancer" || ref.Name != "web" {
		t.Errorf("DaemonSet controller = %+v", ref)
	}
	wantSel := map[string]apinetv1alpha1.LabelValue{"app": "web", loadbalancer.LabelLoadBalancer: "web"}
	if got := ds.Spec.Selector.MatchLabels; len(got) != 2 || got["app"] != "web" || got[loadbalancer.LabelLoadBalancer] != "web" {
		t.Errorf("selector %v, want %v", got, wantSel)
	}
	tmpl := ds.Spec.Template
	if tmpl.Metadata.Labels["app"] != "web" || tmpl.Metadata.Annotations["note"] != "kept" || tmpl.Spec.LoadBalancerType != apinetv1alpha1.LoadBalancerTypeInternal ||
		tmpl.Spec.NetworkRef.Name != "net" || !slices.Equal(tmpl.Spec.IPs, []apinetv1alpha1.IPAddr{"10.0.0.100"}) || len(tmpl.Spec.LoadBalancerPorts) != 2 ||
		len(tmpl.Spec.TopologySpreadConstraints) != 1 {
		t.Errorf("template %+v", tmpl)
	}

	insts := f.wantPlacements("lb-web-", "n1", "n2")
	for _, i := range insts {
		if i.Labels[apinetv1alpha1.LabelControllerRevisionHash] == "" || i.Labels["app"] != "web" || i.Annotations["note"] != "kept" {
			t.Errorf("instance %s labels %v annotations %v", i.Name, i.Labels, i.Annotations)
		}
		terms := i.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
		if len(terms) != 1 || terms[0].MatchFields[0].Values[0] != i.Spec.NodeRef.Name {
			t.Errorf("instance %s on %s pinned by %+v", i.Name, i.Spec.NodeRef.Name, terms)
		}
	}

	// IPs and ports changes roll out to the Instances.
	patch := client.MergeFrom(lb.DeepCopy())
	lb.Spec.IPs = append(lb.Spec.IPs, apinetv1alpha1.PublicIPRequest{Name: "vip2", IP: "10.0.0.101"})
	lb.Spec.Ports = lb.Spec.Ports[:1]
	if err := f.c.Patch(ctx, lb, patch); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 30*time.Second, "rolled out", func() error {
		_, insts, err := f.placements("lb-web-")
		if err != nil {
			return err
		}
		for _, i := range insts {
			if len(i.Spec.IPs) != 2 || len(i.Spec.LoadBalancerPorts) != 1 {
				return fmt.Errorf("%s: ips %v ports %v", i.Name, i.Spec.IPs, i.Spec.LoadBalancerPorts)
			}
		}
		return nil
	})

	// A deleted Instance is replaced; a new Node gets one; a deleted Node's
	// Instance goes.
	if err := f.c.Delete(ctx, &insts[0]); err != nil {
		t.Fatal(err)
	}
	n3 := f.node("n3", map[string]string{host: "n3"})
	f.wantPlacements("lb-web-", "n1", "n2", "n3")
	if err := f.c.Delete(ctx, n3); err != nil {
		t.Fatal(err)
	}
	insts = f.wantPlacements("lb-web-", "n1", "n2")

	// An orphan that matches the selector is adopted; as a second Instance
	// on its node, one of the two goes: the older, or at the same second
	// the one whose name sorts first, stays. An owned Instance that stops
	// matching is released, and its node gets a new one.
	orphan := &apinetv1alpha1.Instance{ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: "lb-web-orphan", Labels: insts[0].Labels},
		Spec: *insts[0].Spec.DeepCopy()}
	if err := f.c.Create(ctx, orphan); err != nil {
		t.Fatal(err)
	}
	keep, drop := &insts[0], orphan
	if keep.CreationTimestamp.Equal(&orphan.CreationTimestamp) && orphan.Name < keep.Name {
		keep, drop = orphan, keep
	}
	testenv.Eventually(t, 30*time.Second, drop.Name+" removed, "+keep.Name+" kept", func() error {
		if err := f.c.Get(ctx, client.ObjectKeyFromObject(drop), &apinetv1alpha1.Instance{}); !apierrors.IsNotFound(err) {
			return fmt.Errorf("%s: %v", drop.Name, err)
		}
		kept := &apinetv1alpha1.Instance{}
		if err := f.c.Get(ctx, client.ObjectKeyFromObject(keep), kept); err != nil {
			return err
		}
		if ref := metav1.GetControllerOf(kept); ref == nil || ref.UID != ds.UID {
			return fmt.Errorf("%s controlled by %+v", kept.Name, ref)
		}
		return nil
	})
	f.wantPlacements("lb-web-", "n1", "n2")
	released := keep
	if err := f.c.Get(ctx, client.ObjectKeyFromObject(released), released); err != nil {
		t.Fatal(err)
	}
	unlabel := client.MergeFrom(released.DeepCopy())
	released.Labels = map[string]string{"app": "other"}
	if err := f.c.Patch(ctx, released, unlabel); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 30*time.Second, "unmatched Instance released and replaced", func() error {
		if err := f.c.Get(ctx, client.ObjectKeyFromObject(released), released); err != nil {
			return err
		}
		if ref := metav1.GetControllerOf(released); ref != nil {
			return fmt.Errorf("still controlled by %s", ref.Name)
		}
		return nil
	})
	want := []string{"n1", "n2", released.Spec.NodeRef.Name}
	slices.Sort(want)
	f.wantPlacements("lb-web-", want...)
	if err := f.c.Delete(ctx, released); err != nil {
		t.Fatal(err)
	}

	// Deleting the LB removes its DaemonSet and Instances.
	if err := f.c.Delete(ctx, lb); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 30*time.Second, "DaemonSet and Instances gone", func() error {
		if err := f.c.Get(ctx, client.ObjectKeyFromObject(ds), ds); !apierrors.IsNotFound(err) {
			return fmt.Errorf("DaemonSet: %v", err)
		}
		if got, _, _ := f.placements("lb-web-"); len(got) != 0 {
			return fmt.Errorf("instances on %v", got)
		}
		return nil
	})
}

// TestScheduler: zones with instance anti-affinity put one Instance per
// zone; with every zone taken the next waits with an OutOfCapacity event
// and is bound when a Node of a new zone appears; node affinity and
// least-loaded choice.
func TestScheduler(t *testing.T) {
	f := start(t)
	ctx := context.Background()
	zone := apinetv1alpha1.LabelTopologyZone
	f.node("a1", map[string]string{zone: "a"})
	f.node("a2", map[string]string{zone: "a"})
	f.node("b1", map[string]string{zone: "b"})
	inst := func(name string, mutate func(*apinetv1alpha1.Instance)) *apinetv1alpha1.Instance {
		i := &apinetv1alpha1.Instance{ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: name, Labels: map[string]string{"app": "x"}},
			Spec: apinetv1alpha1.InstanceSpec{Type: apinetv1alpha1.InstanceTypeLoadBalancer, LoadBalancerType: apinetv1alpha1.LoadBalancerTypePublic}}
		if mutate != nil {
			mutate(i)
		}
		if err := f.c.Create(ctx, i); err != nil {
			t.Fatal(err)
		}
		return i
	}
	anti := func(i *apinetv1alpha1.Instance) {
		i.Spec.Affinity = &apinetv1alpha1.Affinity{InstanceAntiAffinity: &apinetv1alpha1.InstanceAntiAffinity{
			RequiredDuringSchedulingIgnoredDuringExecution: []apinetv1alpha1.InstanceAffinityTerm{{
				TopologyKey: zone, LabelSelector: &apinetv1alpha1.LabelSelector{MatchLabels: map[string]apinetv1alpha1.LabelValue{"app": "x"}}}}}}
	}
	inst("x-1", anti)
	inst("x-2", anti)
	got := f.wantPlacementsOf([]string{"x-1", "x-2"})
	zones := []string{}
	for _, n := range got {
		zones = append(zones, map[string]string{"a1": "a", "a2": "a", "b1": "b"}[n])
	}
	slices.Sort(zones)
	if !slices.Equal(zones, []string{"a", "b"}) {
		t.Errorf("anti-affinity placements %v (zones %v), want one per zone", got, zones)
	}
	f.wantOutOfCapacity(inst("x-3", anti))
	f.node("c1", map[string]string{zone: "c"})
	if got := f.wantPlacementsOf([]string{"x-3"}); got[0] != "c1" {
		t.Errorf("x-3 on %s, want c1 (the new zone)", got[0])
	}
	// The other way: an Instance without terms of its own that the
	// placed ones' terms select finds no zone either, until a new one.
	f.wantOutOfCapacity(inst("z", nil))
	f.node("d1", map[string]string{zone: "d"})
	if got := f.wantPlacementsOf([]string{"z"}); got[0] != "d1" {
		t.Errorf("z on %s, want d1 (the one zone without an Instance whose anti-affinity selects it)", got[0])
	}

	// Node affinity on a label; among the fitting nodes the least loaded.
	y := inst("y", func(i *apinetv1alpha1.Instance) {
		i.Labels = map[string]string{"app": "y"}
		i.Spec.Affinity = &apinetv1alpha1.Affinity{NodeAffinity: &apinetv1alpha1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &apinetv1alpha1.NodeSelector{
			NodeSelectorTerms: []apinetv1alpha1.NodeSelectorTerm{{MatchExpressions: []apinetv1alpha1.NodeSelectorRequirement{{Key: zone, Operator: "In", Values: []string{"a"}}}}}}}}
	})
	gotY := f.wantPlacementsOf([]string{"y"})[0]
	// Zone a: one of a1/a2 holds x-1 or x-2 (at most one), so y goes to the empty one.
	loaded := map[string]bool{}
	for _, n := range got {
		loaded[n] = true
	}
	if (gotY != "a1" && gotY != "a2") || loaded[gotY] {
		t.Errorf("y on %s; zone a nodes in use: %v", gotY, loaded)
	}
	_ = y
}

// wantOutOfCapacity waits for inst's OutOfCapacity event and checks that
// it is still unbound.
func (f *fixture) wantOutOfCapacity(inst *apinetv1alpha1.Instance) {
	f.t.Helper()
	ctx := context.Background()
	testenv.Eventually(f.t, 30*time.Second, inst.Name+" OutOfCapacity event", func() error {
		var evs eventsv1.EventList
		if err := f.c.List(ctx, &evs, client.InNamespace(f.ns)); err != nil {
			return err
		}
		for _, ev := range evs.Items {
			if ev.Regarding.Name == inst.Name && ev.Reason == loadbalancer.ReasonOutOfCapacity && strings.Contains(ev.Note, "No nodes available to schedule "+f.ns+"/"+inst.Name) {
				return nil
			}
		}
		return fmt.Errorf("none among %d", len(evs.Items))
	})
	if err := f.c.Get(ctx, client.ObjectKeyFromObject(inst), inst); err != nil || inst.Spec.NodeRef != nil {
		f.t.Fatalf("%s bound without room: %v %+v", inst.Name, err, inst.Spec.NodeRef)
	}
}

// wantPlacementsOf waits until the named Instances are bound and returns
// their nodes in order.
func (f *fixture) wantPlacementsOf(names []string) []string {
	f.t.Helper()
	out := make([]string, len(names))
	testenv.Eventually(f.t, 30*time.Second, strings.Join(names, ",")+" bound", func() error {
		for i, name := range names {
			inst := &apinetv1alpha1.Instance{}
			if err := f.c.Get(context.Background(), client.ObjectKey{Namespace: f.ns, Name: name}, inst); err != nil {
				return err
			}
			if inst.Spec.NodeRef == nil {
				return fmt.Errorf("%s unbound", name)
			}
			out[i] = inst.Spec.NodeRef.Name
		}
		return nil
	})
	return out
}
