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
	// Network indexes NetworkInterfaces and LoadBalancers by the name of
	// their Network.
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
	if err := idx.IndexField(ctx, &apinetv1alpha1.IP{}, ClaimUID, IPClaimer); err != nil {
		registered.Delete(idx)
		return fmt.Errorf("index IPs by claimer: %w", err)
	}
	if err := idx.IndexField(ctx, &apinetv1alpha1.IPAddress{}, ClaimUID, func(o client.Object) []string {
		return []string{string(o.(*apinetv1alpha1.IPAddress).Spec.ClaimRef.UID)}
	}); err != nil {
		registered.Delete(idx)
		return fmt.Errorf("index IPAddresses by claimer: %w", err)
	}
	if err := idx.IndexField(ctx, &apinetv1alpha1.NetworkID{}, ClaimUID, func(o client.Object) []string {
		return []string{string(o.(*apinetv1alpha1.NetworkID).Spec.ClaimRef.UID)}
	}); err != nil {
		registered.Delete(idx)
		return fmt.Errorf("index NetworkIDs by claimer: %w", err)
	}
	if err := idx.IndexField(ctx, &apinetv1alpha1.NetworkInterface{}, Network, func(o client.Object) []string {
		return []string{o.(*apinetv1alpha1.NetworkInterface).Spec.NetworkRef.Name}
	}); err != nil {
		registered.Delete(idx)
		return fmt.Errorf("index NetworkInterfaces by network: %w", err)
	}
	if err := idx.IndexField(ctx, &apinetv1alpha1.LoadBalancer{}, Network, func(o client.Object) []string {
		return []string{o.(*apinetv1alpha1.LoadBalancer).Spec.NetworkRef.Name}
	}); err != nil {
		registered.Delete(idx)
		return fmt.Errorf("index LoadBalancers by network: %w", err)
	}
	return nil
}

// IPClaimer is the ClaimUID index of an IP: its claimer's UID.
func IPClaimer(o client.Object) []string {
	if ref := o.(*apinetv1alpha1.IP).Spec.ClaimRef; ref != nil && ref.UID != "" {
		return []string{string(ref.UID)}
	}
	return nil
}
