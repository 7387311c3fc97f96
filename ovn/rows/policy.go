package rows

import (
	"fmt"
	"hash/fnv"
	"net/netip"
	"slices"
	"strings"

	apinetv1alpha1 "github.com/ovnet-dev/ovnet/apis/core/v1alpha1"
	"github.com/ovnet-dev/ovnet/ovn"
	"github.com/ovnet-dev/ovnet/ovn/nbdb"
)

// ACL priorities of network policies. A policy's priority (lower applies
// first, default 1000) becomes ACL priority PolicyACLBase − priority for
// its allow rules; the default deny of a selected direction sits below
// every allow.
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

// PolicyRows (Kubernetes semantics, docs/policy.md), for each IP family the
// targets have: an address set of the targets' addresses of that family; on
// the Network's switch, per rule and port an
// allow-related ACL (ingress: to-lport, destination = a target, source =
// the rule's peers, destination port = the port; egress: from-lport, source
// = a target, destination = the peers and port), and for each of the
// policy's types a drop of everything else to (ingress) or from (egress)
// the targets. Rules are a union: what any rule of any policy allows
// passes. An ipBlock with `except` gets an allow of its own whose match
// leaves the excepts out, so an except narrows only its block and never
// overrides another rule's allow. A rule without peers admits every
// address, without ports every port; a NIC selected by no policy has no
// ACL. Each family is matched on its own (ip4 or ip6 fields, peers of that
// family), so a policy governs IPv6 traffic exactly as IPv4. ACL keys are
// derived from their content: adding a rule writes its ACLs only.
func PolicyRows(in PolicyInput) []ovn.Row {
	var out []ovn.Row
	for _, f := range []ipFamily{{ip: "ip4", is6: false}, {ip: "ip6", is6: true}} {
		out = policyFamilyRows(in, f, out)
	}
	return out
}

// ipFamily names one family in OVN matches.
type ipFamily struct {
	ip  string // the match field prefix: ip4 or ip6
	is6 bool
}

func (f ipFamily) has(a netip.Addr) bool { return a.Is6() == f.is6 }

// policyFamilyRows appends to out the rows of one family (none when no
// target has an address of it).
func policyFamilyRows(in PolicyInput, f ipFamily, out []ovn.Row) []ovn.Row {
	np, rule := in.Policy, in.Rule
	var targets []string
	for _, t := range rule.Targets {
		if a, err := netip.ParseAddr(string(t.IP)); err == nil && f.has(a) {
			targets = append(targets, a.String())
		}
	}
	if len(targets) == 0 {
		return out
	}
	uid := string(np.UID)
	set, setKey := PolicyAddressSetName(np), uid+"/targets"
	if f.is6 {
		set, setKey = set+"_ip6", setKey+"6"
	}
	out = append(out, ovn.Row{Key: setKey, Model: &nbdb.AddressSet{Name: set, Addresses: targets}})
	parents := []ovn.Parent{{Table: nbdb.LogicalSwitchTable, Column: "acls", Key: NetworkKey(string(in.Network.UID), KeySwitch)}}
	prio := DefaultPolicyPriority
	if rule.Priority != nil {
		prio = int(*rule.Priority)
	}
	allowPrio := PolicyACLBase - min(max(prio, 0), PolicyACLBase-PolicyDefaultDenyACL-2)
	acl := func(dir nbdb.ACLDirection, action nbdb.ACLAction, priority int, match, decision string) {
		h := fnv.New64a()
		_, _ = fmt.Fprintf(h, "%s|%s|%d|%s", dir, action, priority, match)
		key := fmt.Sprintf("%s/acl/%016x", uid, h.Sum64())
		if slices.ContainsFunc(out, func(r ovn.Row) bool { return r.Key == key }) {
			return // the same ACL from two rules
		}
		out = append(out, ovn.Row{Key: key, Parents: parents, Extra: map[string]string{KeyPolicyDecision: decision},
			Model: &nbdb.ACL{Direction: dir, Action: action, Priority: priority, Match: match}})
	}
	type direction struct {
		typ          apinetv1alpha1.PolicyType
		dir          nbdb.ACLDirection
		self, peer   string
		rules        []apinetv1alpha1.Rule
		peersPresent func(i int) bool
	}
	dirs := []direction{
		{apinetv1alpha1.PolicyTypeIngress, nbdb.ACLDirectionToLport, f.ip + ".dst", f.ip + ".src", rule.IngressRules,
			func(i int) bool { return i < len(np.Spec.Ingress) && len(np.Spec.Ingress[i].From) > 0 }},
		{apinetv1alpha1.PolicyTypeEgress, nbdb.ACLDirectionFromLport, f.ip + ".src", f.ip + ".dst", rule.EgressRules,
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
			var peerMatches []string // one allow per entry
			if d.peersPresent(i) {
				plain, blocks := peerPrefixes(r, f)
				if len(plain) > 0 {
					peerMatches = append(peerMatches, " && "+d.peer+" == {"+strings.Join(plain, ", ")+"}")
				}
				for _, b := range blocks {
					m := " && " + d.peer + " == " + b.cidr
					if len(b.except) > 0 {
						m += " && " + d.peer + " != {" + strings.Join(b.except, ", ") + "}"
					}
					peerMatches = append(peerMatches, m)
				}
				if len(peerMatches) == 0 {
					continue // its peers resolve to no address: it admits nothing
				}
			} else {
				peerMatches = []string{""}
			}
			for _, ports := range portMatches(r.NetworkPolicyPorts) {
				for _, peer := range peerMatches {
					acl(d.dir, nbdb.ACLActionAllowRelated, allowPrio, self+peer+ports, fmt.Sprintf("%s rule %d", strings.ToLower(string(d.typ)), i+1))
				}
			}
		}
		acl(d.dir, nbdb.ACLActionDrop, PolicyDefaultDenyACL, self, "default deny ("+strings.ToLower(string(d.typ))+")")
	}
	return out
}

// KeyPolicyDecision in an ACL's external_ids names what of its policy the
// ACL is: "ingress rule 2" (1-based, of spec.ingress), "default deny
// (egress)" (kubectl ovnet trace says it).
const KeyPolicyDecision = "apinet.ironcore.dev/decision"

// DefaultPolicyPriority is a rule's priority when it has none.
const DefaultPolicyPriority = 1000

// ipBlockMatch is an ipBlock with excepts: its CIDR and the excepts inside it.
type ipBlockMatch struct {
	cidr   string
	except []string
}

// peerPrefixes are a rule's peers of family f: prefixes that admit all of
// themselves (ipBlocks without excepts, object prefixes), and ipBlocks with
// excepts, each on its own.
func peerPrefixes(r apinetv1alpha1.Rule, f ipFamily) (plain []string, blocks []ipBlockMatch) {
	ofFamily := func(p apinetv1alpha1.IPPrefix) (string, bool) {
		pfx, err := netip.ParsePrefix(string(p))
		if err != nil || !f.has(pfx.Addr()) {
			return "", false
		}
		return pfx.Masked().String(), true
	}
	for _, b := range r.CIDRBlock {
		cidr, ok := ofFamily(b.CIDR)
		if !ok {
			continue
		}
		var except []string
		for _, e := range b.Except {
			if ex, ok := ofFamily(e); ok {
				except = append(except, ex)
			}
		}
		if len(except) == 0 {
			plain = append(plain, cidr)
		} else {
			blocks = append(blocks, ipBlockMatch{cidr: cidr, except: except})
		}
	}
	for _, o := range r.ObjectIPs {
		if p, ok := ofFamily(o.Prefix); ok {
			plain = append(plain, p)
		}
	}
	return plain, blocks
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
