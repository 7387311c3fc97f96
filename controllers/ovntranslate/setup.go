// Package ovntranslate turns Networks, NetworkInterfaces, NATGateways,
// LoadBalancers and NetworkPolicies into OVN northbound rows: for each
// object, the rows of ovn/rows are computed from the API objects and written
// by ovn.Client.Apply in one transaction (none when nothing changed). A gone
// object's reconcile deletes exactly its rows (no finalizer: the start-up
// repair catches deletions missed while down); a change of its rows by
// anyone else wakes it and puts them back (rowevents.go).
package ovntranslate

import (
	"context"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	apinetv1alpha1 "github.com/ovnet-dev/ovnet/apis/core/v1alpha1"
	"github.com/ovnet-dev/ovnet/controllers/enqueue"
	"github.com/ovnet-dev/ovnet/controllers/index"
	"github.com/ovnet-dev/ovnet/controllers/ipam"
	"github.com/ovnet-dev/ovnet/controllers/publicip"
	"github.com/ovnet-dev/ovnet/ovn"
	"github.com/ovnet-dev/ovnet/ovn/rows"
)

// Well-known names of the translation.
const (
	// legacyFinalizer was put on translated objects by earlier versions;
	// it is removed when they are deleted (their rows need no finalizer).
	legacyFinalizer = "ovn.apinet.ironcore.dev/rows"

	fieldOwner = client.FieldOwner("ovnet-controller")
	indexNode  = "spec.nodeRef.name"
	// indexPeeredID: Networks by the IDs their spec.peerings list.
	indexPeeredID = "spec.peerings.id"
	// indexDestination: LoadBalancerRoutings by their destinations' NIC UIDs.
	indexDestination = "destinations.targetRef.uid"
)

// Options configure the translation.
type Options struct {
	NB *ovn.Client
	// SB, optional, is read for the load balancers' health checks.
	SB       *ovn.Client
	Provider rows.Provider
	// Guest is what DHCP tells the guests behind NetworkInterfaces.
	Guest rows.Guest
	// Transit is the allocator of the gateway ports' addresses
	// (NewTransit), shared with the allocation controllers.
	Transit *ipam.Addresses
}

// NewTransit builds the allocator of the Networks' gateway-port addresses
// on provider's transit prefixes (IPAddress locks claimed by the Networks).
// The allocation controllers take them (ipam.Options.Transit) and the
// Network translator reads them (Options.Transit): the same allocator, so
// that a lock just created is seen before the cache shows it.
func NewTransit(ctx context.Context, mgr manager.Manager, provider rows.Provider) (*ipam.Addresses, error) {
	pool := ipam.NewIPPool(provider.TransitPrefixes())
	// The upstream router's address is on the transit prefix too.
	pool.MarkTaken(provider.NextHop)
	pool.MarkTaken(provider.TransitPrefix.Addr())
	if provider.IPv6() {
		pool.MarkTaken(provider.NextHop6)
		pool.MarkTaken(provider.TransitPrefix6.Addr())
	}
	transit, err := ipam.NewAddresses(ctx, mgr, pool)
	if err != nil {
		return nil, fmt.Errorf("transit addresses: %w", err)
	}
	return transit, nil
}

// Setup writes the provider network's rows and registers the five
// translators (Network, NATGateway, LoadBalancer, NetworkPolicy,
// NetworkInterface), each on the skeleton of translator.go.
func Setup(ctx context.Context, mgr manager.Manager, opts Options) error {
	if _, err := opts.NB.Apply(ctx, rows.ProviderOwner(opts.Provider), rows.ProviderRows(opts.Provider)); err != nil {
		return fmt.Errorf("provider network rows: %w", err)
	}
	if opts.Transit == nil {
		return fmt.Errorf("no allocator of transit addresses (NewTransit)")
	}
	idx := mgr.GetFieldIndexer()
	if err := index.Register(ctx, idx); err != nil {
		return err
	}
	if err := idx.IndexField(ctx, &apinetv1alpha1.NetworkInterface{}, indexNode, func(o client.Object) []string {
		return []string{o.(*apinetv1alpha1.NetworkInterface).Spec.NodeRef.Name}
	}); err != nil {
		return err
	}
	if err := idx.IndexField(ctx, &apinetv1alpha1.NetworkInterface{}, indexAddress, addressKeys); err != nil {
		return err
	}
	if err := idx.IndexField(ctx, &apinetv1alpha1.LoadBalancerRouting{}, indexDestination, func(o client.Object) []string {
		var uids []string
		for _, d := range o.(*apinetv1alpha1.LoadBalancerRouting).Destinations {
			if d.TargetRef != nil {
				uids = append(uids, string(d.TargetRef.UID))
			}
		}
		return uids
	}); err != nil {
		return err
	}
	if err := idx.IndexField(ctx, &apinetv1alpha1.Network{}, indexPeeredID, func(o client.Object) []string {
		var ids []string
		for _, p := range o.(*apinetv1alpha1.Network).Spec.Peerings {
			ids = append(ids, p.ID)
		}
		return ids
	}); err != nil {
		return err
	}
	d := deps{
		mgr: mgr, c: mgr.GetClient(), nb: opts.NB, sb: opts.SB, rec: mgr.GetEventRecorder("ovnet-controller"), provider: opts.Provider, guest: opts.Guest,
		scope: publicip.Scope{Public: opts.Provider.PublicPrefixes, Transit: opts.Provider.TransitPrefixes()},
		drift: newRowEvents(opts.NB),
	}
	// At start, drop rows whose owner is gone.
	if err := mgr.Add(&repair{reader: mgr.GetAPIReader(), nb: opts.NB, log: mgr.GetLogger().WithName("ovn-repair")}); err != nil {
		return err
	}
	// Each translator's watches are beside its reconciler.
	if err := setupNetwork(d, opts.Transit); err != nil {
		return err
	}
	for _, setup := range []func(deps) error{setupNATGateway, setupLoadBalancer, setupNetworkPolicy, setupNetworkInterface} {
		if err := setup(d); err != nil {
			return err
		}
	}
	return nil
}

func allNetworks(c client.Client) handler.MapFunc {
	return enqueue.Listed(c, func() client.ObjectList { return &apinetv1alpha1.NetworkList{} }, nil)
}

// networkRealized passes the Network events that matter to the objects
// whose rows hang off its router and switch: its Ready (written once its
// rows are) and its deletion, not the IDs and annotations recorded on the
// way there.
var networkRealized = enqueue.ReadyChanged(apinetv1alpha1.ConditionReady, func(o client.Object) []metav1.Condition {
	return o.(*apinetv1alpha1.Network).Status.Conditions
})

// nicStateChanged passes the NIC events that can take a backend in or out
// of a load balancer's rotation: its creation, deletion, and a change of
// the state its agent reports.
var nicStateChanged = predicate.Funcs{
	UpdateFunc: func(e event.UpdateEvent) bool {
		o, n := e.ObjectOld.(*apinetv1alpha1.NetworkInterface), e.ObjectNew.(*apinetv1alpha1.NetworkInterface)
		return o.Status.State != n.Status.State || o.DeletionTimestamp.IsZero() != n.DeletionTimestamp.IsZero()
	},
}

// nicsBy maps an object to the NICs whose index field equals key(obj), in
// the object's namespace (all namespaces for cluster-scoped objects).
func nicsBy(c client.Client, index string, key func(client.Object) string) handler.MapFunc {
	return func(ctx context.Context, o client.Object) []reconcile.Request {
		var list apinetv1alpha1.NetworkInterfaceList
		opts := []client.ListOption{client.MatchingFields{index: key(o)}, client.UnsafeDisableDeepCopy}
		if o.GetNamespace() != "" {
			opts = append(opts, client.InNamespace(o.GetNamespace()))
		}
		if err := c.List(ctx, &list, opts...); err != nil {
			return nil
		}
		out := make([]reconcile.Request, len(list.Items))
		for i := range list.Items {
			out[i] = reconcile.Request{NamespacedName: types.NamespacedName{Namespace: list.Items[i].Namespace, Name: list.Items[i].Name}}
		}
		return out
	}
}

func ownerOf(o client.Object, kind string) ovn.Owner {
	return ovn.Owner{Kind: kind, Namespace: o.GetNamespace(), Name: o.GetName(), UID: string(o.GetUID())}
}

func sameName(_ context.Context, o client.Object) []reconcile.Request {
	return []reconcile.Request{{NamespacedName: client.ObjectKeyFromObject(o)}}
}

// natGatewaysOf maps a Network to the NAT gateways in it.
func natGatewaysOf(c client.Client) handler.MapFunc {
	return enqueue.ListedWhere(c, func() client.ObjectList { return &apinetv1alpha1.NATGatewayList{} }, index.Network, client.Object.GetName, nil)
}

// natTableChanges enqueues the NICs whose entries a NATTable change
// added, removed or altered — not every NIC of the table, which would make
// a gateway with n NICs cost n reconciles per change.
func natTableChanges() handler.TypedEventHandler[client.Object, reconcile.Request] {
	entries := func(o client.Object) map[string]string {
		out := map[string]string{}
		for _, ip := range o.(*apinetv1alpha1.NATTable).IPs {
			for _, sec := range ip.Sections {
				if sec.TargetRef != nil {
					out[sec.TargetRef.Name] = fmt.Sprintf("%s %s %d-%d %s", ip.IP, sec.IP, sec.Port, sec.EndPort, sec.TargetRef.UID)
				}
			}
		}
		return out
	}
	enqueue := func(q workqueue.TypedRateLimitingInterface[reconcile.Request], ns string, names map[string]string) {
		for name := range names {
			q.Add(reconcile.Request{NamespacedName: types.NamespacedName{Namespace: ns, Name: name}})
		}
	}
	return handler.Funcs{
		CreateFunc: func(_ context.Context, e event.CreateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			enqueue(q, e.Object.GetNamespace(), entries(e.Object))
		},
		DeleteFunc: func(_ context.Context, e event.DeleteEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			enqueue(q, e.Object.GetNamespace(), entries(e.Object))
		},
		UpdateFunc: func(_ context.Context, e event.UpdateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			before, after := entries(e.ObjectOld), entries(e.ObjectNew)
			changed := map[string]string{}
			for name, v := range after {
				if before[name] != v {
					changed[name] = v
				}
			}
			for name, v := range before {
				if _, ok := after[name]; !ok {
					changed[name] = v
				}
			}
			enqueue(q, e.ObjectNew.GetNamespace(), changed)
		},
	}
}

// loadBalancersOfNetwork: a Network's event wakes its load balancers.
func loadBalancersOfNetwork(c client.Client) handler.MapFunc {
	return enqueue.ListedWhere(c, func() client.ObjectList { return &apinetv1alpha1.LoadBalancerList{} },
		index.Network, client.Object.GetName, nil)
}

// loadBalancersOfNIC: only a NIC of the LB's network can be its backend
// (a Network never changes under a NIC).
func loadBalancersOfNIC(c client.Client) handler.MapFunc {
	return enqueue.ListedWhere(c, func() client.ObjectList { return &apinetv1alpha1.LoadBalancerList{} },
		index.Network, func(nic client.Object) string { return nic.(*apinetv1alpha1.NetworkInterface).Spec.NetworkRef.Name }, nil)
}

func networkOfInstance(_ context.Context, o client.Object) []reconcile.Request {
	i := o.(*apinetv1alpha1.Instance)
	if i.Spec.NetworkRef.Name == "" {
		return nil
	}
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: i.Namespace, Name: i.Spec.NetworkRef.Name}}}
}

func policiesOfNamespace(c client.Client) handler.MapFunc {
	return enqueue.Listed(c, func() client.ObjectList { return &apinetv1alpha1.NetworkPolicyList{} }, nil)
}
