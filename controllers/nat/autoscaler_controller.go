package nat

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	apinetv1alpha1 "github.com/ovnet-dev/ovnet/apis/core/v1alpha1"
	"github.com/ovnet-dev/ovnet/controllers/enqueue"
	"github.com/ovnet-dev/ovnet/controllers/internal/names"
	"github.com/ovnet-dev/ovnet/controllers/publicip"
	"github.com/ovnet-dev/ovnet/internal/patch"
)

// DesiredIPs is how many NAT IPs a gateway needs for requested NICs with
// ppni ports each, rounded up (docs/design.md item 3: one more IP as soon as one NIC
// waits), within [min, max] when set.
func DesiredIPs(requested int64, ppni int32, min, max *int32) int {
	perIP := int64(SlotsPerIP(ppni))
	desired := 0
	if perIP > 0 {
		desired = int((requested + perIP - 1) / perIP)
	}
	if min != nil && desired < int(*min) {
		desired = int(*min)
	}
	if max != nil && desired > int(*max) {
		desired = int(*max)
	}
	return desired
}

// AutoscalerReconciler grows and shrinks a gateway's spec.ips (docs/nat.md):
// new entries have no IP (the allocation controllers pick one), removed
// entries come off the end.
type AutoscalerReconciler struct {
	client.Client
}

// +kubebuilder:rbac:groups=core.apinet.ironcore.dev,resources=natgatewayautoscalers,verbs=get;list;watch
// +kubebuilder:rbac:groups=core.apinet.ironcore.dev,resources=natgateways,verbs=get;list;watch;update;patch

func (r *AutoscalerReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	a := &apinetv1alpha1.NATGatewayAutoscaler{}
	if err := r.Get(ctx, req.NamespacedName, a); err != nil || !a.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	gw := &apinetv1alpha1.NATGateway{}
	if err := r.Get(ctx, client.ObjectKey{Namespace: a.Namespace, Name: a.Spec.NATGatewayRef.Name}, gw); err != nil {
		if apierrors.IsNotFound(err) {
			return ctrl.Result{}, nil // its creation wakes us
		}
		return ctrl.Result{}, err
	}
	current := len(gw.Spec.IPs)
	desired := DesiredIPs(gw.Status.RequestedNATIPs, gw.Spec.PortsPerNetworkInterface, a.Spec.MinPublicIPs, a.Spec.MaxPublicIPs)
	if desired == current {
		return ctrl.Result{}, nil
	}
	before := gw.DeepCopy()
	if desired < current {
		gw.Spec.IPs = gw.Spec.IPs[:desired]
	}
	for len(gw.Spec.IPs) < desired {
		gw.Spec.IPs = append(gw.Spec.IPs, apinetv1alpha1.NATGatewayIP{Name: names.Random(10)})
	}
	if err := r.Patch(ctx, gw, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{}), fieldOwner); err != nil {
		return ctrl.Result{}, fmt.Errorf("scale NATGateway %s from %d to %d IPs: %w", gw.Name, current, desired, err)
	}
	return ctrl.Result{}, nil
}

// SetupAutoscaler registers the autoscaler; a gateway's change wakes the
// autoscalers that target it.
func SetupAutoscaler(mgr manager.Manager) error {
	c := mgr.GetClient()
	return ctrl.NewControllerManagedBy(mgr).Named("natgatewayautoscaler").
		For(&apinetv1alpha1.NATGatewayAutoscaler{}).
		Watches(&apinetv1alpha1.NATGateway{}, handler.EnqueueRequestsFromMapFunc(enqueue.Listed(c,
			func() client.ObjectList { return &apinetv1alpha1.NATGatewayAutoscalerList{} },
			func(gw, a client.Object) bool {
				return a.(*apinetv1alpha1.NATGatewayAutoscaler).Spec.NATGatewayRef.Name == gw.GetName()
			}))).
		Complete(patch.RequeueConflicts(&AutoscalerReconciler{Client: c}))
}

// Options configure the NAT controllers.
type Options struct {
	// Scope: NAT IPs are used only inside its public pools.
	Scope publicip.Scope
	// ReportedWithReady: the OVN translator runs in the same process and
	// writes a new gateway's first allocation report with its Ready
	// (SetReport); the NAT gateway controller then holds its own back.
	ReportedWithReady bool
}

// Setup registers the NAT gateway, release and autoscaler controllers.
func Setup(mgr manager.Manager, opts Options) error {
	if err := SetupNATGateway(mgr, opts); err != nil {
		return err
	}
	if err := SetupNATRelease(mgr); err != nil {
		return err
	}
	return SetupAutoscaler(mgr)
}
