// Package nodeagent is the node agent: it registers its apinet Node (with
// the OVN chassis name of this host's Open_vSwitch), and for every
// NetworkInterface bound to the Node it creates the device that carries it
// (a veth pair here, an SR-IOV VF elsewhere), plugs the device's host port
// into br-int with external_ids:iface-id = the NIC's logical switch port,
// and reports status.state (Pending until ovn-controller has installed the
// port, then Ready; Error with a reason) and the device in status.
package nodeagent

import (
	"context"
	"fmt"
	"maps"
	"time"

	"github.com/go-logr/logr"
	"github.com/ovn-kubernetes/libovsdb/cache"
	"github.com/ovn-kubernetes/libovsdb/model"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	ctrlcache "sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/source"

	apinetv1alpha1 "github.com/ovnet-dev/ovnet/apis/core/v1alpha1"
	"github.com/ovnet-dev/ovnet/internal/patch"
	"github.com/ovnet-dev/ovnet/ovn"
	"github.com/ovnet-dev/ovnet/ovn/vswitchd"
)

// Well-known names of the agent.
const (
	// Finalizer on NetworkInterfaces whose device exists on their node.
	Finalizer = apinetv1alpha1.NodeAgentFinalizer
	// ConditionAttached on a NetworkInterface: whether its device is plugged
	// and installed by OVN on its node, or why not.
	ConditionAttached = "Attached"

	fieldOwner = client.FieldOwner("ovnet-agent")
)

// Options configure the agent.
type Options struct {
	// NodeName is the apinet Node this agent registers and serves.
	NodeName string
	// Labels are set on the Node (zone, gateway, ...).
	Labels map[string]string
	// OVS is this host's Open_vSwitch database.
	OVS *ovn.Client
	// Bridge is OVN's integration bridge, br-int.
	Bridge  string
	Devices Devices
}

// CacheOptions restrict the manager's NetworkInterface cache to the NICs
// bound to node: an agent never holds the cluster's other NICs.
func CacheOptions(node string) ctrlcache.Options {
	return ctrlcache.Options{ByObject: map[client.Object]ctrlcache.ByObject{
		&apinetv1alpha1.NetworkInterface{}: {Field: fields.OneTermEqualSelector("spec.nodeRef.name", node)},
		&apinetv1alpha1.Node{}:             {Field: fields.OneTermEqualSelector("metadata.name", node)},
	}}
}

// Setup registers the Node (when the manager starts) and the
// NetworkInterface controller. The manager's cache must come from
// CacheOptions.
func Setup(mgr manager.Manager, opts Options) error {
	if opts.Bridge == "" {
		opts.Bridge = "br-int"
	}
	chassis, err := ChassisName(opts.OVS)
	if err != nil {
		return err
	}
	log := mgr.GetLogger().WithName("nodeagent")
	c := mgr.GetClient()
	if err := mgr.Add(manager.RunnableFunc(func(ctx context.Context) error {
		// The Lease comes first: a NIC the agent finalizes is never seen
		// by the controller without a live Lease beside it.
		lease := &leaseHolder{reader: mgr.GetAPIReader(), writer: c, node: opts.NodeName}
		if err := lease.renew(ctx, time.Now()); err != nil {
			return err
		}
		if err := RegisterNode(ctx, c, opts.NodeName, chassis, opts.Labels); err != nil {
			return err
		}
		log.Info("node registered", "node", opts.NodeName, "chassis", chassis)
		heartbeat(ctx, lease, log)
		return nil
	})); err != nil {
		return err
	}
	if err := mgr.Add(manager.RunnableFunc(func(ctx context.Context) error {
		if !mgr.GetCache().WaitForCacheSync(ctx) {
			return nil
		}
		return removeOrphans(ctx, c, opts.OVS, opts.Devices, log)
	})); err != nil {
		return err
	}
	ovsEvents := make(chan event.GenericEvent, 4096)
	opts.OVS.Cache().AddEventHandler(interfaceEvents(ovsEvents, log))
	if w, ok := opts.Devices.(Watcher); ok {
		// A device removed behind the agent's back wakes its NIC, found by
		// the name of its port in br-int.
		if err := mgr.Add(manager.RunnableFunc(func(ctx context.Context) error {
			return w.WatchRemoved(ctx, func(port string) {
				if nic := nicOfPort(opts.OVS, port); nic != nil {
					send(ovsEvents, nic, log)
				}
			})
		})); err != nil {
			return err
		}
	}
	return ctrl.NewControllerManagedBy(mgr).Named("networkinterface-agent").
		For(&apinetv1alpha1.NetworkInterface{}).
		// ovn-controller marking a port installed (or OVS losing it) wakes its NIC.
		WatchesRawSource(source.Channel(ovsEvents, &handler.EnqueueRequestForObject{})).
		Complete(patch.RequeueConflicts(&NetworkInterfaceReconciler{
			Client: mgr.GetClient(), Recorder: mgr.GetEventRecorder("ovnet-agent"),
			NodeName: opts.NodeName, OVS: opts.OVS, Bridge: opts.Bridge, Devices: opts.Devices,
		}))
}

// ChassisName is this host's OVN chassis name: the Open_vSwitch system-id.
func ChassisName(ovs *ovn.Client) (string, error) {
	for _, m := range ovs.Cache().Table(vswitchd.OpenvSwitchTable).Rows() {
		if id := m.(*vswitchd.OpenvSwitch).ExternalIDs["system-id"]; id != "" {
			return id, nil
		}
	}
	return "", fmt.Errorf("the Open_vSwitch database has no external_ids:system-id: is ovn-controller set up on this host?")
}

// RegisterNode creates the Node, or brings its labels and chassis
// annotation up to date; labels set by others are kept.
func RegisterNode(ctx context.Context, c client.Client, name, chassis string, labels map[string]string) error {
	node := &apinetv1alpha1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}
	_, err := controllerutil.CreateOrPatch(ctx, c, node, func() error {
		if node.Labels == nil {
			node.Labels = map[string]string{}
		}
		maps.Copy(node.Labels, labels)
		if node.Annotations == nil {
			node.Annotations = map[string]string{}
		}
		node.Annotations[apinetv1alpha1.AnnotationChassis] = chassis
		return nil
	})
	if err != nil {
		return fmt.Errorf("register node %s: %w", name, err)
	}
	return nil
}

// interfaceEvents turns changes of ovnet's Interface rows into events for
// their NICs. The send never blocks libovsdb's cache; NICs still Pending
// are also looked at again periodically.
func interfaceEvents(ch chan<- event.GenericEvent, log logr.Logger) cache.EventHandler {
	send := func(table string, m model.Model) {
		if table != vswitchd.InterfaceTable {
			return
		}
		ids := m.(*vswitchd.Interface).ExternalIDs
		if !ovn.IsManaged(ids) || ids[ovn.KeyOwnerKind] != "NetworkInterface" {
			return
		}
		send(ch, &apinetv1alpha1.NetworkInterface{ObjectMeta: metav1.ObjectMeta{Namespace: ids[ovn.KeyOwnerNamespace], Name: ids[ovn.KeyOwnerName]}}, log)
	}
	return &cache.EventHandlerFuncs{
		AddFunc:    send,
		UpdateFunc: func(table string, _, m model.Model) { send(table, m) },
		DeleteFunc: send,
	}
}

// send wakes nic without ever blocking the sender.
func send(ch chan<- event.GenericEvent, nic *apinetv1alpha1.NetworkInterface, log logr.Logger) {
	select {
	case ch <- event.GenericEvent{Object: nic}:
	default:
		log.V(1).Info("device event dropped; the periodic check catches up", "nic", client.ObjectKeyFromObject(nic))
	}
}

// nicOfPort is the NIC whose Interface in br-int is named port, if ovnet
// plugged it.
func nicOfPort(ovs *ovn.Client, port string) *apinetv1alpha1.NetworkInterface {
	for _, m := range ovs.Cache().Table(vswitchd.InterfaceTable).RowsShallow() {
		iface := m.(*vswitchd.Interface)
		if iface.Name != port || !ovn.IsManaged(iface.ExternalIDs) || iface.ExternalIDs[ovn.KeyOwnerKind] != "NetworkInterface" {
			continue
		}
		return &apinetv1alpha1.NetworkInterface{ObjectMeta: metav1.ObjectMeta{Namespace: iface.ExternalIDs[ovn.KeyOwnerNamespace], Name: iface.ExternalIDs[ovn.KeyOwnerName]}}
	}
	return nil
}

// removeOrphans unplugs and removes the devices of NICs that went while
// the agent was away (the controller removed their finalizer once the
// agent's Lease had expired). The owners are read before the NICs, so a
// NIC plugged in between is never taken for an orphan.
func removeOrphans(ctx context.Context, c client.Reader, ovs *ovn.Client, devices Devices, log logr.Logger) error {
	owners := ovs.Owners()
	var nics apinetv1alpha1.NetworkInterfaceList
	if err := c.List(ctx, &nics); err != nil {
		return fmt.Errorf("list NICs: %w", err)
	}
	here := map[string]bool{}
	for _, n := range nics.Items {
		here[string(n.UID)] = true
	}
	for _, o := range owners {
		if o.Kind != "NetworkInterface" || here[o.UID] {
			continue
		}
		if _, err := ovs.Delete(ctx, o); err != nil {
			return fmt.Errorf("unplug orphan %s: %w", o, err)
		}
		nic := &apinetv1alpha1.NetworkInterface{ObjectMeta: metav1.ObjectMeta{Namespace: o.Namespace, Name: o.Name, UID: types.UID(o.UID)}}
		if err := devices.Detach(ctx, nic); err != nil {
			return fmt.Errorf("remove the device of orphan %s: %w", o, err)
		}
		log.Info("removed the device of a NIC deleted while the agent was away", "nic", o.String())
	}
	return nil
}
