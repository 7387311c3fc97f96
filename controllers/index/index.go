// Package index registers the cache field indexes that controllers of
// several packages list by, so that a reconcile reads only the objects it
// needs instead of copying a whole namespace.
package index

import (
	"context"
	"fmt"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	apinetv1alpha1 "github.com/ovnet-dev/ovnet/apis/core/v1alpha1"
)

const (
	// ClaimUID indexes IPs and the lock objects (IPAddresses, NetworkIDs)
	// by the UID of their claimer.
	ClaimUID = "spec.claimRef.uid"
	// Network indexes NetworkInterfaces, LoadBalancers, NATGateways and
	// Instances by the name of their Network.
	Network = "spec.networkRef.name"
	// Controller indexes Instances by the UID of their controlling owner
	// (a DaemonSet), or NoController: a DaemonSet reads its own and the
	// orphans it may adopt, not every Instance of the namespace.
	Controller = "metadata.ownerReferences.controller"
	// NoController is the Controller index value of an Instance without a
	// controlling owner.
	NoController = "none"
	// AntiAffinity indexes Instances that have required instance
	// anti-affinity terms (HasAntiAffinity): the scheduler checks a new
	// Instance without terms of its own only against those.
	AntiAffinity = "spec.affinity.instanceAntiAffinity"
	// HasAntiAffinity is the AntiAffinity index value.
	HasAntiAffinity = "required"
	// NamedIPs indexes LoadBalancers and NATGateways by the addresses
	// their spec.ips name: an IP's event finds the few that name its
	// address, not every one of the namespace.
	NamedIPs = "spec.ips.ip"
)

// registered remembers the indexers (one per manager) that have the
// indexes already: an informer refuses a second indexer of the same name.
var registered sync.Map

// Register adds the shared indexes to idx once; later calls for the same
// indexer do nothing, so every package's Setup may call it.
func Register(ctx context.Context, idx client.FieldIndexer) error {
	if _, done := registered.LoadOrStore(idx, true); done {
		return nil
	}
	for _, i := range indexes {
		if err := idx.IndexField(ctx, i.obj, i.field, i.values); err != nil {
			registered.Delete(idx)
			return fmt.Errorf("index %s by %s: %w", i.what, i.field, err)
		}
	}
	return nil
}

var indexes = []struct {
	what   string
	obj    client.Object
	field  string
	values client.IndexerFunc
}{
	{"IPs", &apinetv1alpha1.IP{}, ClaimUID, IPClaimer},
	{"IPAddresses", &apinetv1alpha1.IPAddress{}, ClaimUID, func(o client.Object) []string {
		return []string{string(o.(*apinetv1alpha1.IPAddress).Spec.ClaimRef.UID)}
	}},
	{"NetworkIDs", &apinetv1alpha1.NetworkID{}, ClaimUID, func(o client.Object) []string {
		return []string{string(o.(*apinetv1alpha1.NetworkID).Spec.ClaimRef.UID)}
	}},
	{"NetworkInterfaces", &apinetv1alpha1.NetworkInterface{}, Network, func(o client.Object) []string {
		return []string{o.(*apinetv1alpha1.NetworkInterface).Spec.NetworkRef.Name}
	}},
	{"LoadBalancers", &apinetv1alpha1.LoadBalancer{}, Network, func(o client.Object) []string {
		return []string{o.(*apinetv1alpha1.LoadBalancer).Spec.NetworkRef.Name}
	}},
	{"NATGateways", &apinetv1alpha1.NATGateway{}, Network, func(o client.Object) []string {
		return []string{o.(*apinetv1alpha1.NATGateway).Spec.NetworkRef.Name}
	}},
	{"Instances", &apinetv1alpha1.Instance{}, Network, func(o client.Object) []string {
		return []string{o.(*apinetv1alpha1.Instance).Spec.NetworkRef.Name}
	}},
	{"Instances", &apinetv1alpha1.Instance{}, Controller, InstanceController},
	{"Instances", &apinetv1alpha1.Instance{}, AntiAffinity, InstanceAntiAffinity},
	{"LoadBalancers", &apinetv1alpha1.LoadBalancer{}, NamedIPs, LoadBalancerIPs},
	{"NATGateways", &apinetv1alpha1.NATGateway{}, NamedIPs, NATGatewayIPs},
}

// IPClaimer is the ClaimUID index of an IP: its claimer's UID.
func IPClaimer(o client.Object) []string {
	if ref := o.(*apinetv1alpha1.IP).Spec.ClaimRef; ref != nil && ref.UID != "" {
		return []string{string(ref.UID)}
	}
	return nil
}

// InstanceController is the Controller index of an Instance: its
// controlling owner's UID, or NoController.
func InstanceController(o client.Object) []string {
	if ref := metav1.GetControllerOf(o); ref != nil {
		return []string{string(ref.UID)}
	}
	return []string{NoController}
}

// InstanceAntiAffinity is the AntiAffinity index of an Instance.
func InstanceAntiAffinity(o client.Object) []string {
	if a := o.(*apinetv1alpha1.Instance).Spec.Affinity; a != nil && a.InstanceAntiAffinity != nil &&
		len(a.InstanceAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution) > 0 {
		return []string{HasAntiAffinity}
	}
	return nil
}

// LoadBalancerIPs is the NamedIPs index of a LoadBalancer.
func LoadBalancerIPs(o client.Object) []string {
	return named(o.(*apinetv1alpha1.LoadBalancer).Spec.IPs, func(e apinetv1alpha1.PublicIPRequest) apinetv1alpha1.IPAddr { return e.IP })
}

// NATGatewayIPs is the NamedIPs index of a NATGateway.
func NATGatewayIPs(o client.Object) []string {
	return named(o.(*apinetv1alpha1.NATGateway).Spec.IPs, func(e apinetv1alpha1.NATGatewayIP) apinetv1alpha1.IPAddr { return e.IP })
}

// named returns the addresses the entries give (those without one are
// still to be allocated).
func named[E any](entries []E, ip func(E) apinetv1alpha1.IPAddr) []string {
	var out []string
	for _, e := range entries {
		if a := ip(e); a != "" {
			out = append(out, string(a))
		}
	}
	return out
}
