package loadbalancer

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"slices"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	apinetv1alpha1 "github.com/ovnet-dev/ovnet/apis/core/v1alpha1"
	"github.com/ovnet-dev/ovnet/controllers/enqueue"
	"github.com/ovnet-dev/ovnet/controllers/index"
	"github.com/ovnet-dev/ovnet/controllers/internal/names"
	"github.com/ovnet-dev/ovnet/internal/patch"
)

// DaemonSetReconciler keeps one Instance per eligible Node for each
// DaemonSet (docs/loadbalancer.md; docs/design.md item 6).
type DaemonSetReconciler struct {
	client.Client
	// created remembers Instances created but not yet in the cache, per
	// DaemonSet, so that a reconcile racing its own creations does not
	// create twice.
	mu      sync.Mutex
	created map[types.UID]map[string]time.Time
}

// +kubebuilder:rbac:groups=core.apinet.ironcore.dev,resources=daemonsets,verbs=get;list;watch
// +kubebuilder:rbac:groups=core.apinet.ironcore.dev,resources=instances,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=core.apinet.ironcore.dev,resources=nodes,verbs=get;list;watch

func (r *DaemonSetReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	ds := &apinetv1alpha1.DaemonSet{}
	if err := r.Get(ctx, req.NamespacedName, ds); err != nil {
		// A gone DaemonSet's Instances go with it: they carry its owner
		// reference, and Kubernetes' garbage collector deletes them.
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !ds.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil
	}
	return r.reconcile(ctx, ds)
}

func (r *DaemonSetReconciler) reconcile(ctx context.Context, ds *apinetv1alpha1.DaemonSet) (ctrl.Result, error) {
	var nodes apinetv1alpha1.NodeList
	if err := r.List(ctx, &nodes); err != nil {
		return ctrl.Result{}, err
	}
	// Its own Instances and the orphans it may adopt, not every Instance
	// of the namespace; the cache's objects themselves: claim copies the
	// few it changes.
	var items []apinetv1alpha1.Instance
	for _, controller := range []string{string(ds.UID), index.NoController} {
		var list apinetv1alpha1.InstanceList
		if err := r.List(ctx, &list, client.InNamespace(ds.Namespace), client.MatchingFields{index.Controller: controller}, client.UnsafeDisableDeepCopy); err != nil {
			return ctrl.Result{}, err
		}
		items = append(items, list.Items...)
	}
	if r.waitingForCache(ds.UID, items) {
		return ctrl.Result{RequeueAfter: 200 * time.Millisecond}, nil
	}
	sel, err := metav1.LabelSelectorAsSelector(ds.Spec.Selector.AsMeta())
	if err != nil {
		return ctrl.Result{}, fmt.Errorf("DaemonSet %s selector: %w", ds.Name, err)
	}
	owned, err := r.claim(ctx, ds, sel, items)
	if err != nil {
		return ctrl.Result{}, err
	}
	byNode := map[string][]*apinetv1alpha1.Instance{}
	for _, inst := range owned {
		if node := nodeOf(inst); node != "" && inst.DeletionTimestamp.IsZero() {
			byNode[node] = append(byNode[node], inst)
		}
	}
	exists := map[string]bool{}
	for i := range nodes.Items {
		node := &nodes.Items[i]
		exists[node.Name] = true
		insts := byNode[node.Name]
		slices.SortFunc(insts, oldestFirst)
		switch {
		case !shouldRun(ds, node):
			if err := r.deleteAll(ctx, insts); err != nil {
				return ctrl.Result{}, err
			}
		case len(insts) == 0 && node.DeletionTimestamp.IsZero():
			if err := r.create(ctx, ds, node.Name); err != nil {
				return ctrl.Result{}, err
			}
		case len(insts) > 1:
			if err := r.deleteAll(ctx, insts[1:]); err != nil {
				return ctrl.Result{}, err
			}
		}
	}
	// docs/design.md item 6: Instances of Nodes that no longer exist go, bound or not.
	for node, insts := range byNode {
		if !exists[node] {
			if err := r.deleteAll(ctx, insts); err != nil {
				return ctrl.Result{}, err
			}
		}
	}
	return ctrl.Result{}, nil
}

// oldestFirst orders a node's Instances so the one kept is the oldest.
// Creation times have whole seconds, so ties go by name: an unstable order
// would let two reconciles on a cache that lags each keep a different one
// and delete both.
func oldestFirst(a, b *apinetv1alpha1.Instance) int {
	return cmp.Or(a.CreationTimestamp.Compare(b.CreationTimestamp.Time), strings.Compare(a.Name, b.Name))
}

// shouldRun: the template's nodeRef (if set) is the node, and the node
// matches the template's required node affinity.
func shouldRun(ds *apinetv1alpha1.DaemonSet, node *apinetv1alpha1.Node) bool {
	spec := &ds.Spec.Template.Spec
	if spec.NodeRef != nil && spec.NodeRef.Name != node.Name {
		return false
	}
	return NodeMatches(requiredNodeSelector(&apinetv1alpha1.Instance{Spec: *spec}), node)
}

// nodeOf is the node an instance is bound to, or pinned to by a single
// matchFields metadata.name term.
func nodeOf(inst *apinetv1alpha1.Instance) string {
	if inst.Spec.NodeRef != nil {
		return inst.Spec.NodeRef.Name
	}
	sel := requiredNodeSelector(inst)
	if sel == nil || len(sel.NodeSelectorTerms) != 1 {
		return ""
	}
	for _, f := range sel.NodeSelectorTerms[0].MatchFields {
		if f.Key == "metadata.name" && f.Operator == apinetv1alpha1.NodeSelectorOpIn && len(f.Values) == 1 {
			return f.Values[0]
		}
	}
	return ""
}

// claim adopts matching orphans, releases owned Instances that no longer
// match, rolls ips and ports out to the owned ones, and returns them.
// items are the cache's own objects: an Instance is copied before it is
// changed.
func (r *DaemonSetReconciler) claim(ctx context.Context, ds *apinetv1alpha1.DaemonSet, sel labels.Selector, items []apinetv1alpha1.Instance) ([]*apinetv1alpha1.Instance, error) {
	var owned []*apinetv1alpha1.Instance
	for i := range items {
		inst := &items[i]
		ref := metav1.GetControllerOf(inst)
		matches := sel.Matches(labels.Set(inst.Labels))
		switch {
		case ref != nil && ref.UID == ds.UID && !matches:
			inst = inst.DeepCopy()
			release := client.MergeFrom(inst.DeepCopy())
			inst.OwnerReferences = slices.DeleteFunc(inst.OwnerReferences, func(o metav1.OwnerReference) bool { return o.UID == ds.UID })
			if err := r.Patch(ctx, inst, release, fieldOwner); client.IgnoreNotFound(err) != nil {
				return nil, err
			}
			continue
		case ref == nil && matches && inst.DeletionTimestamp.IsZero():
			inst = inst.DeepCopy()
			adopt := client.MergeFromWithOptions(inst.DeepCopy(), client.MergeFromWithOptimisticLock{})
			if err := controllerutil.SetControllerReference(ds, inst, r.Scheme()); err != nil {
				return nil, err
			}
			if err := r.Patch(ctx, inst, adopt, fieldOwner); err != nil {
				return nil, client.IgnoreNotFound(err)
			}
		case ref == nil || ref.UID != ds.UID:
			continue
		}
		// An Instance this process has just written is rolled out to once
		// the cache has the write (its event brings the DaemonSet back).
		if !patch.Behind(inst) && (!slices.Equal(inst.Spec.IPs, ds.Spec.Template.Spec.IPs) ||
			!equality.Semantic.DeepEqual(inst.Spec.LoadBalancerPorts, ds.Spec.Template.Spec.LoadBalancerPorts)) {
			inst = inst.DeepCopy()
			before := inst.DeepCopy()
			inst.Spec.IPs = slices.Clone(ds.Spec.Template.Spec.IPs)
			inst.Spec.LoadBalancerPorts = slices.Clone(ds.Spec.Template.Spec.LoadBalancerPorts)
			if err := patch.Object(ctx, r.Client, before, inst, fieldOwner); client.IgnoreNotFound(err) != nil {
				return nil, fmt.Errorf("roll out to Instance %s: %w", inst.Name, err)
			}
		}
		owned = append(owned, inst)
	}
	return owned, nil
}

// InstanceFor is the Instance the DaemonSet runs on node: the template,
// pinned to the node by a required node-affinity term that replaces the
// template's terms (the scheduler then binds it).
func InstanceFor(ds *apinetv1alpha1.DaemonSet, node string) *apinetv1alpha1.Instance {
	tmpl := ds.Spec.Template.DeepCopy()
	prefix := ds.Name
	if len(prefix) > 52 {
		prefix = prefix[:52]
	}
	inst := &apinetv1alpha1.Instance{
		ObjectMeta: metav1.ObjectMeta{Namespace: ds.Namespace, Name: prefix + "-" + names.Random(10),
			Labels: apinetv1alpha1.StringLabels(tmpl.Metadata.Labels), Annotations: tmpl.Metadata.Annotations},
		Spec: tmpl.Spec,
	}
	if inst.Labels == nil {
		inst.Labels = map[string]string{}
	}
	inst.Labels[apinetv1alpha1.LabelControllerRevisionHash] = revisionHash(&ds.Spec.Template)
	if inst.Spec.Affinity == nil {
		inst.Spec.Affinity = &apinetv1alpha1.Affinity{}
	}
	inst.Spec.Affinity.NodeAffinity = &apinetv1alpha1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &apinetv1alpha1.NodeSelector{
		NodeSelectorTerms: []apinetv1alpha1.NodeSelectorTerm{{MatchFields: []apinetv1alpha1.NodeSelectorRequirement{{
			Key: "metadata.name", Operator: apinetv1alpha1.NodeSelectorOpIn, Values: []string{node}}}}}}}
	inst.Spec.NodeRef = nil
	return inst
}

func (r *DaemonSetReconciler) create(ctx context.Context, ds *apinetv1alpha1.DaemonSet, node string) error {
	inst := InstanceFor(ds, node)
	if err := controllerutil.SetControllerReference(ds, inst, r.Scheme()); err != nil {
		return err
	}
	if err := r.Create(ctx, inst, fieldOwner); err != nil {
		return fmt.Errorf("create Instance for node %s: %w", node, err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.created == nil {
		r.created = map[types.UID]map[string]time.Time{}
	}
	if r.created[ds.UID] == nil {
		r.created[ds.UID] = map[string]time.Time{}
	}
	r.created[ds.UID][inst.Name] = time.Now()
	return nil
}

// waitingForCache reports whether Instances this controller created for
// the DaemonSet are not in the cache yet (for at most 10 seconds).
func (r *DaemonSetReconciler) waitingForCache(ds types.UID, items []apinetv1alpha1.Instance) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for name, at := range r.created[ds] {
		seen := slices.ContainsFunc(items, func(i apinetv1alpha1.Instance) bool { return i.Name == name })
		if seen || time.Since(at) > 10*time.Second {
			delete(r.created[ds], name)
			continue
		}
		return true
	}
	return false
}

func (r *DaemonSetReconciler) deleteAll(ctx context.Context, insts []*apinetv1alpha1.Instance) error {
	for _, inst := range insts {
		if err := r.Delete(ctx, inst, client.Preconditions{UID: &inst.UID}); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("delete Instance %s: %w", inst.Name, err)
		}
	}
	return nil
}

func revisionHash(t *apinetv1alpha1.InstanceTemplate) string {
	b, _ := json.Marshal(t)
	h := fnv.New32a()
	_, _ = h.Write(b)
	return fmt.Sprintf("%08x", h.Sum32())
}

func setupDaemonSet(mgr manager.Manager, c client.Client) error {
	return ctrl.NewControllerManagedBy(mgr).Named("daemonset").
		For(&apinetv1alpha1.DaemonSet{}).
		Owns(&apinetv1alpha1.Instance{}).
		// Node created or deleted (not updated): every DaemonSet looks again.
		Watches(&apinetv1alpha1.Node{}, handler.EnqueueRequestsFromMapFunc(allDaemonSets(c)), builder.WithPredicates(createOrDelete())).
		// An orphan Instance goes to the DaemonSets whose selector matches it.
		Watches(&apinetv1alpha1.Instance{}, handler.EnqueueRequestsFromMapFunc(adopters(c))).
		Complete(patch.RequeueConflicts(&DaemonSetReconciler{Client: c}))
}

// adopters maps an Instance without a controlling owner to the DaemonSets
// of its namespace that select it; an owned one (every Instance a
// DaemonSet made) costs no list.
func adopters(c client.Client) handler.MapFunc {
	selecting := enqueue.Listed(c, func() client.ObjectList { return &apinetv1alpha1.DaemonSetList{} }, func(inst, ds client.Object) bool {
		sel, err := metav1.LabelSelectorAsSelector(ds.(*apinetv1alpha1.DaemonSet).Spec.Selector.AsMeta())
		return err == nil && sel.Matches(labels.Set(inst.GetLabels()))
	})
	return func(ctx context.Context, o client.Object) []reconcile.Request {
		if metav1.GetControllerOf(o) != nil || !o.GetDeletionTimestamp().IsZero() {
			return nil
		}
		return selecting(ctx, o)
	}
}

func allDaemonSets(c client.Client) handler.MapFunc {
	return enqueue.Listed(c, func() client.ObjectList { return &apinetv1alpha1.DaemonSetList{} }, nil)
}
