package nat

import (
	"fmt"
	"net/netip"
	"testing"

	"k8s.io/apimachinery/pkg/types"

	apinetv1alpha1 "github.com/ovnet-dev/ovnet/apis/core/v1alpha1"
)

func nics(n int, claimedBy types.UID) []Candidate {
	out := make([]Candidate, n)
	for i := range out {
		out[i] = Candidate{UID: types.UID(fmt.Sprintf("uid-%d", i)), Name: fmt.Sprintf("nic-%d", i), Node: "n1",
			IP: netip.AddrFrom4([4]byte{10, 0, 0, byte(i + 1)}), Eligible: true, ClaimedBy: claimedBy}
	}
	return out
}

func ranges(t *testing.T, ppni int32, plan Plan, cands []Candidate) string {
	t.Helper()
	by := map[types.UID]Candidate{}
	for _, c := range cands {
		by[c.UID] = c
	}
	out := ""
	for _, ip := range Table(ppni, plan.Slots, by) {
		out += string(ip.IP) + ":"
		for _, s := range ip.Sections {
			out += fmt.Sprintf(" %s=%d-%d", s.IP, s.Port, s.EndPort)
		}
		out += ";"
	}
	return out
}

var natIP = netip.MustParseAddr("203.0.113.10")

func TestAllocateExamples(t *testing.T) {
	for _, tc := range []struct {
		ppni                 int32
		nics                 int
		want                 string
		requested, slotCount int
	}{
		{64, 1, "203.0.113.10: 10.0.0.1=1024-1087;", 1, 1},
		{1024, 3, "203.0.113.10: 10.0.0.1=1024-2047 10.0.0.2=2048-3071 10.0.0.3=3072-4095;", 3, 3},
		{64512, 2, "203.0.113.10: 10.0.0.1=1024-65535;", 2, 1},
	} {
		cands := nics(tc.nics, "")
		plan := Allocate("gw", tc.ppni, []netip.Addr{natIP}, nil, cands)
		if got := ranges(t, tc.ppni, plan, cands); got != tc.want {
			t.Errorf("ppni %d, %d NICs: %s, want %s", tc.ppni, tc.nics, got, tc.want)
		}
		if plan.Requested != tc.requested || len(plan.Slots) != tc.slotCount || len(plan.Claim) != tc.slotCount {
			t.Errorf("ppni %d: requested %d slots %d claims %d", tc.ppni, plan.Requested, len(plan.Slots), len(plan.Claim))
		}
	}
}

// Removing a NIC frees its block and moves no other; a new NIC takes the
// freed (lowest) block; a restart reading the table keeps everything.
func TestAllocateStable(t *testing.T) {
	cands := nics(3, "")
	plan := Allocate("gw", 1024, []netip.Addr{natIP}, nil, cands)
	for i := range cands {
		cands[i].ClaimedBy = "gw"
	}
	previous := plan.Slots
	without1 := []Candidate{cands[0], cands[2]}
	plan2 := Allocate("gw", 1024, []netip.Addr{natIP}, previous, without1)
	if got := ranges(t, 1024, plan2, without1); got != "203.0.113.10: 10.0.0.1=1024-2047 10.0.0.3=3072-4095;" {
		t.Errorf("after removing nic-1: %s", got)
	}
	newNIC := nics(5, "")[4]
	with4 := append(without1, newNIC)
	plan3 := Allocate("gw", 1024, []netip.Addr{natIP}, plan2.Slots, with4)
	if got := ranges(t, 1024, plan3, with4); got != "203.0.113.10: 10.0.0.1=1024-2047 10.0.0.5=2048-3071 10.0.0.3=3072-4095;" {
		t.Errorf("after adding nic-4: %s", got)
	}
	// Restart: the NATTable is the record.
	by := map[types.UID]Candidate{}
	for _, c := range with4 {
		by[c.UID] = c
	}
	table := &apinetv1alpha1.NATTable{IPs: Table(1024, plan3.Slots, by)}
	for i := range with4 {
		with4[i].ClaimedBy = "gw"
	}
	// Listed in another order after the restart.
	reordered := []Candidate{with4[2], with4[1], with4[0]}
	plan4 := Allocate("gw", 1024, []netip.Addr{natIP}, PreviousSlots(table, 1024), reordered)
	if got := ranges(t, 1024, plan4, reordered); got != ranges(t, 1024, plan3, with4) {
		t.Errorf("after restart: %s", got)
	}
}

func TestAllocateEligibilityAndExhaustion(t *testing.T) {
	cands := nics(4, "")
	cands[0].ClaimedBy = "other-gw"                     // claimed by another gateway: ignored
	cands[1].Eligible = false                           // has a public IP: not NATed
	cands[2].ClaimedBy, cands[2].Eligible = "gw", false // no longer eligible: released
	plan := Allocate("gw", 64512, []netip.Addr{natIP}, nil, cands)
	if len(plan.Slots) != 1 || plan.Slots["uid-3"].IP != natIP || plan.Requested != 1 {
		t.Errorf("slots %v requested %d", plan.Slots, plan.Requested)
	}
	if len(plan.Release) != 1 || plan.Release[0] != "uid-2" {
		t.Errorf("release %v", plan.Release)
	}
	// Claimed NICs beyond the capacity are released; previous slots on a
	// NAT IP that is gone are dropped.
	claimed := nics(3, "gw")
	prev := map[types.UID]Slot{"uid-0": {IP: netip.MustParseAddr("203.0.113.99"), Index: 0}}
	plan = Allocate("gw", 32256, []netip.Addr{natIP}, prev, claimed)
	if len(plan.Slots) != 2 || len(plan.Release) != 1 || plan.Release[0] != "uid-2" || plan.Requested != 3 {
		t.Errorf("slots %v release %v requested %d", plan.Slots, plan.Release, plan.Requested)
	}
	// A second NAT IP serves the NICs the first cannot.
	plan = Allocate("gw", 64512, []netip.Addr{natIP, netip.MustParseAddr("203.0.113.11")}, nil, nics(3, ""))
	if len(plan.Slots) != 2 || plan.Requested != 3 || plan.Slots["uid-1"].IP.String() != "203.0.113.11" {
		t.Errorf("two NAT IPs: slots %v requested %d", plan.Slots, plan.Requested)
	}
}

func TestDesiredIPs(t *testing.T) {
	i32 := func(v int32) *int32 { return &v }
	for _, tc := range []struct {
		requested int64
		ppni      int32
		min, max  *int32
		want      int
	}{
		{0, 64512, i32(1), i32(3), 1},
		{3, 64512, nil, i32(3), 3},
		{5, 64512, i32(1), i32(3), 3},
		{64, 1024, nil, nil, 2}, // 63 per IP: rounded up (docs/design.md item 3)
		{63, 1024, nil, nil, 1},
		{126, 1024, nil, nil, 2},
		{10, 1024, i32(1), nil, 1},
	} {
		if got := DesiredIPs(tc.requested, tc.ppni, tc.min, tc.max); got != tc.want {
			t.Errorf("DesiredIPs(%d, %d) = %d, want %d", tc.requested, tc.ppni, got, tc.want)
		}
	}
}
