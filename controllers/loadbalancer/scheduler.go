package loadbalancer

import (
	"context"
	"fmt"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	apinetv1alpha1 "github.com/ovnet-dev/ovnet/apis/core/v1alpha1"
	"github.com/ovnet-dev/ovnet/controllers/enqueue"
	"github.com/ovnet-dev/ovnet/controllers/index"
	"github.com/ovnet-dev/ovnet/internal/patch"
)

// ReasonOutOfCapacity: no Node can take an Instance.
const ReasonOutOfCapacity = "OutOfCapacity"

// Scheduler binds unbound Instances to Nodes (docs/loadbalancer.md): the
// feasible nodes (Feasible), then the least loaded. It runs one reconcile
// at a time and remembers its own bindings until the cache shows them, so
// that back-to-back decisions see each other.
type Scheduler struct {
	client.Client
	Recorder recorder.EventRecorder

	mu      sync.Mutex
	assumed map[types.UID]string // instance -> node, until the cache has the nodeRef
}

// +kubebuilder:rbac:groups=core.apinet.ironcore.dev,resources=instances,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=core.apinet.ironcore.dev,resources=nodes,verbs=get;list;watch

func (s *Scheduler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	inst := &apinetv1alpha1.Instance{}
	if err := s.Get(ctx, req.NamespacedName, inst); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if inst.Spec.NodeRef != nil || !inst.DeletionTimestamp.IsZero() {
		s.forget(inst.UID)
		return ctrl.Result{}, nil
	}
	// The lists are only read: the cache's objects, not copies.
	var nodeList apinetv1alpha1.NodeList
	if err := s.List(ctx, &nodeList, client.UnsafeDisableDeepCopy); err != nil {
		return ctrl.Result{}, err
	}
	nodes := make([]*apinetv1alpha1.Node, 0, len(nodeList.Items))
	byName := map[string]*apinetv1alpha1.Node{}
	for i := range nodeList.Items {
		if n := &nodeList.Items[i]; n.DeletionTimestamp.IsZero() {
			nodes = append(nodes, n)
			byName[n.Name] = n
		}
	}
	placed, err := s.placed(ctx, inst, byName)
	if err != nil {
		return ctrl.Result{}, err
	}
	feasible := Feasible(inst, nodes, placed)
	var load map[string]int
	if len(feasible) > 1 {
		// Only a choice needs the load of every node (a DaemonSet's
		// Instance is pinned to one).
		if load, err = s.load(ctx, inst); err != nil {
			return ctrl.Result{}, err
		}
	}
	node := LeastLoaded(feasible, load)
	if node == nil {
		s.Recorder.Eventf(inst, nil, corev1.EventTypeNormal, ReasonOutOfCapacity, "Scheduling", "No nodes available to schedule %s/%s on", inst.Namespace, inst.Name)
		return ctrl.Result{}, nil
	}
	s.assume(inst.UID, node.Name)
	patch := client.MergeFrom(inst.DeepCopy())
	inst.Spec.NodeRef = &corev1.LocalObjectReference{Name: node.Name}
	if err := s.Patch(ctx, inst, patch, fieldOwner); err != nil {
		s.forget(inst.UID)
		return ctrl.Result{}, client.IgnoreNotFound(fmt.Errorf("bind Instance %s to %s: %w", inst.Name, node.Name, err))
	}
	return ctrl.Result{}, nil
}

// placed returns the instances of inst's namespace on a node that its
// placement must be checked against: every one when inst has instance
// anti-affinity or topology spread terms of its own, else only those with
// anti-affinity terms (which might exclude inst), found by index, so that
// placing an Instance without such terms does not read the namespace.
func (s *Scheduler) placed(ctx context.Context, inst *apinetv1alpha1.Instance, byName map[string]*apinetv1alpha1.Node) ([]Placed, error) {
	opts := []client.ListOption{client.InNamespace(inst.Namespace), client.UnsafeDisableDeepCopy}
	if len(index.InstanceAntiAffinity(inst)) == 0 && len(inst.Spec.TopologySpreadConstraints) == 0 {
		opts = append(opts, client.MatchingFields{index.AntiAffinity: index.HasAntiAffinity})
	}
	var list apinetv1alpha1.InstanceList
	if err := s.List(ctx, &list, opts...); err != nil {
		return nil, err
	}
	var out []Placed
	for i := range list.Items {
		other := &list.Items[i]
		if other.UID == inst.UID {
			continue
		}
		if n := byName[s.nodeOfPlaced(other)]; n != nil {
			out = append(out, Placed{Instance: other, Node: n})
		}
	}
	return out, nil
}

// load counts the Instances of every namespace on each node, inst aside.
func (s *Scheduler) load(ctx context.Context, inst *apinetv1alpha1.Instance) (map[string]int, error) {
	var all apinetv1alpha1.InstanceList
	if err := s.List(ctx, &all, client.UnsafeDisableDeepCopy); err != nil {
		return nil, err
	}
	load := map[string]int{}
	for i := range all.Items {
		other := &all.Items[i]
		if node := s.nodeOfPlaced(other); node != "" && other.UID != inst.UID {
			load[node]++
		}
	}
	return load, nil
}

// nodeOfPlaced is an instance's node as far as the scheduler knows: its
// nodeRef, or its assumed binding.
func (s *Scheduler) nodeOfPlaced(inst *apinetv1alpha1.Instance) string {
	if inst.Spec.NodeRef != nil {
		s.forget(inst.UID)
		return inst.Spec.NodeRef.Name
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.assumed[inst.UID]
}

func (s *Scheduler) assume(uid types.UID, node string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.assumed == nil {
		s.assumed = map[types.UID]string{}
	}
	s.assumed[uid] = node
}

func (s *Scheduler) forget(uid types.UID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.assumed, uid)
}

func setupScheduler(mgr manager.Manager, c client.Client) error {
	return ctrl.NewControllerManagedBy(mgr).Named("scheduler").
		For(&apinetv1alpha1.Instance{}).
		// A new Node may take the Instances that found none.
		Watches(&apinetv1alpha1.Node{}, handler.EnqueueRequestsFromMapFunc(unboundInstances(c)), builder.WithPredicates(createOrDelete())).
		WithOptions(controller.Options{MaxConcurrentReconciles: 1}).
		Complete(patch.RequeueConflicts(&Scheduler{Client: c, Recorder: mgr.GetEventRecorder("ovnet-scheduler")}))
}

func unboundInstances(c client.Client) handler.MapFunc {
	return enqueue.Listed(c, func() client.ObjectList { return &apinetv1alpha1.InstanceList{} }, func(_, i client.Object) bool {
		return i.(*apinetv1alpha1.Instance).Spec.NodeRef == nil
	})
}
