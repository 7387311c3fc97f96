package loadbalancer

import (
	"context"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	apinetv1alpha1 "github.com/ovnet-dev/ovnet/apis/core/v1alpha1"
	"github.com/ovnet-dev/ovnet/controllers/enqueue"
	"github.com/ovnet-dev/ovnet/controllers/index"
	"github.com/ovnet-dev/ovnet/internal/patch"
)

// Setup registers the LoadBalancer, DaemonSet and scheduler controllers.
func Setup(mgr manager.Manager) error {
	if err := index.Register(context.Background(), mgr.GetFieldIndexer()); err != nil {
		return err
	}
	c := mgr.GetClient()
	if err := ctrl.NewControllerManagedBy(mgr).Named("loadbalancer").
		For(&apinetv1alpha1.LoadBalancer{}).
		Owns(&apinetv1alpha1.DaemonSet{}).
		Owns(&apinetv1alpha1.LoadBalancerRouting{}).
		// Target selectors follow the NICs of the namespace.
		Watches(&apinetv1alpha1.NetworkInterface{}, handler.EnqueueRequestsFromMapFunc(selectingLoadBalancers(c))).
		Complete(patch.RequeueConflicts(&LoadBalancerReconciler{Client: c})); err != nil {
		return err
	}
	if err := ctrl.NewControllerManagedBy(mgr).Named("daemonset").
		For(&apinetv1alpha1.DaemonSet{}).
		Owns(&apinetv1alpha1.Instance{}).
		// Node created or deleted (not updated): every DaemonSet looks again.
		Watches(&apinetv1alpha1.Node{}, handler.EnqueueRequestsFromMapFunc(allDaemonSets(c)), builder.WithPredicates(createOrDelete())).
		Complete(patch.RequeueConflicts(&DaemonSetReconciler{Client: c})); err != nil {
		return err
	}
	return ctrl.NewControllerManagedBy(mgr).Named("scheduler").
		For(&apinetv1alpha1.Instance{}).
		// A new Node may take the Instances that found none.
		Watches(&apinetv1alpha1.Node{}, handler.EnqueueRequestsFromMapFunc(unboundInstances(c)), builder.WithPredicates(createOrDelete())).
		WithOptions(controller.Options{MaxConcurrentReconciles: 1}).
		Complete(patch.RequeueConflicts(&Scheduler{Client: c, Recorder: mgr.GetEventRecorder("ovnet-scheduler")}))
}

func createOrDelete() predicate.Funcs {
	return predicate.Funcs{
		CreateFunc:  func(event.CreateEvent) bool { return true },
		DeleteFunc:  func(event.DeleteEvent) bool { return true },
		UpdateFunc:  func(event.UpdateEvent) bool { return false },
		GenericFunc: func(event.GenericEvent) bool { return false },
	}
}

func allDaemonSets(c client.Client) handler.MapFunc {
	return enqueue.Listed(c, func() client.ObjectList { return &apinetv1alpha1.DaemonSetList{} }, nil)
}

func unboundInstances(c client.Client) handler.MapFunc {
	return enqueue.Listed(c, func() client.ObjectList { return &apinetv1alpha1.InstanceList{} }, func(_, i client.Object) bool {
		return i.(*apinetv1alpha1.Instance).Spec.NodeRef == nil
	})
}

// selectingLoadBalancers maps a NIC to the LoadBalancers of its namespace
// that have a target selector.
func selectingLoadBalancers(c client.Client) handler.MapFunc {
	return enqueue.Listed(c, func() client.ObjectList { return &apinetv1alpha1.LoadBalancerList{} }, func(nic, o client.Object) bool {
		// Matched by network, not by selector: a NIC whose labels stop
		// matching must still wake the LB that routed to it.
		lb := o.(*apinetv1alpha1.LoadBalancer)
		return lb.Spec.TargetSelector != nil && lb.Spec.NetworkRef.Name == nic.(*apinetv1alpha1.NetworkInterface).Spec.NetworkRef.Name
	})
}
