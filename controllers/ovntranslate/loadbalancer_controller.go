package ovntranslate

import (
	"context"
	"fmt"
	"net/netip"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"

	apinetv1alpha1 "github.com/ovnet-dev/ovnet/apis/core/v1alpha1"
	"github.com/ovnet-dev/ovnet/controllers/publicip"
	"github.com/ovnet-dev/ovnet/internal/patch"
	"github.com/ovnet-dev/ovnet/ovn"
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
	// SB, when set, is where the health checks' results are read.
	SB *ovn.Client
}

// +kubebuilder:rbac:groups=core.apinet.ironcore.dev,resources=loadbalancers,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=core.apinet.ironcore.dev,resources=loadbalancers/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=core.apinet.ironcore.dev,resources=loadbalancerroutings,verbs=get;list;watch

func setupLoadBalancer(d deps) error {
	r := &LoadBalancerReconciler{Scope: d.scope, ProviderIPv6: d.provider.IPv6(), SB: d.sb}
	r.translator = translatorFor(d, "LoadBalancer", func() *apinetv1alpha1.LoadBalancer { return &apinetv1alpha1.LoadBalancer{} },
		func(lb *apinetv1alpha1.LoadBalancer) *[]metav1.Condition { return &lb.Status.Conditions })
	r.translate = r.reconcile
	b := ctrl.NewControllerManagedBy(d.mgr).Named("loadbalancer-ovn").For(&apinetv1alpha1.LoadBalancer{}, builder.WithPredicates(r.echoes.predicate())).
		// The routing of the same name holds the backends.
		Watches(&apinetv1alpha1.LoadBalancerRouting{}, handler.EnqueueRequestsFromMapFunc(sameName)).
		Watches(&apinetv1alpha1.Network{}, handler.EnqueueRequestsFromMapFunc(loadBalancersOfNetwork(d.c)), builder.WithPredicates(networkRealized)).
		// A backend's state takes it in or out of rotation (its other
		// writes change nothing here); an IP claimed by a Public LB
		// becomes a VIP.
		Watches(&apinetv1alpha1.NetworkInterface{}, handler.EnqueueRequestsFromMapFunc(loadBalancersOfNIC(d.c)), builder.WithPredicates(nicStateChanged)).
		Watches(&apinetv1alpha1.IP{}, handler.EnqueueRequestsFromMapFunc(publicip.ClaimerOrNamersOfIP(d.c, "loadbalancers",
			func() client.ObjectList { return &apinetv1alpha1.LoadBalancerList{} }))).
		Watches(&apinetv1alpha1.IPAddress{}, handler.EnqueueRequestsFromMapFunc(publicip.ClaimerOfLock(d.c, "loadbalancers"))).
		WatchesRawSource(d.drift.source("LoadBalancer"))
	if d.sb != nil {
		// Health checks' results.
		b = b.WatchesRawSource(serviceMonitorChanges(d.sb, d.c))
	}
	return b.Complete(patch.RequeueConflicts(r))
}

func (r *LoadBalancerReconciler) reconcile(ctx context.Context, lb *apinetv1alpha1.LoadBalancer) (ctrl.Result, error) {
	nw, missing, err := networkOf(ctx, r.Client, lb.Namespace, lb.Spec.NetworkRef.Name)
	if err != nil {
		return ctrl.Result{}, err
	}
	if nw == nil {
		return ctrl.Result{}, r.missing(ctx, lb, missing)
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
	backends, backendPorts, err := r.backends(ctx, lb)
	if err != nil {
		return ctrl.Result{}, err
	}
	hc, problem := healthCheckOf(lb, r.SB != nil)
	want, err := rows.LoadBalancerRows(rows.LoadBalancerInput{LB: lb, Network: nw, VIPs: vips, Backends: backends, HealthCheck: hc, BackendPorts: backendPorts})
	if err != nil {
		return ctrl.Result{}, r.ready(ctx, lb, metav1.ConditionFalse, "Invalid", err.Error())
	}
	if res, ok, err := r.write(ctx, lb, nw.Name, want); !ok {
		return res, err
	}
	// One status write carries both conditions.
	before := lb.DeepCopy()
	r.backendHealth(lb, hc, problem, backendPorts)
	status, reason, msg := metav1.ConditionTrue, "RowsWritten", fmt.Sprintf("%d VIPs with %d backends in rotation", len(vips), len(backends))
	switch {
	case len(v6Public) > 0:
		status, reason = metav1.ConditionFalse, ReasonNotRealized
		msg = fmt.Sprintf("not realized: public IPv6 VIPs %s (the provider network carries no IPv6); %s", strings.Join(v6Public, ", "), msg)
	case len(vips) == 0:
		status, reason, msg = metav1.ConditionFalse, notHeldReason(lb.Status.Conditions), "no IP of the load balancer is held (see condition PublicIPsClaimed)"
	case len(vips) < len(lb.Spec.IPs):
		status, reason = metav1.ConditionFalse, notHeldReason(lb.Status.Conditions)
		msg = fmt.Sprintf("%d of %d IPs held (see condition PublicIPsClaimed); %s", len(vips), len(lb.Spec.IPs), msg)
	}
	return ctrl.Result{}, r.report(ctx, before, lb, status, reason, msg)
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
// Ready again), and the logical switch port of each whose interface is
// known (where health checks probe it).
func (r *LoadBalancerReconciler) backends(ctx context.Context, lb *apinetv1alpha1.LoadBalancer) ([]netip.Addr, map[netip.Addr]string, error) {
	routing := &apinetv1alpha1.LoadBalancerRouting{}
	if err := r.Get(ctx, client.ObjectKeyFromObject(lb), routing); err != nil {
		return nil, nil, client.IgnoreNotFound(err)
	}
	var out []netip.Addr
	ports := map[netip.Addr]string{}
	for _, d := range routing.Destinations {
		a, err := netip.ParseAddr(string(d.IP))
		if err != nil {
			continue
		}
		if d.TargetRef != nil {
			nic := &apinetv1alpha1.NetworkInterface{}
			err := r.Get(ctx, types.NamespacedName{Namespace: lb.Namespace, Name: d.TargetRef.Name}, nic)
			if client.IgnoreNotFound(err) != nil {
				return nil, nil, err
			}
			if err == nil && nic.UID == d.TargetRef.UID {
				if nic.Status.State != apinetv1alpha1.NetworkInterfaceStateReady {
					continue
				}
				ports[a] = apinetv1alpha1.NetworkInterfacePortName(nic)
			}
		}
		out = append(out, a)
	}
	return out, ports, nil
}
