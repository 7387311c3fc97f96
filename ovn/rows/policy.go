package rows

import (
	"fmt"
	"net/netip"
	"strings"

	apinetv1alpha1 "github.com/ovnet-dev/ovnet/apis/core/v1alpha1"
	"github.com/ovnet-dev/ovnet/ovn"
	"github.com/ovnet-dev/ovnet/ovn/nbdb"
)

// ACL priorities of network policies. A policy's priority (lower applies
// first, default 1000) becomes ACL priority PolicyACLBase − priority for
// its allow rules, one more for its `except` drops; the default deny of a
// selected direction sits below every allow.
const (
	PolicyACLBase        = 30000
	PolicyDefaultDenyACL = 100
)

// PolicyInput is what a NetworkPolicy's rows depend on: the policy (which
// directions it governs, which rules have peers at all) and its realized
// NetworkPolicyRule (targets and resolved peers).
type PolicyInput struct {
	Policy  *apinetv1alpha1.NetworkPolicy
	Rule    *apinetv1alpha1.NetworkPolicyRule
	Network *apinetv1alpha1.Network
}

// PolicyAddressSetName is the address set of a policy's targets, used in
// its ACL matches.
func PolicyAddressSetName(np *apinetv1alpha1.NetworkPolicy) string {
	return "ovnet_np_" + strings.ReplaceAll(string(np.UID), "-", "")
}

// PolicyRows (Kubernetes semantics, decision 7): an address set of the
// targets' IPv4 addresses; on the Network's switch, per rule and port an
// allow-related ACL (ingress: to-lport, destination = a target, source =
// the rule's peers, destination port = the port; egress: from-lport, source
// = a target, destination = the peers and port), per ipBlock `except` a
// drop one priority above, and for each of the policy's types a drop of
// everything else to (ingress) or from (egress) the targets. A rule
// without peers admits every address, without ports every port; a NIC
// selected by no policy has no ACL. Only IPv4 for now.
func PolicyRows(in PolicyInput) []ovn.Row {
	np, rule := in.Policy, in.Rule
	var targets []string
	for _, t := range rule.Targets {
		if a, err := netip.ParseAddr(string(t.IP)); err == nil && a.Is4() {
			targets = append(targets, a.String())
		}
	}
	if len(targets) == 0 {
		return nil
	}
	uid := string(np.UID)
	set := PolicyAddressSetName(np)
	out := []ovn.Row{{Key: uid + "/targets", Model: &nbdb.AddressSet{Name: set, Addresses: targets}}}
	parents := []ovn.Parent{{Table: nbdb.LogicalSwitchTable, Column: "acls", Key: NetworkKey(string(in.Network.UID), KeySwitch)}}
	prio := DefaultPolicyPriority
	if rule.Priority != nil {
		prio = int(*rule.Priority)
	}
	allowPrio := PolicyACLBase - min(max(prio, 0), PolicyACLBase-PolicyDefaultDenyACL-2)
	n := 0
	acl := func(dir nbdb.ACLDirection, action nbdb.ACLAction, priority int, match string) {
		out = append(out, ovn.Row{Key: fmt.Sprintf("%s/acl/%d", uid, n), Parents: parents,
			Model: &nbdb.ACL{Direction: dir, Action: action, Priority: priority, Match: match}})
		n++
	}
	type direction struct {
		typ          apinetv1alpha1.PolicyType
		dir          nbdb.ACLDirection
		self, peer   string
		rules        []apinetv1alpha1.Rule
		peersPresent func(i int) bool
	}
	dirs := []direction{
		{apinetv1alpha1.PolicyTypeIngress, nbdb.ACLDirectionToLport, "ip4.dst", "ip4.src", rule.IngressRules,
			func(i int) bool { return i < len(np.Spec.Ingress) && len(np.Spec.Ingress[i].From) > 0 }},
		{apinetv1alpha1.PolicyTypeEgress, nbdb.ACLDirectionFromLport, "ip4.src", "ip4.dst", rule.EgressRules,
			func(i int) bool { return i < len(np.Spec.Egress) && len(np.Spec.Egress[i].To) > 0 }},
	}
	for _, d := range dirs {
		governed := false
		for _, t := range np.Spec.PolicyTypes {
			governed = governed || t == d.typ
		}
		if !governed {
			continue
		}
		self := d.self + " == $" + set
		for i, r := range d.rules {
			peers, excepts := peerPrefixes(r)
			if d.peersPresent(i) && len(peers) == 0 {
				continue // its peers resolve to no address: it admits nothing
			}
			peerMatch := ""
			if d.peersPresent(i) {
				peerMatch = " && " + d.peer + " == {" + strings.Join(peers, ", ") + "}"
			}
			for _, ports := range portMatches(r.NetworkPolicyPorts) {
				acl(d.dir, nbdb.ACLActionAllowRelated, allowPrio, self+peerMatch+ports)
				for _, ex := range excepts {
					acl(d.dir, nbdb.ACLActionDrop, allowPrio+1, self+" && "+d.peer+" == "+ex+ports)
				}
			}
		}
		acl(d.dir, nbdb.ACLActionDrop, PolicyDefaultDenyACL, self)
	}
	return out
}

// DefaultPolicyPriority is a rule's priority when it has none.
const DefaultPolicyPriority = 1000

// peerPrefixes are a rule's IPv4 peers (ipBlock CIDRs and object prefixes)
// and its ipBlocks' IPv4 excepts.
func peerPrefixes(r apinetv1alpha1.Rule) (peers, excepts []string) {
	add := func(list *[]string, p apinetv1alpha1.IPPrefix) {
		if pfx, err := netip.ParsePrefix(string(p)); err == nil && pfx.Addr().Is4() {
			*list = append(*list, pfx.Masked().String())
		}
	}
	for _, b := range r.CIDRBlock {
		add(&peers, b.CIDR)
		for _, e := range b.Except {
			add(&excepts, e)
		}
	}
	for _, o := range r.ObjectIPs {
		add(&peers, o.Prefix)
	}
	return peers, excepts
}

// portMatches: one match suffix per port (TCP when no protocol; a range
// with endPort); a single empty suffix (every port) when there are none.
func portMatches(ports []apinetv1alpha1.NetworkPolicyPort) []string {
	if len(ports) == 0 {
		return []string{""}
	}
	var out []string
	for _, p := range ports {
		proto := "tcp"
		if p.Protocol != nil {
			proto = strings.ToLower(string(*p.Protocol))
		}
		switch {
		case p.Port == 0:
			out = append(out, " && "+proto)
		case p.EndPort != nil && *p.EndPort > p.Port:
			out = append(out, fmt.Sprintf(" && %s.dst >= %d && %s.dst <= %d", proto, p.Port, proto, *p.EndPort))
		default:
			out = append(out, fmt.Sprintf(" && %s.dst == %d", proto, p.Port))
		}
	}
	return out
}
