package main

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/ovn-kubernetes/libovsdb/cache"
	"github.com/ovn-kubernetes/libovsdb/model"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	apinetv1alpha1 "github.com/ovnet-dev/ovnet/apis/core/v1alpha1"
	"github.com/ovnet-dev/ovnet/ovn"
	"github.com/ovnet-dev/ovnet/ovn/nbdb"
)

// expectedRows reports whether the NB database holds every row the
// population must become, counted by owner.
func expectedRows(nb *ovn.Client, sc coldScale, res coldResult) bool {
	got := ownedRows(nb)
	return got.routers == sc.Networks && got.ports == sc.NICs && got.dnat == res.publicNICs &&
		got.snat == res.natedNICs && got.lbOwners == sc.LoadBalancers
}

type rowCounts struct{ routers, ports, dnat, snat, lbOwners int }

func ownedRows(nb *ovn.Client) rowCounts {
	var n rowCounts
	for _, m := range nb.Cache().Table(nbdb.LogicalRouterTable).RowsShallow() {
		if m.(*nbdb.LogicalRouter).ExternalIDs[ovn.KeyOwnerKind] == "Network" {
			n.routers++
		}
	}
	n.ports = countPorts(nb)
	for _, m := range nb.Cache().Table(nbdb.NATTable).RowsShallow() {
		switch nat := m.(*nbdb.NAT); {
		case nat.Type == nbdb.NATTypeDNATAndSNAT && nat.ExternalIDs[ovn.KeyOwnerKind] == "NetworkInterface":
			n.dnat++
		case nat.Type == nbdb.NATTypeSNAT && nat.ExternalIDs[ovn.KeyOwnerKind] == "NATGateway":
			n.snat++
		}
	}
	owners := map[string]bool{}
	for _, m := range nb.Cache().Table(nbdb.LoadBalancerTable).RowsShallow() {
		lb := m.(*nbdb.LoadBalancer)
		if lb.ExternalIDs[ovn.KeyOwnerKind] == "LoadBalancer" && len(lb.Vips) > 0 {
			for _, backends := range lb.Vips {
				if backends != "" {
					owners[lb.ExternalIDs[ovn.KeyOwnerUID]] = true
				}
			}
		}
	}
	n.lbOwners = len(owners)
	return n
}

func rowSummary(nb *ovn.Client) string {
	n := ownedRows(nb)
	return fmt.Sprintf("routers %d, ports %d, dnat_and_snat %d, snat %d, load balancers with backends %d", n.routers, n.ports, n.dnat, n.snat, n.lbOwners)
}

// allReady lists the kinds the controller reports on and checks their
// Ready condition (for the current generation).
func allReady(ctx context.Context, c client.Client) (bool, error) {
	ready := func(conds []metav1.Condition, gen int64) bool {
		cond := meta.FindStatusCondition(conds, apinetv1alpha1.ConditionReady)
		return cond != nil && cond.Status == metav1.ConditionTrue && cond.ObservedGeneration == gen
	}
	var nws apinetv1alpha1.NetworkList
	var nics apinetv1alpha1.NetworkInterfaceList
	var gws apinetv1alpha1.NATGatewayList
	var lbs apinetv1alpha1.LoadBalancerList
	for _, l := range []client.ObjectList{&nws, &nics, &gws, &lbs} {
		if err := c.List(ctx, l); err != nil {
			return false, err
		}
	}
	for _, o := range nws.Items {
		if !ready(o.Status.Conditions, o.Generation) {
			return false, nil
		}
	}
	for _, o := range nics.Items {
		if !ready(o.Status.Conditions, o.Generation) {
			return false, nil
		}
	}
	for _, o := range gws.Items {
		if !ready(o.Status.Conditions, o.Generation) {
			return false, nil
		}
	}
	for _, o := range lbs.Items {
		if !ready(o.Status.Conditions, o.Generation) {
			return false, nil
		}
	}
	return true, nil
}

// waitLong polls cond every interval for up to half an hour (a cold start
// at 10k takes minutes).
func waitLong(interval time.Duration, cond func() (bool, error)) error {
	deadline := time.Now().Add(30 * time.Minute)
	for time.Now().Before(deadline) {
		ok, err := cond()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		time.Sleep(interval)
	}
	return fmt.Errorf("timed out")
}

// rowChanges counts row inserts, updates and deletes in every NB table
// but NB_Global (northd writes its sequence numbers there).
func rowChanges(n *atomic.Int64) cache.EventHandler {
	count := func(table string) {
		if table != nbdb.NBGlobalTable {
			n.Add(1)
		}
	}
	return &cache.EventHandlerFuncs{
		AddFunc:    func(table string, _ model.Model) { count(table) },
		UpdateFunc: func(table string, _, _ model.Model) { count(table) },
		DeleteFunc: func(table string, _ model.Model) { count(table) },
	}
}
