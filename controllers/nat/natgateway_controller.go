// Package nat allocates NAT gateways' port blocks (docs/nat.md;
// docs/design.md items 2 and 4) and scales their IPs (item 3): the
// NATGateway controller claims eligible NetworkInterfaces through
// spec.natGateways, gives each a block of portsPerNetworkInterface source
// ports on one NAT IP, and records the blocks in the NATTable of the same
// name, which is the record a restart reads back. The OVN rows are written
// by controllers/ovntranslate from the NATTable (ovn/rows/natgateway.go).
package nat

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	apinetv1alpha1 "github.com/ovnet-dev/ovnet/apis/core/v1alpha1"
	"github.com/ovnet-dev/ovnet/controllers/enqueue"
	"github.com/ovnet-dev/ovnet/controllers/index"
	"github.com/ovnet-dev/ovnet/controllers/publicip"
	"github.com/ovnet-dev/ovnet/internal/patch"
)

var (
	natPortsUsed = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "ovnet_nat_ports_used", Help: "Source ports a NAT gateway has handed out in blocks to NICs.",
	}, []string{"namespace", "natgateway"})
	natWaiting = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "ovnet_nat_interfaces_waiting", Help: "Eligible NICs of a NAT gateway without a port block.",
	}, []string{"namespace", "natgateway"})
)

func init() { metrics.Registry.MustRegister(natPortsUsed, natWaiting) }

// ConditionPortsAvailable on a NATGateway: False (reason PortsExhausted)
// while eligible NICs wait for a port block.
const ConditionPortsAvailable = "PortsAvailable"

const fieldOwner = client.FieldOwner("ovnet-controller")

// NATGatewayReconciler allocates a gateway's port blocks.
type NATGatewayReconciler struct {
	client.Client
	mu        sync.Mutex
	lastRound map[types.UID]time.Time
	// APIReader reads a NIC live when a claim conflicts.
	APIReader client.Reader
	// Scope is where the gateway's NAT IPs may be (the public pools).
	Scope    publicip.Scope
	Recorder recorder.EventRecorder
	// ReportedWithReady: the OVN translator runs in the same process and
	// writes the gateway's first report (Report) with its Ready.
	ReportedWithReady bool
	// quiet holds back a new gateway's first "waiting for NAT IPs"
	// (patch.QuietFor).
	quiet patch.Quiet
	// firstReport holds back a new gateway's first report while the
	// translator is expected to write it (ReportedWithReady).
	firstReport patch.Quiet
}

// +kubebuilder:rbac:groups=core.apinet.ironcore.dev,resources=natgateways,verbs=get;list;watch
// +kubebuilder:rbac:groups=core.apinet.ironcore.dev,resources=natgateways/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=core.apinet.ironcore.dev,resources=nattables,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=core.apinet.ironcore.dev,resources=networkinterfaces,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=core.apinet.ironcore.dev,resources=ips,verbs=get;list;watch

func (r *NATGatewayReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	gw := &apinetv1alpha1.NATGateway{}
	if err := r.Get(ctx, req.NamespacedName, gw); err != nil {
		if !apierrors.IsNotFound(err) {
			return ctrl.Result{}, err
		}
		// The gateway is gone. Its table carries its owner reference
		// (Kubernetes' garbage collector deletes it); the NICs' claims
		// are dropped by the NAT release controller.
		r.quiet.Done(req.NamespacedName)
		r.firstReport.Done(req.NamespacedName)
		natPortsUsed.DeleteLabelValues(req.Namespace, req.Name)
		natWaiting.DeleteLabelValues(req.Namespace, req.Name)
		return ctrl.Result{}, nil
	}
	if !gw.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil
	}
	if d := r.wait(gw.UID); d > 0 {
		return ctrl.Result{RequeueAfter: d}, nil
	}
	return r.reconcile(ctx, gw)
}

// roundInterval is the least time between two rounds of one gateway: the
// NATTable of a gateway with thousands of NICs is large, and NICs that
// come or go within the interval are taken in one round, with one write of
// the table, instead of one round (and one write) each.
const roundInterval = 250 * time.Millisecond

// wait says how long the gateway must wait for its next round, and starts
// the round when it need not.
func (r *NATGatewayReconciler) wait(uid types.UID) time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.lastRound == nil {
		r.lastRound = map[types.UID]time.Time{}
	}
	if d := roundInterval - time.Since(r.lastRound[uid]); d > 0 {
		return d
	}
	r.lastRound[uid] = time.Now()
	return 0
}

// claimsPerRound bounds the NICs one round claims (one patch each): the
// table is written after every round, so a burst of thousands of new NICs
// is NATed in steps instead of after all the patches.
const claimsPerRound = 100

func (r *NATGatewayReconciler) reconcile(ctx context.Context, gw *apinetv1alpha1.NATGateway) (ctrl.Result, error) {
	ppni := gw.Spec.PortsPerNetworkInterface
	table := &apinetv1alpha1.NATTable{}
	if err := r.Get(ctx, client.ObjectKeyFromObject(gw), table); apierrors.IsNotFound(err) {
		table = nil
	} else if err != nil {
		return ctrl.Result{}, err
	}
	var nics apinetv1alpha1.NetworkInterfaceList
	if err := r.List(ctx, &nics, client.InNamespace(gw.Namespace), client.MatchingFields{index.Network: gw.Spec.NetworkRef.Name}); err != nil {
		return ctrl.Result{}, err
	}
	held, err := r.heldIPs(ctx, gw)
	if err != nil {
		return ctrl.Result{}, err
	}
	candidates, byUID := candidatesOf(gw, nics.Items)
	plan := Allocate(gw.UID, ppni, held, PreviousSlots(table, ppni), candidates)

	for _, uid := range plan.Release {
		if _, err := r.setClaim(ctx, byUID[uid], gw, false); err != nil {
			return ctrl.Result{}, err
		}
	}
	deferred := 0
	if len(plan.Claim) > claimsPerRound {
		for _, uid := range plan.Claim[claimsPerRound:] {
			delete(plan.Slots, uid)
		}
		deferred = len(plan.Claim) - claimsPerRound
		plan.Claim = plan.Claim[:claimsPerRound]
	}
	for _, uid := range plan.Claim {
		claimed, err := r.setClaim(ctx, byUID[uid], gw, true)
		if err != nil {
			return ctrl.Result{}, err
		}
		if !claimed {
			// Taken by another gateway meanwhile: no block for it here.
			delete(plan.Slots, uid)
		}
	}
	table, err = r.writeTable(ctx, gw, table, Table(ppni, plan.Slots, candidateMap(candidates)))
	if err != nil {
		return ctrl.Result{}, err
	}
	if err := r.writeStatus(ctx, gw, table, nics.Items, held); err != nil {
		return ctrl.Result{}, err
	}
	if deferred > 0 {
		// A fixed short delay: Requeue would grow the backoff each round.
		return ctrl.Result{RequeueAfter: 10 * time.Millisecond}, nil
	}
	return ctrl.Result{}, nil
}

// heldIPs are the gateway's IPs of its family that it holds
// (controllers/publicip), in spec order. An address the gateway names but
// does not hold (no IP object, another claimer, no lock) is never used for NAT.
func (r *NATGatewayReconciler) heldIPs(ctx context.Context, gw *apinetv1alpha1.NATGateway) ([]netip.Addr, error) {
	var named []apinetv1alpha1.IPAddr
	for _, e := range gw.Spec.IPs {
		if apinetv1alpha1.FamilyOf(e.IP) == gw.Spec.IPFamily {
			named = append(named, e.IP)
		}
	}
	return publicip.Held(ctx, r.Client, gw, named, r.Scope)
}

// candidatesOf lists the NICs of the gateway's network, oldest first (so
// that earlier NICs keep the lower blocks when many arrive at once).
func candidatesOf(gw *apinetv1alpha1.NATGateway, nics []apinetv1alpha1.NetworkInterface) ([]Candidate, map[types.UID]*apinetv1alpha1.NetworkInterface) {
	fam := gw.Spec.IPFamily
	byUID := map[types.UID]*apinetv1alpha1.NetworkInterface{}
	var out []Candidate
	slices.SortFunc(nics, func(a, b apinetv1alpha1.NetworkInterface) int {
		return cmp.Or(a.CreationTimestamp.Compare(b.CreationTimestamp.Time), cmp.Compare(a.Name, b.Name))
	})
	for i := range nics {
		nic := &nics[i]
		if nic.Spec.NetworkRef.Name != gw.Spec.NetworkRef.Name {
			continue
		}
		c := Candidate{UID: nic.UID, Name: nic.Name, Node: nic.Spec.NodeRef.Name, Deleting: !nic.DeletionTimestamp.IsZero(),
			IP: internalAddress(nic, fam), Eligible: Eligible(gw, nic)}
		for _, n := range nic.Spec.NATGateways {
			if n.IPFamily == fam {
				c.ClaimedBy = n.ClaimRef.UID
			}
		}
		byUID[nic.UID] = nic
		out = append(out, c)
	}
	return out, byUID
}

// Eligible reports whether gw NATs nic: nic is of gw's network and has an
// internal address, and no public IP, of gw's family.
func Eligible(gw *apinetv1alpha1.NATGateway, nic *apinetv1alpha1.NetworkInterface) bool {
	fam := gw.Spec.IPFamily
	hasPublic := slices.ContainsFunc(nic.Spec.PublicIPs, func(p apinetv1alpha1.PublicIPRequest) bool {
		return p.IPFamily == fam || (p.IPFamily == "" && apinetv1alpha1.FamilyOf(p.IP) == fam)
	})
	return nic.Spec.NetworkRef.Name == gw.Spec.NetworkRef.Name && internalAddress(nic, fam).IsValid() && !hasPublic
}

// internalAddress is nic's first internal address of family fam.
func internalAddress(nic *apinetv1alpha1.NetworkInterface, fam apinetv1alpha1.IPFamily) netip.Addr {
	for _, ip := range nic.Spec.IPs {
		if a, err := netip.ParseAddr(string(ip)); err == nil && apinetv1alpha1.FamilyOf(ip) == fam {
			return a
		}
	}
	return netip.Addr{}
}

func candidateMap(cs []Candidate) map[types.UID]Candidate {
	m := make(map[types.UID]Candidate, len(cs))
	for _, c := range cs {
		m[c.UID] = c
	}
	return m
}

// setClaim adds or removes the gateway's entry in nic.spec.natGateways
// with a merge patch that carries the resourceVersion (the list is
// replaced as a whole). On a conflict the NIC is read again from the API
// server and the change retried; a NIC that another gateway claimed
// meanwhile is left alone (false).
func (r *NATGatewayReconciler) setClaim(ctx context.Context, nic *apinetv1alpha1.NetworkInterface, gw *apinetv1alpha1.NATGateway, claim bool) (bool, error) {
	done := false
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if done {
			if err := r.APIReader.Get(ctx, client.ObjectKeyFromObject(nic), nic); err != nil {
				return err
			}
		}
		done = true
		if claim && slices.ContainsFunc(nic.Spec.NATGateways, func(n apinetv1alpha1.NetworkInterfaceNAT) bool {
			return n.IPFamily == gw.Spec.IPFamily && n.ClaimRef.UID != gw.UID
		}) {
			claim = false
			return errOtherGateway
		}
		before := nic.DeepCopy()
		nic.Spec.NATGateways = slices.DeleteFunc(nic.Spec.NATGateways, func(n apinetv1alpha1.NetworkInterfaceNAT) bool {
			return n.IPFamily == gw.Spec.IPFamily && n.ClaimRef.UID == gw.UID
		})
		if claim {
			nic.Spec.NATGateways = append(nic.Spec.NATGateways, apinetv1alpha1.NetworkInterfaceNAT{
				IPFamily: gw.Spec.IPFamily, ClaimRef: apinetv1alpha1.LocalUIDReference{Name: gw.Name, UID: gw.UID}})
		}
		return patch.Object(ctx, r.Client, before, nic, fieldOwner)
	})
	switch {
	case errors.Is(err, errOtherGateway), apierrors.IsNotFound(err):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("%s NIC %s: %w", map[bool]string{true: "claim", false: "release"}[claim], nic.Name, err)
	}
	return claim, nil
}

var errOtherGateway = errors.New("claimed by another gateway")

// writeTable records the blocks in the gateway's NATTable (table, nil
// when it has none yet) and returns the table as written. A gateway
// without blocks gets no table until it has some: an empty one would be a
// write for nothing, and another when the blocks come.
func (r *NATGatewayReconciler) writeTable(ctx context.Context, gw *apinetv1alpha1.NATGateway, table *apinetv1alpha1.NATTable, ips []apinetv1alpha1.NATIP) (*apinetv1alpha1.NATTable, error) {
	if table == nil && len(ips) == 0 {
		return nil, nil
	}
	table = &apinetv1alpha1.NATTable{ObjectMeta: metav1.ObjectMeta{Namespace: gw.Namespace, Name: gw.Name}}
	_, err := controllerutil.CreateOrUpdate(ctx, r.Client, table, func() error {
		table.IPs = ips
		return controllerutil.SetControllerReference(gw, table, r.Scheme())
	})
	if err != nil {
		return nil, fmt.Errorf("NATTable %s: %w", gw.Name, err)
	}
	return table, nil
}

func (r *NATGatewayReconciler) writeStatus(ctx context.Context, gw *apinetv1alpha1.NATGateway, table *apinetv1alpha1.NATTable, nics []apinetv1alpha1.NetworkInterface, held []netip.Addr) error {
	before := gw.DeepCopy()
	used, requested, cond := Report(gw, table, nics, held)
	SetReport(gw, used, requested, cond)
	natPortsUsed.WithLabelValues(gw.Namespace, gw.Name).Set(float64(used) * float64(gw.Spec.PortsPerNetworkInterface))
	natWaiting.WithLabelValues(gw.Namespace, gw.Name).Set(float64(max(0, requested-used)))
	if r.ReportedWithReady && cond.Reason != "Pending" {
		// The OVN translator writes the first report with the gateway's
		// Ready (Report): one write for a new gateway instead of two.
		// Written here only if that has not happened within QuietFor of
		// the blocks being given out (a Pending is held back below).
		if err := r.firstReport.Wait(gw, before.Status.Conditions, ConditionPortsAvailable, "written with Ready"); err != nil {
			return err
		}
	}
	// Held back only while the NAT IPs are being allocated, not once
	// their claim has failed (an address without IP object).
	claim := apinetv1alpha1.ConditionCopy(gw.Status.Conditions, apinetv1alpha1.ConditionPublicIPsClaimed)
	if claim.Status != metav1.ConditionFalse || claim.Reason == "Pending" {
		// The counts wait with it: they go in the same write.
		if err := r.quiet.Hold(gw, before.Status.Conditions, cond); err != nil {
			return err
		}
	}
	r.quiet.Done(client.ObjectKeyFromObject(gw))
	r.firstReport.Done(client.ObjectKeyFromObject(gw))
	patch.Warn(r.Recorder, gw, apinetv1alpha1.ConditionCopy(before.Status.Conditions, ConditionPortsAvailable), cond, "Allocate", "Pending")
	return patch.Status(ctx, r.Client, before, gw, fieldOwner)
}

// Report is what gw's status says of its allocation, computed from what
// is recorded, so that whoever computes it gets the same: usedNATIPs, the
// NICs with a block in the table on a NAT IP gw holds; requestedNATIPs,
// the NICs of its network (nics) that are NATed or want to be (as Allocate
// counts them); and the condition PortsAvailable, False while some of them
// wait: Pending while blocks are being given out (or the NAT IPs
// allocated), PortsExhausted when the held NAT IPs have fewer blocks than
// are requested. Both the NAT gateway controller and the OVN translator
// write it (SetReport), the translator in the same write as Ready.
func Report(gw *apinetv1alpha1.NATGateway, table *apinetv1alpha1.NATTable, nics []apinetv1alpha1.NetworkInterface, held []netip.Addr) (used, requested int, cond metav1.Condition) {
	ppni := gw.Spec.PortsPerNetworkInterface
	var natIPs []netip.Addr
	for _, a := range held {
		if apinetv1alpha1.FamilyOf(apinetv1alpha1.IPAddr(a.String())) == gw.Spec.IPFamily {
			natIPs = append(natIPs, a)
		}
	}
	perIP := SlotsPerIP(ppni)
	for _, s := range PreviousSlots(table, ppni) {
		if slices.Contains(natIPs, s.IP) && s.Index < perIP {
			used++
		}
	}
	candidates, _ := candidatesOf(gw, nics)
	for _, c := range candidates {
		if c.requests(gw.UID) {
			requested++
		}
	}
	cond = metav1.Condition{Type: ConditionPortsAvailable, Status: metav1.ConditionTrue, Reason: apinetv1alpha1.ReasonAllocated,
		Message: fmt.Sprintf("%d of %d interfaces NATed", used, requested)}
	switch waiting := requested - used; {
	case waiting <= 0:
	case len(natIPs) == 0:
		cond.Status, cond.Reason = metav1.ConditionFalse, "Pending"
		cond.Message = fmt.Sprintf("%d interfaces wait for the gateway's NAT IPs to be allocated", waiting)
	case requested > len(natIPs)*perIP:
		cond.Status, cond.Reason = metav1.ConditionFalse, apinetv1alpha1.ReasonPortsExhausted
		cond.Message = fmt.Sprintf("%d interfaces wait for a port block: %d NAT IPs with %d blocks of %d ports each are all in use",
			waiting, len(natIPs), perIP, ppni)
	default:
		cond.Status, cond.Reason = metav1.ConditionFalse, "Pending"
		cond.Message = fmt.Sprintf("%d interfaces are being given port blocks", waiting)
	}
	return used, requested, cond
}

// SetReport sets a Report in gw's status.
func SetReport(gw *apinetv1alpha1.NATGateway, used, requested int, cond metav1.Condition) {
	gw.Status.UsedNATIPs, gw.Status.RequestedNATIPs = int64(used), int64(requested)
	patch.SetCondition(&gw.Status.Conditions, gw, cond)
}

// SetupNATGateway registers the controller: a gateway is reconciled when it
// changes, when its table changes, when an IP it names or holds changes,
// and when a NIC of its network changes.
func SetupNATGateway(mgr manager.Manager, opts Options) error {
	if err := index.Register(context.Background(), mgr.GetFieldIndexer()); err != nil {
		return err
	}
	c := mgr.GetClient()
	return ctrl.NewControllerManagedBy(mgr).Named("natgateway").
		For(&apinetv1alpha1.NATGateway{}).
		Owns(&apinetv1alpha1.NATTable{}).
		// An IP claimed or released by the gateway changes its NAT IPs.
		Watches(&apinetv1alpha1.IP{}, handler.EnqueueRequestsFromMapFunc(publicip.ClaimerOrNamersOfIP(c, "natgateways",
			func() client.ObjectList { return &apinetv1alpha1.NATGatewayList{} }))).
		Watches(&apinetv1alpha1.IPAddress{}, handler.EnqueueRequestsFromMapFunc(publicip.ClaimerOfLock(c, "natgateways"))).
		Watches(&apinetv1alpha1.NetworkInterface{}, handler.EnqueueRequestsFromMapFunc(gatewaysOfNIC(c))).
		Complete(patch.RequeueConflicts(&NATGatewayReconciler{Client: c, APIReader: mgr.GetAPIReader(), Scope: opts.Scope,
			ReportedWithReady: opts.ReportedWithReady, Recorder: mgr.GetEventRecorder("ovnet-controller")}))
}

// gatewaysOfNIC maps a NIC to the gateways of its network.
func gatewaysOfNIC(c client.Client) handler.MapFunc {
	return enqueue.ListedWhere(c, func() client.ObjectList { return &apinetv1alpha1.NATGatewayList{} }, index.Network,
		func(nic client.Object) string { return nic.(*apinetv1alpha1.NetworkInterface).Spec.NetworkRef.Name }, nil)
}
