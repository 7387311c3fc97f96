package main

import (
	"context"
	"fmt"
	"net/netip"
	"strconv"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	apinetv1alpha1 "github.com/ovnet-dev/ovnet/apis/core/v1alpha1"
)

// floorNamespace prefixes the namespaces of the API floor's copies of the
// population, one per try.
const floorNamespace = "bench-floor"

// apiFloorTries is how often the API floor is measured; the fastest try
// counts. A floor is the least the API server needs, and on a shared
// machine one try can be slowed by things that have nothing to do with
// it (single tries at 10k took from 43 to 84 s in runs of the same code).
const apiFloorTries = 2

// apiFloorWorkers is how many clients issue the API floor's writes.
const apiFloorWorkers = 16

// apiFloor measures the second floor of the cold entry: the fewest API
// writes this API needs for the population, issued by apiFloorWorkers
// parallel clients against the same API server, with no controller
// running. The population is created again (untimed) in namespace ns;
// then, timed, every object the controller created in coldNamespace is
// created there in its final form (IPs with their address, Instances then
// bound to their node as the scheduler does, NATTables, DaemonSets, routings, and a NetworkID and IPAddress
// lock for each one the controller took), every allocation the API's
// protocol records in a user object's spec is written once (a Network's
// spec.id with its annotations, a NIC's public IP addresses and NAT
// claims, a NATGateway's and LoadBalancer's addresses), and every Network,
// NIC, NATGateway and LoadBalancer gets one status write: its converged
// status. It returns the time and the writes.
func apiFloor(ctx context.Context, c client.Client, sc coldScale, ns string) (time.Duration, int, error) {
	var discard coldResult
	if err := createPopulation(ctx, c, sc, ns, &discard); err != nil {
		return 0, 0, fmt.Errorf("create the floor's population: %w", err)
	}
	var writes []func() error
	// The user's objects: one spec write where the protocol records an
	// allocation, one status write each.
	for _, pair := range []struct{ list, floorList client.ObjectList }{
		{&apinetv1alpha1.NetworkList{}, &apinetv1alpha1.NetworkList{}},
		{&apinetv1alpha1.NetworkInterfaceList{}, &apinetv1alpha1.NetworkInterfaceList{}},
		{&apinetv1alpha1.NATGatewayList{}, &apinetv1alpha1.NATGatewayList{}},
		{&apinetv1alpha1.LoadBalancerList{}, &apinetv1alpha1.LoadBalancerList{}},
	} {
		converged, err := listed(ctx, c, pair.list, coldNamespace)
		if err != nil {
			return 0, 0, err
		}
		fresh, err := listed(ctx, c, pair.floorList, ns)
		if err != nil {
			return 0, 0, err
		}
		for _, obj := range fresh {
			final, ok := converged[obj.GetName()]
			if !ok {
				return 0, 0, fmt.Errorf("%T %s: not in the converged population", obj, obj.GetName())
			}
			spec, status := converge(obj, final)
			if !equality.Semantic.DeepEqual(obj, spec) {
				writes = append(writes, func() error { return c.Patch(ctx, spec, client.MergeFrom(obj)) })
			}
			writes = append(writes, func() error { return c.Status().Patch(ctx, status, client.MergeFrom(obj)) })
		}
	}
	// What the controller created, in its final form.
	created, err := createdObjects(ctx, c, ns)
	if err != nil {
		return 0, 0, err
	}
	// The requests sent: one per write, two for a bound Instance.
	requests := len(writes) + len(created)
	for _, obj := range created {
		inst, ok := obj.(*apinetv1alpha1.Instance)
		if !ok || inst.Spec.NodeRef == nil {
			writes = append(writes, func() error { return c.Create(ctx, obj) })
			continue
		}
		// The scheduler binds an Instance after its creation (spec.nodeRef
		// is set once): two requests, in order.
		requests++
		node := inst.Spec.NodeRef
		inst.Spec.NodeRef = nil
		writes = append(writes, func() error {
			if err := c.Create(ctx, inst); err != nil {
				return err
			}
			before := inst.DeepCopy()
			inst.Spec.NodeRef = node
			return c.Patch(ctx, inst, client.MergeFrom(before))
		})
	}
	start := time.Now()
	if err := parallel(apiFloorWorkers, len(writes), func(i int) error { return writes[i]() }); err != nil {
		return 0, 0, fmt.Errorf("API floor: %w", err)
	}
	return time.Since(start), requests, nil
}

// listed lists a kind in namespace ns by name.
func listed(ctx context.Context, c client.Client, list client.ObjectList, ns string) (map[string]client.Object, error) {
	if err := c.List(ctx, list, client.InNamespace(ns)); err != nil {
		return nil, err
	}
	objs, err := items(list)
	if err != nil {
		return nil, err
	}
	out := map[string]client.Object{}
	for _, o := range objs {
		out[o.GetName()] = o
	}
	return out, nil
}

// items are the objects of a list.
func items(list client.ObjectList) ([]client.Object, error) {
	objs, err := meta.ExtractList(list)
	if err != nil {
		return nil, err
	}
	out := make([]client.Object, len(objs))
	for i, o := range objs {
		out[i] = o.(client.Object)
	}
	return out, nil
}

// converge returns two copies of the floor's object obj: one with final's
// spec and annotations (the allocations), one with final's status.
func converge(obj, final client.Object) (spec, status client.Object) {
	spec, status = obj.DeepCopyObject().(client.Object), obj.DeepCopyObject().(client.Object)
	if len(final.GetAnnotations()) > 0 {
		spec.SetAnnotations(final.GetAnnotations())
	}
	switch f := final.(type) {
	case *apinetv1alpha1.Network:
		spec.(*apinetv1alpha1.Network).Spec = f.Spec
		status.(*apinetv1alpha1.Network).Status = f.Status
	case *apinetv1alpha1.NetworkInterface:
		spec.(*apinetv1alpha1.NetworkInterface).Spec = f.Spec
		status.(*apinetv1alpha1.NetworkInterface).Status = f.Status
	case *apinetv1alpha1.NATGateway:
		spec.(*apinetv1alpha1.NATGateway).Spec = f.Spec
		status.(*apinetv1alpha1.NATGateway).Status = f.Status
	case *apinetv1alpha1.LoadBalancer:
		spec.(*apinetv1alpha1.LoadBalancer).Spec = f.Spec
		status.(*apinetv1alpha1.LoadBalancer).Status = f.Status
	}
	return spec, status
}

// createdObjects copies, into namespace ns, every object the controller
// created for coldNamespace, and a NetworkID and an IPAddress lock for each
// it holds (under names of their own: locks are cluster-wide).
func createdObjects(ctx context.Context, c client.Client, ns string) ([]client.Object, error) {
	var out []client.Object
	for _, list := range []client.ObjectList{&apinetv1alpha1.IPList{}, &apinetv1alpha1.NATTableList{},
		&apinetv1alpha1.DaemonSetList{}, &apinetv1alpha1.InstanceList{}, &apinetv1alpha1.LoadBalancerRoutingList{}} {
		if err := c.List(ctx, list, client.InNamespace(coldNamespace)); err != nil {
			return nil, err
		}
		objs, err := items(list)
		if err != nil {
			return nil, err
		}
		for _, o := range objs {
			o.SetNamespace(ns)
			// Owners are the cold namespace's; the garbage collector would
			// delete a copy that names them.
			o.SetOwnerReferences(nil)
			clearServerFields(o)
			out = append(out, o)
		}
	}
	var ids apinetv1alpha1.NetworkIDList
	if err := c.List(ctx, &ids); err != nil {
		return nil, err
	}
	taken := map[string]bool{}
	for _, id := range ids.Items {
		taken[id.Name] = true
	}
	next := int64(2147483647)
	for _, id := range ids.Items {
		if id.Spec.ClaimRef.Namespace != coldNamespace {
			continue // an earlier try's copy
		}
		for taken[strconv.FormatInt(next, 10)] {
			next--
		}
		copied := &apinetv1alpha1.NetworkID{ObjectMeta: metav1.ObjectMeta{Name: strconv.FormatInt(next, 10), Finalizers: id.Finalizers},
			Spec: id.Spec}
		copied.Spec.ClaimRef.Namespace, copied.Spec.ClaimRef.UID = ns, ""
		next--
		out = append(out, copied)
	}
	var addrs apinetv1alpha1.IPAddressList
	if err := c.List(ctx, &addrs); err != nil {
		return nil, err
	}
	used := map[string]bool{}
	for _, a := range addrs.Items {
		used[a.Name] = true
	}
	addr := netip.MustParseAddr("10.255.0.0")
	for _, a := range addrs.Items {
		if a.Spec.ClaimRef.Namespace != coldNamespace {
			continue // an earlier try's copy
		}
		for addr = addr.Next(); used[addr.String()]; addr = addr.Next() {
		}
		copied := &apinetv1alpha1.IPAddress{ObjectMeta: metav1.ObjectMeta{Name: addr.String(), Finalizers: a.Finalizers},
			Spec: apinetv1alpha1.IPAddressSpec{IP: apinetv1alpha1.IPAddr(addr.String()), ClaimRef: a.Spec.ClaimRef}}
		copied.Spec.ClaimRef.Namespace, copied.Spec.ClaimRef.UID = ns, ""
		out = append(out, copied)
	}
	return out, nil
}

func clearServerFields(o client.Object) {
	o.SetResourceVersion("")
	o.SetUID("")
	o.SetCreationTimestamp(metav1.Time{})
	o.SetManagedFields(nil)
	o.SetGeneration(0)
}
