package ovntranslate

import (
	"context"
	"fmt"
	"net/netip"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"

	apinetv1alpha1 "github.com/ovnet-dev/ovnet/apis/core/v1alpha1"
	"github.com/ovnet-dev/ovnet/controllers/publicip"
	"github.com/ovnet-dev/ovnet/internal/patch"
	"github.com/ovnet-dev/ovnet/ovn/rows"
)

// LoadBalancerReconciler writes a LoadBalancer's OVN Load_Balancers and
// discard routes (ovn/rows/loadbalancer.go): its VIPs are the addresses it
// holds, its backends the routing's destinations whose interface is in
// service.
type LoadBalancerReconciler struct {
	translator[*apinetv1alpha1.LoadBalancer]
	Scope publicip.Scope
	// ProviderIPv6: a Public LB's IPv6 VIPs can be reached (rows.Provider.IPv6).
	ProviderIPv6 bool
}

// +kubebuilder:rbac:groups=core.apinet.ironcore.dev,resources=loadbalancers,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=core.apinet.ironcore.dev,resources=loadbalancers/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=core.apinet.ironcore.dev,resources=loadbalancerroutings,verbs=get;list;watch

func setupLoadBalancer(d deps) error {
	r := &LoadBalancerReconciler{Scope: d.scope, ProviderIPv6: d.provider.IPv6()}
	r.translator = translatorFor(d, "LoadBalancer", func() *apinetv1alpha1.LoadBalancer { return &apinetv1alpha1.LoadBalancer{} },
		func(lb *apinetv1alpha1.LoadBalancer) *[]metav1.Condition { return &lb.Status.Conditions })
	r.translate = r.reconcile
	return ctrl.NewControllerManagedBy(d.mgr).Named("loadbalancer-ovn").For(&apinetv1alpha1.LoadBalancer{}).
		// The routing of the same name holds the backends.
		Watches(&apinetv1alpha1.LoadBalancerRouting{}, handler.EnqueueRequestsFromMapFunc(sameName)).
		Watches(&apinetv1alpha1.Network{}, handler.EnqueueRequestsFromMapFunc(loadBalancers(d.c, loadBalancerOfNetwork))).
		// A backend's state takes it in or out of rotation; an IP claimed
		// by a Public LB becomes a VIP.
		Watches(&apinetv1alpha1.NetworkInterface{}, handler.EnqueueRequestsFromMapFunc(loadBalancers(d.c, loadBalancerOfNIC))).
		Watches(&apinetv1alpha1.IP{}, handler.EnqueueRequestsFromMapFunc(loadBalancers(d.c, loadBalancerOfIP))).
		Watches(&apinetv1alpha1.IPAddress{}, handler.EnqueueRequestsFromMapFunc(publicip.ClaimerOfLock(d.c, "loadbalancers"))).
		WatchesRawSource(d.drift.source("LoadBalancer")).
		Complete(patch.RequeueConflicts(r))
}

func (r *LoadBalancerReconciler) reconcile(ctx context.Context, lb *apinetv1alpha1.LoadBalancer) (ctrl.Result, error) {
	nw, missing, err := networkOf(ctx, r.Client, lb.Namespace, lb.Spec.NetworkRef.Name)
	if err != nil {
		return ctrl.Result{}, err
	}
	if nw == nil {
		return ctrl.Result{}, r.ready(ctx, lb, metav1.ConditionFalse, "Pending", missing)
	}
	if vips := internalVIPs(lb); len(vips) > 0 {
		conflict, err := conflictOf(ctx, r.Client, userOf("LoadBalancer", lb, vips), lb.Namespace, nw.Name)
		if err != nil {
			return ctrl.Result{}, err
		}
		if conflict != "" {
			if _, err := r.NB.Delete(ctx, ownerOf(lb, "LoadBalancer")); err != nil {
				return ctrl.Result{}, err
			}
			return ctrl.Result{}, r.ready(ctx, lb, metav1.ConditionFalse, ReasonIPConflict, conflict)
		}
	}
	held, err := r.vips(ctx, lb)
	if err != nil {
		return ctrl.Result{}, err
	}
	// A public IPv6 VIP needs IPv6 on the provider network: without it, it
	// is not written, and said so below.
	var vips []netip.Addr
	var v6Public []string
	for _, v := range held {
		if v.Is6() && lb.Spec.Type == apinetv1alpha1.LoadBalancerTypePublic && !r.ProviderIPv6 {
			v6Public = append(v6Public, v.String())
		} else {
			vips = append(vips, v)
		}
	}
	backends, err := r.backends(ctx, lb)
	if err != nil {
		return ctrl.Result{}, err
	}
	want, err := rows.LoadBalancerRows(rows.LoadBalancerInput{LB: lb, Network: nw, VIPs: vips, Backends: backends})
	if err != nil {
		return ctrl.Result{}, r.ready(ctx, lb, metav1.ConditionFalse, "Invalid", err.Error())
	}
	if res, ok, err := r.write(ctx, lb, nw.Name, want); !ok {
		return res, err
	}
	switch {
	case len(v6Public) > 0:
		return ctrl.Result{}, r.ready(ctx, lb, metav1.ConditionFalse, ReasonNotRealized,
			fmt.Sprintf("not realized: public IPv6 VIPs %s (the provider network carries no IPv6); %d VIPs with %d backends in rotation", strings.Join(v6Public, ", "), len(vips), len(backends)))
	case len(vips) == 0:
		return ctrl.Result{}, r.ready(ctx, lb, metav1.ConditionFalse, notHeldReason(lb.Status.Conditions), "no IP of the load balancer is held (see condition PublicIPsClaimed)")
	case len(vips) < len(lb.Spec.IPs):
		return ctrl.Result{}, r.ready(ctx, lb, metav1.ConditionFalse, notHeldReason(lb.Status.Conditions),
			fmt.Sprintf("%d of %d IPs held (see condition PublicIPsClaimed); %d VIPs with %d backends in rotation", len(vips), len(lb.Spec.IPs), len(vips), len(backends)))
	}
	return ctrl.Result{}, r.ready(ctx, lb, metav1.ConditionTrue, "RowsWritten",
		fmt.Sprintf("%d VIPs with %d backends in rotation", len(vips), len(backends)))
}

// vips: an Internal LB's addresses as given (checked against the other
// users of its Network's addresses before); a Public LB's addresses it
// holds (controllers/publicip).
func (r *LoadBalancerReconciler) vips(ctx context.Context, lb *apinetv1alpha1.LoadBalancer) ([]netip.Addr, error) {
	if lb.Spec.Type == apinetv1alpha1.LoadBalancerTypePublic {
		return publicip.Held(ctx, r.Client, lb, publicip.Addresses(lb.Spec.IPs), r.Scope)
	}
	var out []netip.Addr
	for _, v := range internalVIPs(lb) {
		out = append(out, v.Addr())
	}
	return out, nil
}

// backends are the routing's destinations, without those whose interface
// is known and not Ready (out of rotation until its agent reports it
// Ready again).
func (r *LoadBalancerReconciler) backends(ctx context.Context, lb *apinetv1alpha1.LoadBalancer) ([]netip.Addr, error) {
	routing := &apinetv1alpha1.LoadBalancerRouting{}
	if err := r.Get(ctx, client.ObjectKeyFromObject(lb), routing); err != nil {
		return nil, client.IgnoreNotFound(err)
	}
	var out []netip.Addr
	for _, d := range routing.Destinations {
		a, err := netip.ParseAddr(string(d.IP))
		if err != nil {
			continue
		}
		if d.TargetRef != nil {
			nic := &apinetv1alpha1.NetworkInterface{}
			err := r.Get(ctx, types.NamespacedName{Namespace: lb.Namespace, Name: d.TargetRef.Name}, nic)
			if client.IgnoreNotFound(err) != nil {
				return nil, err
			}
			if err == nil && nic.UID == d.TargetRef.UID && nic.Status.State != apinetv1alpha1.NetworkInterfaceStateReady {
				continue
			}
		}
		out = append(out, a)
	}
	return out, nil
}
