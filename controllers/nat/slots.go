package nat

import (
	"cmp"
	"net/netip"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	apinetv1alpha1 "github.com/ovnet-dev/ovnet/apis/core/v1alpha1"
)

// Ports NATed per NAT IP: the ephemeral range 1024..65535.
const (
	FirstPort = 1024
	LastPort  = 65535
	PortCount = LastPort - FirstPort + 1 // 64512
)

// Slot is a block of ports on a NAT IP.
type Slot struct {
	IP    netip.Addr
	Index int
}

// Ports is the first and last port of the slot for ppni ports per NIC.
func (s Slot) Ports(ppni int32) (int32, int32) {
	first := FirstPort + int32(s.Index)*ppni
	return first, first + ppni - 1
}

// SlotsPerIP is how many NICs one NAT IP serves.
func SlotsPerIP(ppni int32) int {
	if ppni < 1 || ppni > PortCount {
		return 0
	}
	return PortCount / int(ppni)
}

// Candidate is a NIC of the gateway's network, as the allocation sees it.
type Candidate struct {
	UID  types.UID
	Name string
	Node string
	// IP is the NIC's internal address of the gateway's family.
	IP netip.Addr
	// Eligible: an internal IP of the family and no public IP of it.
	Eligible bool
	// ClaimedBy is the UID of the gateway that claims the NIC for the
	// family ("" when none).
	ClaimedBy types.UID
	Deleting  bool
}

// requests reports whether c counts among the NICs that want NAT from
// gateway gw: claimed by it and eligible, or eligible, unclaimed and not
// being deleted.
func (c Candidate) requests(gw types.UID) bool {
	return c.Eligible && (c.ClaimedBy == gw || c.ClaimedBy == "" && !c.Deleting)
}

// Plan is the outcome of one allocation round.
type Plan struct {
	// Slots of the NICs that are NATed, by NIC UID.
	Slots map[types.UID]Slot
	// Claim are NICs to claim for the gateway (they have a slot).
	Claim []types.UID
	// Release are NICs whose claim by the gateway must go.
	Release []types.UID
	// Requested counts the eligible NICs that are or want to be NATed.
	Requested int
}

// Allocate assigns port slots to the candidates of a gateway (UID gw) over
// natIPs (in spec order), keeping every slot in previous that is still
// valid: adding or removing a NIC never moves another NIC's block. New
// slots are the lowest free index on the first NAT IP that has one.
// Candidates are taken in the given order; when slots run out, claimed
// NICs without a slot are released and unclaimed ones stay unclaimed (but
// are counted in Requested).
func Allocate(gw types.UID, ppni int32, natIPs []netip.Addr, previous map[types.UID]Slot, candidates []Candidate) Plan {
	plan := Plan{Slots: map[types.UID]Slot{}}
	perIP := SlotsPerIP(ppni)
	taken := map[Slot]bool{}
	valid := func(s Slot) bool { return slices.Contains(natIPs, s.IP) && s.Index >= 0 && s.Index < perIP }
	var claimedWaiting, free []Candidate
	for _, c := range candidates {
		switch {
		case c.ClaimedBy != "" && c.ClaimedBy != gw:
			// Another gateway's NIC.
		case c.ClaimedBy == gw && !c.Eligible:
			plan.Release = append(plan.Release, c.UID)
		case c.ClaimedBy == gw:
			if s, ok := previous[c.UID]; ok && valid(s) && !taken[s] {
				plan.Slots[c.UID] = s
				taken[s] = true
			} else {
				claimedWaiting = append(claimedWaiting, c)
			}
		case c.Eligible && !c.Deleting:
			free = append(free, c)
		}
		if c.requests(gw) {
			plan.Requested++
		}
	}
	next := func() (Slot, bool) {
		for _, ip := range natIPs {
			for i := range perIP {
				if s := (Slot{IP: ip, Index: i}); !taken[s] {
					return s, true
				}
			}
		}
		return Slot{}, false
	}
	full := false
	for _, c := range claimedWaiting {
		if full {
			plan.Release = append(plan.Release, c.UID)
			continue
		}
		s, ok := next()
		if !ok {
			full = true
			plan.Release = append(plan.Release, c.UID)
			continue
		}
		plan.Slots[c.UID], taken[s] = s, true
	}
	for _, c := range free {
		if full {
			break
		}
		s, ok := next()
		if !ok {
			break
		}
		plan.Slots[c.UID], taken[s] = s, true
		plan.Claim = append(plan.Claim, c.UID)
	}
	return plan
}

// Table builds the NATTable's ips: NAT IPs ascending, each with its
// sections by port; NAT IPs without a section are left out.
func Table(ppni int32, slots map[types.UID]Slot, byUID map[types.UID]Candidate) []apinetv1alpha1.NATIP {
	sections := map[netip.Addr][]apinetv1alpha1.NATIPSection{}
	for uid, s := range slots {
		c := byUID[uid]
		first, last := s.Ports(ppni)
		sections[s.IP] = append(sections[s.IP], apinetv1alpha1.NATIPSection{
			IP: apinetv1alpha1.IPAddr(c.IP.String()), Port: first, EndPort: last,
			TargetRef: &apinetv1alpha1.NATTableIPTargetRef{UID: uid, Name: c.Name, NodeRef: corev1.LocalObjectReference{Name: c.Node}},
		})
	}
	ips := make([]netip.Addr, 0, len(sections))
	for ip := range sections {
		ips = append(ips, ip)
	}
	slices.SortFunc(ips, func(a, b netip.Addr) int { return a.Compare(b) })
	out := make([]apinetv1alpha1.NATIP, 0, len(ips))
	for _, ip := range ips {
		secs := sections[ip]
		slices.SortFunc(secs, func(a, b apinetv1alpha1.NATIPSection) int { return cmp.Compare(a.Port, b.Port) })
		out = append(out, apinetv1alpha1.NATIP{IP: apinetv1alpha1.IPAddr(ip.String()), Sections: secs})
	}
	return out
}

// PreviousSlots reads the slots recorded in a NATTable: sections with a
// target, on a NAT IP, aligned to ppni.
func PreviousSlots(table *apinetv1alpha1.NATTable, ppni int32) map[types.UID]Slot {
	out := map[types.UID]Slot{}
	if table == nil || ppni < 1 {
		return out
	}
	for _, natIP := range table.IPs {
		ip, err := netip.ParseAddr(string(natIP.IP))
		if err != nil {
			continue
		}
		for _, sec := range natIP.Sections {
			if sec.TargetRef == nil || sec.Port < FirstPort || (sec.Port-FirstPort)%ppni != 0 || sec.EndPort != sec.Port+ppni-1 {
				continue
			}
			out[sec.TargetRef.UID] = Slot{IP: ip, Index: int((sec.Port - FirstPort) / ppni)}
		}
	}
	return out
}
