package controllers

import (
	coordinationv1 "k8s.io/api/coordination/v1"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	apinetv1alpha1 "github.com/ovnet-dev/ovnet/apis/core/v1alpha1"
)

// CacheOptions is the manager cache of ovnet-controller: managedFields
// are never read, and not caching them halves the memory and the deep
// copies of large lists; of the Leases only the node agents' are watched.
func CacheOptions() cache.Options {
	return cache.Options{
		DefaultTransform: cache.TransformStripManagedFields(),
		ByObject: map[client.Object]cache.ByObject{
			&coordinationv1.Lease{}: {Namespaces: map[string]cache.Config{apinetv1alpha1.NodeAgentLeaseNamespace: {}}},
		},
	}
}
