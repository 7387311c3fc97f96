// Package policy writes, for each NetworkPolicy, the NetworkPolicyRule of
// the same name (docs/policy.md; docs/design.md
// items 7 and 8): the Ready NetworkInterfaces it targets and
// its rules with their peers resolved to addresses. The OVN ACLs are
// written from the rule by controllers/ovntranslate (ovn/rows/policy.go).
package policy

import (
	"cmp"
	"context"
	"fmt"
	"net/netip"
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	apinetv1alpha1 "github.com/ovnet-dev/ovnet/apis/core/v1alpha1"
	"github.com/ovnet-dev/ovnet/controllers/enqueue"
	"github.com/ovnet-dev/ovnet/internal/patch"
)

// DefaultPriority of a policy without one.
const DefaultPriority = 1000

// NetworkPolicyReconciler keeps each policy's NetworkPolicyRule.
type NetworkPolicyReconciler struct {
	client.Client
}

// +kubebuilder:rbac:groups=core.apinet.ironcore.dev,resources=networkpolicies,verbs=get;list;watch
// +kubebuilder:rbac:groups=core.apinet.ironcore.dev,resources=networkpolicyrules,verbs=get;list;watch;create;update;patch;delete

func (r *NetworkPolicyReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	np := &apinetv1alpha1.NetworkPolicy{}
	if err := r.Get(ctx, req.NamespacedName, np); err != nil {
		// A gone policy's rule carries its owner reference: Kubernetes'
		// garbage collector deletes it.
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !np.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil
	}
	return ctrl.Result{}, r.reconcile(ctx, np)
}

func (r *NetworkPolicyReconciler) reconcile(ctx context.Context, np *apinetv1alpha1.NetworkPolicy) error {
	nw := &apinetv1alpha1.Network{}
	if err := r.Get(ctx, client.ObjectKey{Namespace: np.Namespace, Name: np.Spec.NetworkRef.Name}, nw); client.IgnoreNotFound(err) != nil {
		return err
	}
	var nics apinetv1alpha1.NetworkInterfaceList
	if err := r.List(ctx, &nics, client.InNamespace(np.Namespace)); err != nil {
		return err
	}
	var lbs apinetv1alpha1.LoadBalancerList
	if err := r.List(ctx, &lbs, client.InNamespace(np.Namespace)); err != nil {
		return err
	}
	want, err := RuleFor(np, nw, nics.Items, lbs.Items)
	if err != nil {
		return err
	}
	rule := &apinetv1alpha1.NetworkPolicyRule{ObjectMeta: metav1.ObjectMeta{Namespace: np.Namespace, Name: np.Name}}
	_, err = controllerutil.CreateOrUpdate(ctx, r.Client, rule, func() error {
		rule.NetworkRef, rule.Targets, rule.Priority = want.NetworkRef, want.Targets, want.Priority
		rule.IngressRules, rule.EgressRules = want.IngressRules, want.EgressRules
		return controllerutil.SetControllerReference(np, rule, r.Scheme())
	})
	if err != nil {
		return fmt.Errorf("NetworkPolicyRule %s: %w", np.Name, err)
	}
	return nil
}

// RuleFor computes a policy's NetworkPolicyRule: targets are the IPs of
// the Ready NICs of its network whose labels match its selector (sorted);
// per ingress/egress rule the ports as given, the ipBlocks of its peers,
// and the host prefixes of its object peers — Ready NICs of the network,
// or LoadBalancers of the network (docs/design.md item 8; entries without an IP are
// skipped).
func RuleFor(np *apinetv1alpha1.NetworkPolicy, nw *apinetv1alpha1.Network, nics []apinetv1alpha1.NetworkInterface, lbs []apinetv1alpha1.LoadBalancer) (*apinetv1alpha1.NetworkPolicyRule, error) {
	sel, err := metav1.LabelSelectorAsSelector(&np.Spec.NetworkInterfaceSelector)
	if err != nil {
		return nil, fmt.Errorf("networkInterfaceSelector: %w", err)
	}
	prio := int32(DefaultPriority)
	if np.Spec.Priority != nil {
		prio = *np.Spec.Priority
	}
	rule := &apinetv1alpha1.NetworkPolicyRule{
		NetworkRef: apinetv1alpha1.NetworkPolicyRuleNetworkRef{Name: np.Spec.NetworkRef.Name, UID: nw.UID},
		Priority:   &prio,
	}
	inNetwork := func(n *apinetv1alpha1.NetworkInterface) bool {
		return n.Spec.NetworkRef.Name == np.Spec.NetworkRef.Name && n.DeletionTimestamp.IsZero() &&
			n.Status.State == apinetv1alpha1.NetworkInterfaceStateReady
	}
	for i := range nics {
		n := &nics[i]
		if inNetwork(n) && sel.Matches(labels.Set(n.Labels)) {
			for _, ip := range n.Spec.IPs {
				rule.Targets = append(rule.Targets, apinetv1alpha1.TargetNetworkInterface{IP: ip, TargetRef: &apinetv1alpha1.LocalUIDReference{Name: n.Name, UID: n.UID}})
			}
		}
	}
	slices.SortFunc(rule.Targets, func(a, b apinetv1alpha1.TargetNetworkInterface) int {
		return cmp.Or(compareIP(a.IP, b.IP), cmp.Compare(a.TargetRef.Name, b.TargetRef.Name))
	})
	peers := func(list []apinetv1alpha1.NetworkPolicyPeer, ports []apinetv1alpha1.NetworkPolicyPort) (apinetv1alpha1.Rule, error) {
		out := apinetv1alpha1.Rule{NetworkPolicyPorts: ports}
		for _, p := range list {
			if p.IPBlock != nil {
				out.CIDRBlock = append(out.CIDRBlock, *p.IPBlock)
			}
			if p.ObjectSelector == nil {
				continue
			}
			os, err := metav1.LabelSelectorAsSelector(&p.ObjectSelector.LabelSelector)
			if err != nil {
				return out, fmt.Errorf("objectSelector: %w", err)
			}
			switch p.ObjectSelector.Kind {
			case "NetworkInterface":
				for i := range nics {
					if n := &nics[i]; inNetwork(n) && os.Matches(labels.Set(n.Labels)) {
						for _, ip := range n.Spec.IPs {
							out.ObjectIPs = append(out.ObjectIPs, hostPrefix(ip))
						}
					}
				}
			case "LoadBalancer":
				for i := range lbs {
					lb := &lbs[i]
					if lb.Spec.NetworkRef.Name != np.Spec.NetworkRef.Name || !os.Matches(labels.Set(lb.Labels)) {
						continue
					}
					for _, e := range lb.Spec.IPs {
						if e.IP != "" {
							out.ObjectIPs = append(out.ObjectIPs, hostPrefix(e.IP))
						}
					}
				}
			}
		}
		slices.SortFunc(out.ObjectIPs, func(a, b apinetv1alpha1.ObjectIP) int { return cmp.Compare(a.Prefix, b.Prefix) })
		return out, nil
	}
	for _, in := range np.Spec.Ingress {
		r, err := peers(in.From, in.Ports)
		if err != nil {
			return nil, err
		}
		rule.IngressRules = append(rule.IngressRules, r)
	}
	for _, eg := range np.Spec.Egress {
		r, err := peers(eg.To, eg.Ports)
		if err != nil {
			return nil, err
		}
		rule.EgressRules = append(rule.EgressRules, r)
	}
	return rule, nil
}

func hostPrefix(ip apinetv1alpha1.IPAddr) apinetv1alpha1.ObjectIP {
	a, err := netip.ParseAddr(string(ip))
	if err != nil {
		return apinetv1alpha1.ObjectIP{}
	}
	return apinetv1alpha1.ObjectIP{IPFamily: apinetv1alpha1.FamilyOf(ip), Prefix: apinetv1alpha1.IPPrefix(netip.PrefixFrom(a, a.BitLen()).String())}
}

func compareIP(a, b apinetv1alpha1.IPAddr) int {
	x, _ := netip.ParseAddr(string(a))
	y, _ := netip.ParseAddr(string(b))
	return x.Compare(y)
}

// Setup registers the controller: a policy is reconciled when it changes,
// when its rule changes, and when a NIC, LoadBalancer or Network of its
// namespace changes.
func Setup(mgr manager.Manager) error {
	c := mgr.GetClient()
	all := handler.EnqueueRequestsFromMapFunc(policiesOfNamespace(c))
	return ctrl.NewControllerManagedBy(mgr).Named("networkpolicy").
		For(&apinetv1alpha1.NetworkPolicy{}).
		Owns(&apinetv1alpha1.NetworkPolicyRule{}).
		Watches(&apinetv1alpha1.NetworkInterface{}, all).
		Watches(&apinetv1alpha1.LoadBalancer{}, all).
		Watches(&apinetv1alpha1.Network{}, all).
		Complete(patch.RequeueConflicts(&NetworkPolicyReconciler{Client: c}))
}

func policiesOfNamespace(c client.Client) handler.MapFunc {
	return enqueue.Listed(c, func() client.ObjectList { return &apinetv1alpha1.NetworkPolicyList{} }, nil)
}
