package nat

import (
	"net/netip"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	apinetv1alpha1 "github.com/ovnet-dev/ovnet/apis/core/v1alpha1"
)

// TestReport: what a gateway's status says is counted from its table and
// the NICs of its network, and PortsAvailable tells waiting for blocks
// being given out from waiting for blocks that do not exist.
func TestReport(t *testing.T) {
	natIP, other := netip.MustParseAddr("203.0.113.1"), netip.MustParseAddr("203.0.113.2")
	gw := func(ppni int32) *apinetv1alpha1.NATGateway {
		return &apinetv1alpha1.NATGateway{ObjectMeta: metav1.ObjectMeta{UID: "gw"}, Spec: apinetv1alpha1.NATGatewaySpec{
			IPFamily: apinetv1alpha1.IPv4, NetworkRef: corev1.LocalObjectReference{Name: "net"}, PortsPerNetworkInterface: ppni}}
	}
	nic := func(uid string, mutate ...func(*apinetv1alpha1.NetworkInterface)) apinetv1alpha1.NetworkInterface {
		n := apinetv1alpha1.NetworkInterface{ObjectMeta: metav1.ObjectMeta{UID: types.UID(uid), Name: uid}, Spec: apinetv1alpha1.NetworkInterfaceSpec{
			NetworkRef: corev1.LocalObjectReference{Name: "net"}, IPs: []apinetv1alpha1.IPAddr{"10.0.0.1"}}}
		for _, m := range mutate {
			m(&n)
		}
		return n
	}
	claimedBy := func(gw types.UID) func(*apinetv1alpha1.NetworkInterface) {
		return func(n *apinetv1alpha1.NetworkInterface) {
			n.Spec.NATGateways = []apinetv1alpha1.NetworkInterfaceNAT{{IPFamily: apinetv1alpha1.IPv4, ClaimRef: apinetv1alpha1.LocalUIDReference{UID: gw}}}
		}
	}
	deleting := func(n *apinetv1alpha1.NetworkInterface) {
		now := metav1.Now()
		n.DeletionTimestamp = &now
		n.Finalizers = []string{"f"}
	}
	public := func(n *apinetv1alpha1.NetworkInterface) {
		n.Spec.PublicIPs = []apinetv1alpha1.PublicIPRequest{{Name: "p", IPFamily: apinetv1alpha1.IPv4}}
	}
	// table holds one block per NIC uid, on ip, in order.
	table := func(ppni int32, ip netip.Addr, uids ...string) *apinetv1alpha1.NATTable {
		slots := map[types.UID]Slot{}
		by := map[types.UID]Candidate{}
		for i, u := range uids {
			slots[types.UID(u)] = Slot{IP: ip, Index: i}
			by[types.UID(u)] = Candidate{UID: types.UID(u), Name: u, IP: netip.MustParseAddr("10.0.0.1")}
		}
		return &apinetv1alpha1.NATTable{IPs: Table(ppni, slots, by)}
	}
	for _, c := range []struct {
		name            string
		gw              *apinetv1alpha1.NATGateway
		table           *apinetv1alpha1.NATTable
		nics            []apinetv1alpha1.NetworkInterface
		held            []netip.Addr
		used, requested int
		status          metav1.ConditionStatus
		reason, message string
	}{
		{name: "every NIC has its block", gw: gw(1024), table: table(1024, natIP, "a", "b"),
			nics: []apinetv1alpha1.NetworkInterface{nic("a", claimedBy("gw")), nic("b", claimedBy("gw"))}, held: []netip.Addr{natIP},
			used: 2, requested: 2, status: metav1.ConditionTrue, reason: apinetv1alpha1.ReasonAllocated, message: "2 of 2 interfaces NATed"},
		{name: "blocks being given out", gw: gw(1024), table: table(1024, natIP, "a"),
			nics: []apinetv1alpha1.NetworkInterface{nic("a", claimedBy("gw")), nic("b"), nic("c")}, held: []netip.Addr{natIP},
			used: 1, requested: 3, status: metav1.ConditionFalse, reason: "Pending", message: "2 interfaces are being given port blocks"},
		{name: "one block per NAT IP, three NICs", gw: gw(64512), table: table(64512, natIP, "a"),
			nics: []apinetv1alpha1.NetworkInterface{nic("a", claimedBy("gw")), nic("b"), nic("c")}, held: []netip.Addr{natIP},
			used: 1, requested: 3, status: metav1.ConditionFalse, reason: apinetv1alpha1.ReasonPortsExhausted,
			message: "2 interfaces wait for a port block: 1 NAT IPs with 1 blocks of 64512 ports each are all in use"},
		{name: "no NAT IP held yet: blocks on an IP it does not hold are not counted", gw: gw(1024), table: table(1024, other, "a"),
			nics: []apinetv1alpha1.NetworkInterface{nic("a", claimedBy("gw"))},
			used: 0, requested: 1, status: metav1.ConditionFalse, reason: "Pending", message: "1 interfaces wait for the gateway's NAT IPs to be allocated"},
		{name: "NICs of another gateway, with a public IP, or leaving unclaimed are not requests; a claimed one leaving is",
			gw: gw(1024), table: table(1024, natIP, "a"), held: []netip.Addr{natIP},
			nics: []apinetv1alpha1.NetworkInterface{nic("a", claimedBy("gw"), deleting), nic("b", claimedBy("other")), nic("c", public), nic("d", deleting)},
			used: 1, requested: 1, status: metav1.ConditionTrue, reason: apinetv1alpha1.ReasonAllocated, message: "1 of 1 interfaces NATed"},
		{name: "no table, no NICs", gw: gw(1024), held: []netip.Addr{natIP},
			used: 0, requested: 0, status: metav1.ConditionTrue, reason: apinetv1alpha1.ReasonAllocated, message: "0 of 0 interfaces NATed"},
	} {
		t.Run(c.name, func(t *testing.T) {
			used, requested, cond := Report(c.gw, c.table, c.nics, c.held)
			if used != c.used || requested != c.requested || cond.Status != c.status || cond.Reason != c.reason || cond.Message != c.message {
				t.Errorf("Report = used %d, requested %d, %s/%s %q; want used %d, requested %d, %s/%s %q",
					used, requested, cond.Status, cond.Reason, cond.Message, c.used, c.requested, c.status, c.reason, c.message)
			}
		})
	}
}
