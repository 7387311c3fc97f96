// Package index registers the cache field indexes that controllers of
// several packages list by, so that a reconcile reads only the objects it
// needs instead of copying a whole namespace.
package index

import (
	"context"
	"fmt"
	"sync"

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
}

// IPClaimer is the ClaimUID index of an IP: its claimer's UID.
func IPClaimer(o client.Object) []string {
	if ref := o.(*apinetv1alpha1.IP).Spec.ClaimRef; ref != nil && ref.UID != "" {
		return []string{string(ref.UID)}
	}
	return nil
}
