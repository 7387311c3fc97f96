package nodeagent

import (
	"context"
	"fmt"
	"time"

	"github.com/go-logr/logr"
	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	apinetv1alpha1 "github.com/ovnet-dev/ovnet/apis/core/v1alpha1"
)

// +kubebuilder:rbac:groups=coordination.k8s.io,resources=leases,verbs=get;create;update

// leaseHolder creates and renews the agent Lease of node: while it is valid
// the controller leaves the agent's finalizer to the agent; once it has
// expired, the controller removes it from NICs being deleted. It keeps the
// Lease it last wrote and renews that: the agent neither caches nor lists
// Leases (its RBAC is get, create and update, and the own-node admission
// policy lets it write only its own Lease), and a renewal is one request.
type leaseHolder struct {
	// reader reads the API server directly (the manager's API reader).
	reader client.Reader
	writer client.Writer
	node   string
	lease  *coordinationv1.Lease
}

func (h *leaseHolder) renew(ctx context.Context, now time.Time) error {
	if h.lease != nil {
		setLease(h.lease, h.node, now)
		if err := h.writer.Update(ctx, h.lease, fieldOwner); err == nil {
			return nil
		}
		// Changed or deleted by someone else: read it again.
		h.lease = nil
	}
	lease := &coordinationv1.Lease{}
	key := client.ObjectKey{Namespace: apinetv1alpha1.NodeAgentLeaseNamespace, Name: apinetv1alpha1.NodeAgentLeaseName(h.node)}
	err := h.reader.Get(ctx, key, lease)
	switch {
	case apierrors.IsNotFound(err):
		lease = &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name}}
		lease.Spec.AcquireTime = &metav1.MicroTime{Time: now}
	case err != nil:
		return fmt.Errorf("get lease %s: %w", key, err)
	}
	setLease(lease, h.node, now)
	if lease.ResourceVersion == "" {
		err = h.writer.Create(ctx, lease, fieldOwner)
	} else {
		err = h.writer.Update(ctx, lease, fieldOwner)
	}
	if err != nil {
		return fmt.Errorf("write lease %s: %w", key, err)
	}
	h.lease = lease
	return nil
}

func setLease(lease *coordinationv1.Lease, node string, now time.Time) {
	lease.Spec.HolderIdentity = ptr.To(node)
	lease.Spec.LeaseDurationSeconds = ptr.To(int32(apinetv1alpha1.NodeAgentLeaseDuration / time.Second))
	lease.Spec.RenewTime = &metav1.MicroTime{Time: now}
}

// heartbeat renews the Lease every NodeAgentLeaseRenewal until ctx ends;
// a failed renewal is retried at the next tick (the Lease outlives a few).
func heartbeat(ctx context.Context, h *leaseHolder, log logr.Logger) {
	tick := time.NewTicker(apinetv1alpha1.NodeAgentLeaseRenewal)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if err := h.renew(ctx, time.Now()); err != nil {
				log.Error(err, "heartbeat")
			}
		}
	}
}
