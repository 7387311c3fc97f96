package ipam

import (
	"context"
	"fmt"
	"hash/fnv"
	"net/netip"
	"regexp"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	apinetv1alpha1 "github.com/ovnet-dev/ovnet/apis/core/v1alpha1"
	"github.com/ovnet-dev/ovnet/controllers/index"
	"github.com/ovnet-dev/ovnet/internal/patch"
)

// ipRequest is one public IP a claimer asks for.
type ipRequest struct {
	name   string
	family apinetv1alpha1.IPFamily
	ip     apinetv1alpha1.IPAddr
	// familyGiven is false when family was derived from ip; the entry's
	// ipFamily is then filled in (ironcore-net defaults it from ip).
	familyGiven bool
}

// ClaimerKind adapts a kind that claims public IPs (docs/allocation.md).
type ClaimerKind struct {
	Kind     string
	Resource string
	New      func() client.Object
	NewList  func() client.ObjectList
	// requests returns the object's public IP requests (none for kinds or
	// objects that claim nothing, such as an Internal LoadBalancer).
	requests func(client.Object) []ipRequest
	// record writes an allocated address (and its family) into entry i.
	record func(obj client.Object, i int, ip apinetv1alpha1.IPAddr, family apinetv1alpha1.IPFamily)
	// conditions returns the object's status conditions.
	conditions func(client.Object) *[]metav1.Condition
	items      func(client.ObjectList) []client.Object
}

// Claimers are the kinds that claim public IPs.
var Claimers = []ClaimerKind{
	{
		Kind: "NetworkInterface", Resource: "networkinterfaces",
		New:     func() client.Object { return &apinetv1alpha1.NetworkInterface{} },
		NewList: func() client.ObjectList { return &apinetv1alpha1.NetworkInterfaceList{} },
		requests: func(o client.Object) []ipRequest {
			return fromPublicIPRequests(o.(*apinetv1alpha1.NetworkInterface).Spec.PublicIPs)
		},
		record: func(o client.Object, i int, ip apinetv1alpha1.IPAddr, f apinetv1alpha1.IPFamily) {
			e := &o.(*apinetv1alpha1.NetworkInterface).Spec.PublicIPs[i]
			e.IP, e.IPFamily = ip, f
		},
		conditions: func(o client.Object) *[]metav1.Condition {
			return &o.(*apinetv1alpha1.NetworkInterface).Status.Conditions
		},
		items: func(l client.ObjectList) []client.Object {
			return objects(l.(*apinetv1alpha1.NetworkInterfaceList).Items)
		},
	},
	{
		Kind: "LoadBalancer", Resource: "loadbalancers",
		New:     func() client.Object { return &apinetv1alpha1.LoadBalancer{} },
		NewList: func() client.ObjectList { return &apinetv1alpha1.LoadBalancerList{} },
		requests: func(o client.Object) []ipRequest {
			lb := o.(*apinetv1alpha1.LoadBalancer)
			if lb.Spec.Type != apinetv1alpha1.LoadBalancerTypePublic {
				return nil // internal VIPs are given by the user, never allocated
			}
			return fromPublicIPRequests(lb.Spec.IPs)
		},
		record: func(o client.Object, i int, ip apinetv1alpha1.IPAddr, f apinetv1alpha1.IPFamily) {
			e := &o.(*apinetv1alpha1.LoadBalancer).Spec.IPs[i]
			e.IP, e.IPFamily = ip, f
		},
		conditions: func(o client.Object) *[]metav1.Condition {
			return &o.(*apinetv1alpha1.LoadBalancer).Status.Conditions
		},
		items: func(l client.ObjectList) []client.Object {
			return objects(l.(*apinetv1alpha1.LoadBalancerList).Items)
		},
	},
	{
		Kind: "NATGateway", Resource: "natgateways",
		New:     func() client.Object { return &apinetv1alpha1.NATGateway{} },
		NewList: func() client.ObjectList { return &apinetv1alpha1.NATGatewayList{} },
		requests: func(o client.Object) []ipRequest {
			g := o.(*apinetv1alpha1.NATGateway)
			out := make([]ipRequest, len(g.Spec.IPs))
			for i, e := range g.Spec.IPs {
				out[i] = ipRequest{name: e.Name, family: g.Spec.IPFamily, ip: e.IP, familyGiven: true}
			}
			return out
		},
		record: func(o client.Object, i int, ip apinetv1alpha1.IPAddr, _ apinetv1alpha1.IPFamily) {
			o.(*apinetv1alpha1.NATGateway).Spec.IPs[i].IP = ip
		},
		conditions: func(o client.Object) *[]metav1.Condition {
			return &o.(*apinetv1alpha1.NATGateway).Status.Conditions
		},
		items: func(l client.ObjectList) []client.Object {
			return objects(l.(*apinetv1alpha1.NATGatewayList).Items)
		},
	},
}

func fromPublicIPRequests(in []apinetv1alpha1.PublicIPRequest) []ipRequest {
	out := make([]ipRequest, len(in))
	for i, e := range in {
		out[i] = ipRequest{name: e.Name, family: e.Family(), ip: e.IP, familyGiven: e.IPFamily != ""}
	}
	return out
}

func objects[T any, PT interface {
	*T
	client.Object
}](items []T) []client.Object {
	out := make([]client.Object, len(items))
	for i := range items {
		out[i] = PT(&items[i])
	}
	return out
}

// ClaimReconciler makes the public IP requests of one claimer kind real: an
// entry without ip gets an IP object of its own (owned by the claimer, named
// <claimer>-<entry>) whose address is written back into the entry; an entry
// with ip claims the namespace's IP object of that address. IPs the claimer
// no longer asks for are released: deleted when it owns them, else unclaimed.
type ClaimReconciler struct {
	client.Client
	Kind     ClaimerKind
	Recorder recorder.EventRecorder
}

// +kubebuilder:rbac:groups=core.apinet.ironcore.dev,resources=ips,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=core.apinet.ironcore.dev,resources=networkinterfaces;loadbalancers;natgateways,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=core.apinet.ironcore.dev,resources=networkinterfaces/status;loadbalancers/status;natgateways/status,verbs=get;update;patch

func (r *ClaimReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	obj := r.Kind.New()
	if err := r.Get(ctx, req.NamespacedName, obj); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if patch.Behind(obj) {
		return ctrl.Result{RequeueAfter: patch.BehindRetry}, nil
	}
	if !obj.GetDeletionTimestamp().IsZero() {
		return ctrl.Result{}, nil // the IP claim GC releases a deleted claimer's IPs
	}
	var claimed apinetv1alpha1.IPList
	if err := r.List(ctx, &claimed, client.InNamespace(obj.GetNamespace()), client.MatchingFields{index.ClaimUID: string(obj.GetUID())}); err != nil {
		return ctrl.Result{}, err
	}
	specBefore := obj.DeepCopyObject().(client.Object)
	keep := map[string]bool{}
	var problems []string
	reason := "Claimed"
	pending := false
	for i, e := range r.Kind.requests(obj) {
		var (
			ip  *apinetv1alpha1.IP
			msg string
			why string
			err error
		)
		if e.ip == "" {
			ip, why, msg, err = r.dynamic(ctx, obj, e)
		} else {
			ip, why, msg, err = r.explicit(ctx, obj, e)
		}
		if err != nil {
			return ctrl.Result{}, err
		}
		if ip != nil {
			keep[ip.Name] = true
		}
		switch {
		case why != "":
			problems = append(problems, msg)
			reason = why
		case ip == nil || ip.Spec.IP == "":
			pending = true
		case e.ip == "" || !e.familyGiven:
			// The family of the address itself: the IP's spec.ipFamily may
			// not be filled in yet.
			r.Kind.record(obj, i, ip.Spec.IP, apinetv1alpha1.FamilyOf(ip.Spec.IP))
		}
	}
	for i := range claimed.Items {
		if err := r.release(ctx, obj, &claimed.Items[i], keep); err != nil {
			return ctrl.Result{}, err
		}
	}
	if err := patch.Object(ctx, r.Client, specBefore, obj, fieldOwner); err != nil {
		return ctrl.Result{}, fmt.Errorf("record claimed IPs: %w", err)
	}
	before := obj.DeepCopyObject().(client.Object)
	cond := metav1.Condition{Type: conditionIPsClaims, Status: metav1.ConditionTrue, Reason: "Claimed", Message: "all public IPs claimed"}
	switch {
	case len(problems) > 0:
		cond.Status, cond.Reason, cond.Message = metav1.ConditionFalse, reason, strings.Join(problems, "; ")
	case pending:
		cond.Status, cond.Reason, cond.Message = metav1.ConditionFalse, "Pending", "waiting for public IPs to be allocated"
	}
	if len(problems) == 0 && meta.FindStatusCondition(*r.Kind.conditions(obj), conditionIPsClaims) == nil {
		// The condition reports trouble: an object whose claims never
		// failed does not carry it (its Ready and status.publicIPs say
		// what it holds; an IP that cannot be allocated says why in its
		// own Ready), which spares one or two status writes per claimer.
		// Once shown, it stays and turns True.
		return ctrl.Result{}, nil
	}
	old := patch.SetCondition(r.Kind.conditions(obj), obj, cond)
	patch.Warn(r.Recorder, obj, old, cond, actionClaim, "Pending")
	// The translators write the Ready condition of the same list: locked.
	return ctrl.Result{}, patch.Status(ctx, r.Client, before, obj, fieldOwner)
}

// dynamic ensures the claimer's own IP object for entry e.
func (r *ClaimReconciler) dynamic(ctx context.Context, obj client.Object, e ipRequest) (*apinetv1alpha1.IP, string, string, error) {
	ip := &apinetv1alpha1.IP{}
	key := types.NamespacedName{Namespace: obj.GetNamespace(), Name: DynamicIPName(obj.GetName(), e.name)}
	err := r.Get(ctx, key, ip)
	if apierrors.IsNotFound(err) {
		ip = &apinetv1alpha1.IP{
			ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name},
			Spec: apinetv1alpha1.IPSpec{
				Type: apinetv1alpha1.IPTypePublic, IPFamily: e.family,
				ClaimRef: &apinetv1alpha1.IPClaimRef{Group: claimRefGroup, Resource: r.Kind.Resource, Name: obj.GetName(), UID: obj.GetUID()},
			},
		}
		if err := controllerutil.SetControllerReference(obj, ip, r.Scheme()); err != nil {
			return nil, "", "", err
		}
		if err := r.Create(ctx, ip, fieldOwner); err != nil && !apierrors.IsAlreadyExists(err) {
			return nil, "", "", fmt.Errorf("create IP %s: %w", key, err)
		}
		return ip, "", "", nil
	}
	if err != nil {
		return nil, "", "", err
	}
	if !metav1.IsControlledBy(ip, obj) {
		return nil, "IPNameConflict", fmt.Sprintf("public IP %q: IP object %s exists and belongs to another object", e.name, key.Name), nil
	}
	return ip, "", "", nil
}

// explicit claims the namespace's IP object holding address e.ip.
func (r *ClaimReconciler) explicit(ctx context.Context, obj client.Object, e ipRequest) (*apinetv1alpha1.IP, string, string, error) {
	var ips apinetv1alpha1.IPList
	if err := r.List(ctx, &ips, client.InNamespace(obj.GetNamespace()), client.MatchingFields{indexIPAddress: canonical(e.ip)}); err != nil {
		return nil, "", "", err
	}
	if len(ips.Items) == 0 {
		return nil, apinetv1alpha1.ReasonIPNotFound, fmt.Sprintf("public IP %q: no IP object with address %s in namespace %s", e.name, e.ip, obj.GetNamespace()), nil
	}
	ip := &ips.Items[0]
	switch ref := ip.Spec.ClaimRef; {
	case ref != nil && ref.UID == obj.GetUID():
		return ip, "", "", nil
	case ref != nil && ref.UID != "":
		return nil, "IPAlreadyClaimed", fmt.Sprintf("public IP %q: IP %s (%s) is already claimed by %s %s", e.name, ip.Name, e.ip, ref.Resource, ref.Name), nil
	}
	patch := client.MergeFromWithOptions(ip.DeepCopy(), client.MergeFromWithOptimisticLock{})
	ip.Spec.ClaimRef = &apinetv1alpha1.IPClaimRef{Group: claimRefGroup, Resource: r.Kind.Resource, Name: obj.GetName(), UID: obj.GetUID()}
	if err := r.Patch(ctx, ip, patch, fieldOwner); err != nil {
		return nil, "", "", fmt.Errorf("claim IP %s: %w", ip.Name, err)
	}
	return ip, "", "", nil
}

// release gives up an IP the claimer no longer asks for.
func (r *ClaimReconciler) release(ctx context.Context, obj client.Object, ip *apinetv1alpha1.IP, keep map[string]bool) error {
	if keep[ip.Name] || !ip.DeletionTimestamp.IsZero() {
		return nil
	}
	if metav1.IsControlledBy(ip, obj) {
		if err := r.Delete(ctx, ip, exactly(ip)); err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			return fmt.Errorf("release IP %s: %w", ip.Name, err)
		}
		return nil
	}
	return unclaim(ctx, r.Client, ip)
}

func unclaim(ctx context.Context, c client.Client, ip *apinetv1alpha1.IP) error {
	patch := client.MergeFromWithOptions(ip.DeepCopy(), client.MergeFromWithOptimisticLock{})
	ip.Spec.ClaimRef = nil
	if err := c.Patch(ctx, ip, patch, fieldOwner); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("release IP %s: %w", ip.Name, err)
	}
	return nil
}

var dnsLabel = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

// DynamicIPName is the name of the IP object a claimer owns for one entry:
// <claimer>-<entry>, or a shortened name with a hash when that is not a
// valid DNS label.
func DynamicIPName(claimer, entry string) string {
	name := claimer + "-" + entry
	if len(name) <= 63 && dnsLabel.MatchString(name) {
		return name
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(name))
	prefix := claimer
	if len(prefix) > 54 {
		prefix = prefix[:54]
	}
	return fmt.Sprintf("%s-%08x", strings.TrimRight(prefix, "-"), h.Sum32())
}

// canonical is the canonical text of an address (the IP index's key).
func canonical(ip apinetv1alpha1.IPAddr) string {
	if a, err := netip.ParseAddr(string(ip)); err == nil {
		return a.String()
	}
	return string(ip)
}

// setupClaims registers one claim controller per claimer kind.
func setupClaims(d deps) error {
	for _, kind := range Claimers {
		r := &ClaimReconciler{Client: d.c, Kind: kind, Recorder: d.rec}
		// What a claimer asks for is in its spec: its status writes (its
		// own PublicIPsClaimed included) change nothing here.
		if err := ctrl.NewControllerManagedBy(d.mgr).Named("claims-"+kind.Resource).For(kind.New(), builder.WithPredicates(predicate.GenerationChangedPredicate{})).
			Watches(&apinetv1alpha1.IP{}, handler.EnqueueRequestsFromMapFunc(r.claimersOfIP)).
			Complete(patch.RequeueConflicts(r)); err != nil {
			return err
		}
	}
	return nil
}

// claimersOfIP maps an IP to its claimer of this kind, and to the claimers
// in its namespace that ask for its address but do not hold it yet.
func (r *ClaimReconciler) claimersOfIP(ctx context.Context, o client.Object) []reconcile.Request {
	ip := o.(*apinetv1alpha1.IP)
	var out []reconcile.Request
	if ref := ip.Spec.ClaimRef; ref != nil && ref.Resource == r.Kind.Resource {
		out = append(out, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: ip.Namespace, Name: ref.Name}})
	}
	if ip.Spec.IP == "" {
		return out
	}
	list := r.Kind.NewList()
	if err := r.List(ctx, list, client.InNamespace(ip.Namespace), client.MatchingFields{indexRequestedIP: canonical(ip.Spec.IP)}); err != nil {
		return out
	}
	for _, c := range r.Kind.items(list) {
		out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(c)})
	}
	return out
}
