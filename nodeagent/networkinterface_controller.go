package nodeagent

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	apinetv1alpha1 "github.com/ovnet-dev/ovnet/apis/core/v1alpha1"
	"github.com/ovnet-dev/ovnet/internal/patch"
	"github.com/ovnet-dev/ovnet/ovn"
	"github.com/ovnet-dev/ovnet/ovn/vswitchd"
)

// pendingRecheck: how soon a NIC waiting for ovn-controller is looked at
// again even without an OVS event.
const pendingRecheck = 10 * time.Second

// replugAfter: how long a port removed for a re-created device stays out
// of br-int, so that ovs-vswitchd sees it go before it comes back.
const replugAfter = time.Second

// NetworkInterfaceReconciler attaches the NICs bound to its node: device,
// br-int port, status.
type NetworkInterfaceReconciler struct {
	client.Client
	Recorder recorder.EventRecorder
	NodeName string
	OVS      *ovn.Client
	Bridge   string
	Devices  Devices
	// unplugged holds when the port of a re-created device was removed.
	unplugged sync.Map
}

// +kubebuilder:rbac:groups=core.apinet.ironcore.dev,resources=networkinterfaces,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=core.apinet.ironcore.dev,resources=networkinterfaces/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=core.apinet.ironcore.dev,resources=nodes,verbs=get;list;watch;create;update;patch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

func (r *NetworkInterfaceReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	nic := &apinetv1alpha1.NetworkInterface{}
	if err := r.Get(ctx, req.NamespacedName, nic); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if nic.Spec.NodeRef.Name != r.NodeName {
		return ctrl.Result{}, nil
	}
	if !nic.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, r.reconcileDelete(ctx, nic)
	}
	return r.reconcile(ctx, nic)
}

func (r *NetworkInterfaceReconciler) reconcile(ctx context.Context, nic *apinetv1alpha1.NetworkInterface) (ctrl.Result, error) {
	if controllerutil.AddFinalizer(nic, Finalizer) {
		if err := r.Update(ctx, nic, fieldOwner); err != nil {
			return ctrl.Result{}, err
		}
	}
	dev, err := r.Devices.Attach(ctx, nic)
	if err != nil {
		reason := "DeviceFailed"
		var de *DeviceError
		if errors.As(err, &de) {
			reason = de.Reason
		}
		return ctrl.Result{}, errors.Join(err, r.report(ctx, nic, dev, apinetv1alpha1.NetworkInterfaceStateError, reason, err.Error()))
	}
	if dev.Created && r.OVS.ByKey(vswitchd.InterfaceTable, string(nic.UID)+"/interface") != nil {
		// The device was deleted behind our back and is new: ovs-vswitchd
		// keeps the port of the old one, and only a new port opens the new
		// device.
		if _, err := r.OVS.Delete(ctx, OwnerOf(nic)); err != nil {
			return ctrl.Result{}, fmt.Errorf("unplug the port of a device that went: %w", err)
		}
		r.unplugged.Store(nic.UID, time.Now())
	}
	if at, ok := r.unplugged.Load(nic.UID); ok {
		// A port deleted and added again before ovs-vswitchd has seen the
		// deletion is the same port to it, with the dead device: plug the
		// new one a moment later.
		if wait := replugAfter - time.Since(at.(time.Time)); wait > 0 {
			return ctrl.Result{RequeueAfter: wait}, nil
		}
		r.unplugged.Delete(nic.UID)
	}
	if _, err := r.OVS.Apply(ctx, OwnerOf(nic), PortRows(nic, dev, r.Bridge)); err != nil {
		return ctrl.Result{}, errors.Join(err, r.report(ctx, nic, dev, apinetv1alpha1.NetworkInterfaceStateError, "PlugFailed",
			fmt.Sprintf("plug %s into %s: %v", dev.Port, r.Bridge, err)))
	}
	if err := r.Devices.Up(ctx, dev); err != nil {
		return ctrl.Result{}, errors.Join(err, r.report(ctx, nic, dev, apinetv1alpha1.NetworkInterfaceStateError, "DeviceFailed", err.Error()))
	}
	up, err := installed(r.OVS, nic)
	if err != nil {
		// Our own write is not in the cache yet; its event brings us back.
		return ctrl.Result{RequeueAfter: time.Second}, nil
	}
	if !up {
		return ctrl.Result{RequeueAfter: pendingRecheck}, r.report(ctx, nic, dev, apinetv1alpha1.NetworkInterfaceStatePending, "WaitingForOVN",
			fmt.Sprintf("%s is in %s as port %s; waiting for ovn-controller to install logical port %s", deviceName(dev), r.Bridge, dev.Port, apinetv1alpha1.NetworkInterfacePortName(nic)))
	}
	return ctrl.Result{}, r.report(ctx, nic, dev, apinetv1alpha1.NetworkInterfaceStateReady, "Installed",
		fmt.Sprintf("%s is installed by OVN as logical port %s", deviceName(dev), apinetv1alpha1.NetworkInterfacePortName(nic)))
}

func (r *NetworkInterfaceReconciler) reconcileDelete(ctx context.Context, nic *apinetv1alpha1.NetworkInterface) error {
	if !controllerutil.ContainsFinalizer(nic, Finalizer) {
		return nil
	}
	if _, err := r.OVS.Delete(ctx, OwnerOf(nic)); err != nil {
		return fmt.Errorf("unplug: %w", err)
	}
	if err := r.Devices.Detach(ctx, nic); err != nil {
		return fmt.Errorf("remove device: %w", err)
	}
	controllerutil.RemoveFinalizer(nic, Finalizer)
	return r.Update(ctx, nic, fieldOwner)
}

func deviceName(dev Device) string {
	if dev.PCI != nil {
		return fmt.Sprintf("VF %s:%s:%s.%s", dev.PCI.Domain, dev.PCI.Bus, dev.PCI.Slot, dev.PCI.Function)
	}
	return "veth " + dev.Tap
}

// report writes state, device and the Attached condition (locked: the
// controller writes conditions too); a new error reason also becomes a
// Warning event.
func (r *NetworkInterfaceReconciler) report(ctx context.Context, nic *apinetv1alpha1.NetworkInterface, dev Device, state apinetv1alpha1.NetworkInterfaceState, reason, msg string) error {
	before := nic.DeepCopy()
	nic.Status.State = state
	nic.Status.PCIAddress = dev.PCI
	nic.Status.TapDevice = nil
	if dev.Tap != "" {
		nic.Status.TapDevice = &apinetv1alpha1.TapDevice{Name: dev.Tap}
	}
	status := metav1.ConditionTrue
	if state != apinetv1alpha1.NetworkInterfaceStateReady {
		status = metav1.ConditionFalse
	}
	cond := metav1.Condition{Type: ConditionAttached, Status: status, Reason: reason, Message: msg}
	old := patch.SetCondition(&nic.Status.Conditions, nic, cond)
	if state == apinetv1alpha1.NetworkInterfaceStateError {
		patch.Warn(r.Recorder, nic, old, cond, "Attach")
	}
	return patch.Status(ctx, r.Client, before, nic, fieldOwner)
}
