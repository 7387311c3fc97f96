package ovntranslate

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	apinetv1alpha1 "github.com/ovnet-dev/ovnet/apis/core/v1alpha1"
	"github.com/ovnet-dev/ovnet/ovn"
	"github.com/ovnet-dev/ovnet/ovn/rows"
)

// NetworkInterfaceReconciler writes a NIC's port, routes and public-IP NAT
// rows (ovn/rows/networkinterface.go) into its Network's switch and router,
// and reports what was realized in status.publicIPs and status.prefixes.
type NetworkInterfaceReconciler struct {
	client.Client
	NB       *ovn.Client
	Recorder recorder.EventRecorder
}

// +kubebuilder:rbac:groups=core.apinet.ironcore.dev,resources=networkinterfaces,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=core.apinet.ironcore.dev,resources=networkinterfaces/status,verbs=get;update;patch

func (r *NetworkInterfaceReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	nic := &apinetv1alpha1.NetworkInterface{}
	if err := r.Get(ctx, req.NamespacedName, nic); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !nic.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, r.reconcileDelete(ctx, nic)
	}
	return r.reconcile(ctx, nic)
}

func (r *NetworkInterfaceReconciler) reconcile(ctx context.Context, nic *apinetv1alpha1.NetworkInterface) (ctrl.Result, error) {
	nw, missing, err := networkOf(ctx, r.Client, nic.Namespace, nic.Spec.NetworkRef.Name)
	if err != nil {
		return ctrl.Result{}, err
	}
	if nw == nil {
		return ctrl.Result{}, r.setReady(ctx, nic, metav1.ConditionFalse, "Pending", missing)
	}
	node := &apinetv1alpha1.Node{}
	if err := r.Get(ctx, types.NamespacedName{Name: nic.Spec.NodeRef.Name}, node); err != nil {
		if apierrors.IsNotFound(err) {
			return ctrl.Result{}, r.setReady(ctx, nic, metav1.ConditionFalse, "Pending",
				fmt.Sprintf("node %q does not exist", nic.Spec.NodeRef.Name))
		}
		return ctrl.Result{}, err
	}
	built, err := rows.NetworkInterfaceRowsFor(rows.NetworkInterfaceInput{NIC: nic, Network: nw, Chassis: chassisOf(node)})
	if err != nil {
		return ctrl.Result{}, r.setReady(ctx, nic, metav1.ConditionFalse, "Unsupported", err.Error())
	}
	if written, err := writeRows(ctx, r.Client, r.NB, nic, "NetworkInterface", built.Rows); err != nil || !written {
		if err != nil {
			return ctrl.Result{}, err
		}
		// The Network's rows are not written yet; its update wakes us too.
		return ctrl.Result{RequeueAfter: retryAfter}, r.setReady(ctx, nic, metav1.ConditionFalse, "Pending",
			fmt.Sprintf("network %q is not in OVN yet", nw.Name))
	}
	natIPs, err := r.natIPs(ctx, nic)
	if err != nil {
		return ctrl.Result{}, err
	}
	before := nic.DeepCopy()
	nic.Status.PublicIPs, nic.Status.Prefixes, nic.Status.NATIPs = built.PublicIPs, built.Prefixes, natIPs
	return ctrl.Result{}, patchStatus(ctx, r.Client, r.Recorder, before, nic, &nic.Status.Conditions, metav1.ConditionTrue, "RowsWritten", "port "+rows.PortName(nic)+" written")
}

func (r *NetworkInterfaceReconciler) reconcileDelete(ctx context.Context, nic *apinetv1alpha1.NetworkInterface) error {
	return removeRows(ctx, r.Client, r.NB, nic, "NetworkInterface")
}

func (r *NetworkInterfaceReconciler) setReady(ctx context.Context, nic *apinetv1alpha1.NetworkInterface, status metav1.ConditionStatus, reason, msg string) error {
	return patchCondition(ctx, r.Client, r.Recorder, nic, &nic.Status.Conditions, status, reason, msg)
}

// natIPs are the NAT IPs the NIC's gateways' tables give it (its snat rows
// are written by the gateway's translation from the same tables).
func (r *NetworkInterfaceReconciler) natIPs(ctx context.Context, nic *apinetv1alpha1.NetworkInterface) ([]apinetv1alpha1.IPAddr, error) {
	var out []apinetv1alpha1.IPAddr
	for _, n := range nic.Spec.NATGateways {
		table := &apinetv1alpha1.NATTable{}
		if err := r.Get(ctx, types.NamespacedName{Namespace: nic.Namespace, Name: n.ClaimRef.Name}, table); err != nil {
			if apierrors.IsNotFound(err) {
				continue
			}
			return nil, err
		}
		for _, ip := range table.IPs {
			for _, sec := range ip.Sections {
				if sec.TargetRef != nil && sec.TargetRef.UID == nic.UID {
					out = append(out, ip.IP)
				}
			}
		}
	}
	return out, nil
}
