package ovntranslate

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	apinetv1alpha1 "github.com/ovnet-dev/ovnet/apis/core/v1alpha1"
	"github.com/ovnet-dev/ovnet/controllers/publicip"
	"github.com/ovnet-dev/ovnet/ovn"
	"github.com/ovnet-dev/ovnet/ovn/rows"
)

// NATGatewayReconciler writes a NAT gateway's snat rows
// (ovn/rows/natgateway.go) from its NATTable into its Network's router.
type NATGatewayReconciler struct {
	client.Client
	NB       *ovn.Client
	Scope    publicip.Scope
	Recorder recorder.EventRecorder
}

// +kubebuilder:rbac:groups=core.apinet.ironcore.dev,resources=natgateways,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=core.apinet.ironcore.dev,resources=natgateways/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=core.apinet.ironcore.dev,resources=nattables,verbs=get;list;watch

func (r *NATGatewayReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	gw := &apinetv1alpha1.NATGateway{}
	if err := r.Get(ctx, req.NamespacedName, gw); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !gw.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, r.reconcileDelete(ctx, gw)
	}
	return r.reconcile(ctx, gw)
}

func (r *NATGatewayReconciler) reconcile(ctx context.Context, gw *apinetv1alpha1.NATGateway) (ctrl.Result, error) {
	nw, missing, err := networkOf(ctx, r.Client, gw.Namespace, gw.Spec.NetworkRef.Name)
	if err != nil {
		return ctrl.Result{}, err
	}
	if nw == nil {
		return ctrl.Result{}, r.setReady(ctx, gw, metav1.ConditionFalse, "Pending", missing)
	}
	table := &apinetv1alpha1.NATTable{}
	if err := r.Get(ctx, client.ObjectKeyFromObject(gw), table); apierrors.IsNotFound(err) {
		table = nil
	} else if err != nil {
		return ctrl.Result{}, err
	}
	held, err := publicip.Held(ctx, r.Client, gw, natIPsOf(gw), r.Scope)
	if err != nil {
		return ctrl.Result{}, err
	}
	want, err := rows.NATGatewayRows(rows.NATGatewayInput{Gateway: gw, Network: nw, Table: table, Held: held})
	if err != nil {
		return ctrl.Result{}, r.setReady(ctx, gw, metav1.ConditionFalse, "Unsupported", err.Error())
	}
	if written, err := writeRows(ctx, r.Client, r.NB, gw, "NATGateway", want); err != nil || !written {
		if err != nil {
			return ctrl.Result{}, err
		}
		// The Network's rows are not written yet; its update wakes us too.
		return ctrl.Result{RequeueAfter: retryAfter}, r.setReady(ctx, gw, metav1.ConditionFalse, "Pending",
			fmt.Sprintf("network %q is not in OVN yet", nw.Name))
	}
	if named := len(natIPsOf(gw)); len(held) < named {
		return ctrl.Result{}, r.setReady(ctx, gw, metav1.ConditionFalse, notHeldReason(gw.Status.Conditions),
			fmt.Sprintf("%d of %d NAT IPs held (see condition PublicIPsClaimed); %d snat rows written", len(held), named, len(want)))
	}
	return ctrl.Result{}, r.setReady(ctx, gw, metav1.ConditionTrue, "RowsWritten", fmt.Sprintf("%d snat rows written", len(want)))
}

// natIPsOf are the addresses a NAT gateway names.
func natIPsOf(gw *apinetv1alpha1.NATGateway) []apinetv1alpha1.IPAddr {
	out := make([]apinetv1alpha1.IPAddr, 0, len(gw.Spec.IPs))
	for _, e := range gw.Spec.IPs {
		out = append(out, e.IP)
	}
	return out
}

func (r *NATGatewayReconciler) reconcileDelete(ctx context.Context, gw *apinetv1alpha1.NATGateway) error {
	return removeRows(ctx, r.Client, r.NB, gw, "NATGateway")
}

func (r *NATGatewayReconciler) setReady(ctx context.Context, gw *apinetv1alpha1.NATGateway, status metav1.ConditionStatus, reason, msg string) error {
	return patchCondition(ctx, r.Client, r.Recorder, gw, &gw.Status.Conditions, status, reason, msg)
}
