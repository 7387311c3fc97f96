package ipam

import (
	"context"
	"fmt"

	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	apinetv1alpha1 "github.com/ovnet-dev/ovnet/apis/core/v1alpha1"
	"github.com/ovnet-dev/ovnet/controllers/index"
)

// Options configure the allocation controllers.
type Options struct {
	IPPool *IPPool
	IDPool *IDPool
	// Transit, when set, hands out the addresses of the Networks' gateway
	// ports (only where the Networks are translated to OVN); the OVN
	// translator reads them with the same allocator.
	Transit *Addresses
}

// Setup registers the field indexes, the pools' views of taken values and
// every allocation controller with mgr.
func Setup(ctx context.Context, mgr manager.Manager, opts Options) error {
	idx := mgr.GetFieldIndexer()
	if err := idx.IndexField(ctx, &apinetv1alpha1.IP{}, indexIPAddress, func(o client.Object) []string {
		if ip := o.(*apinetv1alpha1.IP).Spec.IP; ip != "" {
			return []string{canonical(ip)}
		}
		return nil
	}); err != nil {
		return fmt.Errorf("index IPs by address: %w", err)
	}
	if err := index.Register(ctx, idx); err != nil {
		return err
	}
	for _, kind := range Claimers {
		// Claimers by the literal addresses they ask for: an IP's change
		// wakes only those, not every claimer of the namespace.
		if err := idx.IndexField(ctx, kind.New(), indexRequestedIP, func(o client.Object) []string {
			var out []string
			for _, e := range kind.requests(o) {
				if e.ip != "" {
					out = append(out, canonical(e.ip))
				}
			}
			return out
		}); err != nil {
			return fmt.Errorf("index %s by requested address: %w", kind.Resource, err)
		}
	}
	addresses, err := NewAddresses(ctx, mgr, opts.IPPool)
	if err != nil {
		return err
	}
	ids, err := NewNetworkIDs(ctx, mgr, opts.IDPool)
	if err != nil {
		return err
	}

	// Allocation is safe to run in parallel (the manager's
	// --concurrent-reconciles): the lock objects serialise it. Status and
	// claim writes are locked (internal/patch): a conflict is a short
	// requeue, not an error with backoff.
	d := deps{mgr: mgr, c: mgr.GetClient(), reader: mgr.GetAPIReader(), rec: mgr.GetEventRecorder("ovnet-controller")}
	for _, setup := range []func(deps) error{
		func(d deps) error { return setupIP(d, addresses) },
		func(d deps) error { return setupNetwork(d, ids, opts.Transit) },
		setupReleasers, setupClaims, setupClaimGC,
	} {
		if err := setup(d); err != nil {
			return err
		}
	}
	return nil
}

// deps is what every controller of the package is built from.
type deps struct {
	mgr    manager.Manager
	c      client.Client
	reader client.Reader
	rec    recorder.EventRecorder
}
