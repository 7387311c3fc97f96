// Package loadbalancer runs a LoadBalancer's API side (docs/loadbalancer.md;
// docs/design.md items 1, 6, 11 and 13): the LoadBalancer becomes a DaemonSet
// "lb-<name>", the DaemonSet one Instance per eligible Node, the scheduler
// binds Instances to Nodes, and — when spec.targetSelector is set — the
// LoadBalancerRouting (the backends) is written from the selected
// NetworkInterfaces. The OVN rows are written by controllers/ovntranslate
// (ovn/rows/loadbalancer.go).
package loadbalancer

import (
	"cmp"
	"context"
	"fmt"
	"net/netip"
	"slices"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	apinetv1alpha1 "github.com/ovnet-dev/ovnet/apis/core/v1alpha1"
	"github.com/ovnet-dev/ovnet/controllers/enqueue"
	"github.com/ovnet-dev/ovnet/controllers/index"
	"github.com/ovnet-dev/ovnet/internal/patch"
)

// LabelLoadBalancer is added to a LoadBalancer's DaemonSet selector and
// Instance template, so that its DaemonSet only ever claims its own
// Instances (an LB whose template has no labels would otherwise select
// every Instance of the namespace).
const LabelLoadBalancer = "apinet.ironcore.dev/load-balancer"

const fieldOwner = client.FieldOwner("ovnet-controller")

// DaemonSetName is the DaemonSet of a LoadBalancer.
func DaemonSetName(lb string) string { return "lb-" + lb }

// LoadBalancerReconciler keeps a LoadBalancer's DaemonSet (and, with a
// target selector, its routing) in line with it.
type LoadBalancerReconciler struct {
	client.Client
}

// +kubebuilder:rbac:groups=core.apinet.ironcore.dev,resources=loadbalancers,verbs=get;list;watch
// +kubebuilder:rbac:groups=core.apinet.ironcore.dev,resources=daemonsets,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=core.apinet.ironcore.dev,resources=loadbalancerroutings,verbs=get;list;watch;create;update;patch;delete

func (r *LoadBalancerReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	lb := &apinetv1alpha1.LoadBalancer{}
	if err := r.Get(ctx, req.NamespacedName, lb); err != nil {
		// A gone LoadBalancer's routing and DaemonSet carry its owner
		// reference: Kubernetes' garbage collector deletes them.
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !lb.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil
	}
	if err := r.applyDaemonSet(ctx, lb); err != nil {
		return ctrl.Result{}, err
	}
	if lb.Spec.TargetSelector != nil {
		return ctrl.Result{}, r.applyRouting(ctx, lb)
	}
	return ctrl.Result{}, nil
}

// DaemonSetFor is the DaemonSet spec of lb: its whole instance template
// (docs/design.md item 1: labels, annotations, affinity and topology spread too) with
// the LoadBalancer's type, network, IPs and ports, and a selector of its
// Instances (docs/design.md item 13: the template's labels when spec.selector is
// unset) plus LabelLoadBalancer.
func DaemonSetFor(lb *apinetv1alpha1.LoadBalancer) apinetv1alpha1.DaemonSetSpec {
	tmpl := *lb.Spec.Template.DeepCopy()
	if tmpl.Metadata.Labels == nil {
		tmpl.Metadata.Labels = map[string]apinetv1alpha1.LabelValue{}
	}
	tmpl.Metadata.Labels[LabelLoadBalancer] = apinetv1alpha1.LabelValue(lb.Name)
	var sel *apinetv1alpha1.LabelSelector
	if lb.Spec.Selector != nil {
		sel = lb.Spec.Selector.DeepCopy()
	} else {
		sel = &apinetv1alpha1.LabelSelector{}
		for k, v := range lb.Spec.Template.Metadata.Labels {
			if sel.MatchLabels == nil {
				sel.MatchLabels = map[string]apinetv1alpha1.LabelValue{}
			}
			sel.MatchLabels[k] = v
		}
	}
	if sel.MatchLabels == nil {
		sel.MatchLabels = map[string]apinetv1alpha1.LabelValue{}
	}
	sel.MatchLabels[LabelLoadBalancer] = apinetv1alpha1.LabelValue(lb.Name)
	tmpl.Spec.Type = apinetv1alpha1.InstanceTypeLoadBalancer
	tmpl.Spec.LoadBalancerType = lb.Spec.Type
	tmpl.Spec.NetworkRef = lb.Spec.NetworkRef
	tmpl.Spec.IPs = nil
	for _, ip := range lb.Spec.IPs {
		if ip.IP != "" {
			tmpl.Spec.IPs = append(tmpl.Spec.IPs, ip.IP)
		}
	}
	tmpl.Spec.LoadBalancerPorts = slices.Clone(lb.Spec.Ports)
	return apinetv1alpha1.DaemonSetSpec{Selector: sel, Template: tmpl}
}

func (r *LoadBalancerReconciler) applyDaemonSet(ctx context.Context, lb *apinetv1alpha1.LoadBalancer) error {
	ds := &apinetv1alpha1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Namespace: lb.Namespace, Name: DaemonSetName(lb.Name)}}
	if allocating(lb) {
		// A new DaemonSet waits for the addresses being allocated (the
		// LoadBalancer's write of them wakes us): its Instances are then
		// created with them, not created and written again.
		switch err := r.Get(ctx, client.ObjectKeyFromObject(ds), ds); {
		case apierrors.IsNotFound(err):
			return nil
		case err != nil:
			return err
		}
	}
	_, err := controllerutil.CreateOrUpdate(ctx, r.Client, ds, func() error {
		if ref := metav1.GetControllerOf(ds); ref != nil && ref.UID != lb.UID {
			return fmt.Errorf("DaemonSet %s belongs to %s %s", ds.Name, ref.Kind, ref.Name)
		}
		ds.Spec = DaemonSetFor(lb)
		return controllerutil.SetControllerReference(lb, ds, r.Scheme())
	})
	if err != nil {
		return fmt.Errorf("DaemonSet of LoadBalancer %s: %w", lb.Name, err)
	}
	return nil
}

// allocating reports whether some of a public lb's IPs are being allocated:
// an entry without address while the claim has not failed.
func allocating(lb *apinetv1alpha1.LoadBalancer) bool {
	if lb.Spec.Type != apinetv1alpha1.LoadBalancerTypePublic {
		return false
	}
	claim := apinetv1alpha1.ConditionCopy(lb.Status.Conditions, apinetv1alpha1.ConditionPublicIPsClaimed)
	if claim.Status == metav1.ConditionFalse && claim.Reason != "Pending" {
		return false
	}
	return slices.ContainsFunc(lb.Spec.IPs, func(ip apinetv1alpha1.PublicIPRequest) bool { return ip.IP == "" })
}

// RoutingFor lists the backends of lb among nics: those of its network
// that its target selector selects and that are not being deleted, each
// IP a destination, sorted by address.
func RoutingFor(lb *apinetv1alpha1.LoadBalancer, nics []apinetv1alpha1.NetworkInterface) []apinetv1alpha1.LoadBalancerDestination {
	var out []apinetv1alpha1.LoadBalancerDestination
	for i := range nics {
		nic := &nics[i]
		if nic.Spec.NetworkRef.Name != lb.Spec.NetworkRef.Name || !nic.DeletionTimestamp.IsZero() || !selects(lb.Spec.TargetSelector, nic.Labels) {
			continue
		}
		for _, ip := range nic.Spec.IPs {
			out = append(out, apinetv1alpha1.LoadBalancerDestination{IP: ip, TargetRef: &apinetv1alpha1.LoadBalancerTargetRef{
				UID: nic.UID, Name: nic.Name, NodeRef: nic.Spec.NodeRef}})
		}
	}
	slices.SortFunc(out, func(a, b apinetv1alpha1.LoadBalancerDestination) int {
		x, _ := netip.ParseAddr(string(a.IP))
		y, _ := netip.ParseAddr(string(b.IP))
		return cmp.Or(x.Compare(y), cmp.Compare(a.TargetRef.Name, b.TargetRef.Name))
	})
	return out
}

func (r *LoadBalancerReconciler) applyRouting(ctx context.Context, lb *apinetv1alpha1.LoadBalancer) error {
	// Only read (RoutingFor copies what it keeps): the cache's NICs, not
	// copies of the whole Network's on each of the LB's reconciles.
	var nics apinetv1alpha1.NetworkInterfaceList
	if err := r.List(ctx, &nics, client.InNamespace(lb.Namespace), client.MatchingFields{index.Network: lb.Spec.NetworkRef.Name}, client.UnsafeDisableDeepCopy); err != nil {
		return err
	}
	routing := &apinetv1alpha1.LoadBalancerRouting{ObjectMeta: metav1.ObjectMeta{Namespace: lb.Namespace, Name: lb.Name}}
	_, err := controllerutil.CreateOrUpdate(ctx, r.Client, routing, func() error {
		routing.Destinations = RoutingFor(lb, nics.Items)
		return controllerutil.SetControllerReference(lb, routing, r.Scheme())
	})
	if err != nil {
		return fmt.Errorf("routing of LoadBalancer %s: %w", lb.Name, err)
	}
	return nil
}

func setupLoadBalancer(mgr manager.Manager, c client.Client) error {
	return ctrl.NewControllerManagedBy(mgr).Named("loadbalancer").
		For(&apinetv1alpha1.LoadBalancer{}).
		Owns(&apinetv1alpha1.DaemonSet{}).
		Owns(&apinetv1alpha1.LoadBalancerRouting{}).
		// Target selectors follow the NICs of the namespace: their labels,
		// IPs and deletion (a spec change or a label change), not their
		// status writes.
		Watches(&apinetv1alpha1.NetworkInterface{}, handler.EnqueueRequestsFromMapFunc(selectingLoadBalancers(c)),
			builder.WithPredicates(predicate.Or[client.Object](predicate.GenerationChangedPredicate{}, predicate.LabelChangedPredicate{}))).
		Complete(patch.RequeueConflicts(&LoadBalancerReconciler{Client: c}))
}

// selectingLoadBalancers maps a NIC to the LoadBalancers of its namespace
// that have a target selector.
func selectingLoadBalancers(c client.Client) handler.MapFunc {
	// Matched by network, not by selector: a NIC whose labels stop
	// matching must still wake the LB that routed to it.
	return enqueue.ListedWhere(c, func() client.ObjectList { return &apinetv1alpha1.LoadBalancerList{} },
		index.Network, func(nic client.Object) string { return nic.(*apinetv1alpha1.NetworkInterface).Spec.NetworkRef.Name },
		func(_, o client.Object) bool { return o.(*apinetv1alpha1.LoadBalancer).Spec.TargetSelector != nil })
}
