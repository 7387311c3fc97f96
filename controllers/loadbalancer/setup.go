package loadbalancer

import (
	"context"

	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	"github.com/ovnet-dev/ovnet/controllers/index"
)

// Setup registers the LoadBalancer, DaemonSet and scheduler controllers.
func Setup(mgr manager.Manager) error {
	if err := index.Register(context.Background(), mgr.GetFieldIndexer()); err != nil {
		return err
	}
	c := mgr.GetClient()
	if err := setupLoadBalancer(mgr, c); err != nil {
		return err
	}
	if err := setupDaemonSet(mgr, c); err != nil {
		return err
	}
	return setupScheduler(mgr, c)
}

// createOrDelete passes a Node's creation and deletion, not its updates.
func createOrDelete() predicate.Funcs {
	return predicate.Funcs{
		CreateFunc:  func(event.CreateEvent) bool { return true },
		DeleteFunc:  func(event.DeleteEvent) bool { return true },
		UpdateFunc:  func(event.UpdateEvent) bool { return false },
		GenericFunc: func(event.GenericEvent) bool { return false },
	}
}
