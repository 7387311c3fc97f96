package loadbalancer

import (
	"cmp"
	"slices"
	"strconv"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	apinetv1alpha1 "github.com/ovnet-dev/ovnet/apis/core/v1alpha1"
)

// NodeMatches reports whether node satisfies a required node selector:
// any of its terms, each with all its label expressions and its field
// expressions (metadata.name). A nil selector matches every node.
func NodeMatches(sel *apinetv1alpha1.NodeSelector, node *apinetv1alpha1.Node) bool {
	if sel == nil {
		return true
	}
	for _, term := range sel.NodeSelectorTerms {
		if termMatches(term, node) {
			return true
		}
	}
	return false
}

func termMatches(term apinetv1alpha1.NodeSelectorTerm, node *apinetv1alpha1.Node) bool {
	if len(term.MatchExpressions) == 0 && len(term.MatchFields) == 0 {
		return false // an empty term matches nothing, as in Kubernetes
	}
	for _, r := range term.MatchExpressions {
		v, ok := node.Labels[r.Key]
		if !requirementMatches(r, v, ok) {
			return false
		}
	}
	for _, r := range term.MatchFields {
		if r.Key != "metadata.name" || !requirementMatches(r, node.Name, true) {
			return false
		}
	}
	return true
}

func requirementMatches(r apinetv1alpha1.NodeSelectorRequirement, v string, ok bool) bool {
	switch r.Operator {
	case apinetv1alpha1.NodeSelectorOpIn:
		return ok && slices.Contains(r.Values, v)
	case apinetv1alpha1.NodeSelectorOpNotIn:
		return !ok || !slices.Contains(r.Values, v)
	case apinetv1alpha1.NodeSelectorOpExists:
		return ok
	case apinetv1alpha1.NodeSelectorOpDoesNotExist:
		return !ok
	case apinetv1alpha1.NodeSelectorOpGt, apinetv1alpha1.NodeSelectorOpLt:
		if !ok || len(r.Values) != 1 {
			return false
		}
		a, err1 := strconv.ParseInt(v, 10, 64)
		b, err2 := strconv.ParseInt(r.Values[0], 10, 64)
		if err1 != nil || err2 != nil {
			return false
		}
		if r.Operator == apinetv1alpha1.NodeSelectorOpGt {
			return a > b
		}
		return a < b
	}
	return false
}

func requiredNodeSelector(inst *apinetv1alpha1.Instance) *apinetv1alpha1.NodeSelector {
	if a := inst.Spec.Affinity; a != nil && a.NodeAffinity != nil {
		return a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution
	}
	return nil
}

func selects(sel *apinetv1alpha1.LabelSelector, l map[string]string) bool {
	if sel == nil {
		return false
	}
	s, err := metav1.LabelSelectorAsSelector(sel.AsMeta())
	return err == nil && s.Matches(labels.Set(l))
}

// Placed is an instance already on a node.
type Placed struct {
	Instance *apinetv1alpha1.Instance
	Node     *apinetv1alpha1.Node
}

// Feasible returns the nodes inst may run on (docs/loadbalancer.md): its
// required node affinity; instance anti-affinity both ways against the
// placed instances of its namespace (nodes without the topology key are
// not restricted); topology spread (only nodes with every key; hard).
func Feasible(inst *apinetv1alpha1.Instance, nodes []*apinetv1alpha1.Node, placed []Placed) []*apinetv1alpha1.Node {
	var out []*apinetv1alpha1.Node
	for _, n := range nodes {
		if NodeMatches(requiredNodeSelector(inst), n) && antiAffinityAllows(inst, n, placed) && spreadAllows(inst, n, nodes, placed) {
			out = append(out, n)
		}
	}
	return out
}

func antiAffinityAllows(inst *apinetv1alpha1.Instance, node *apinetv1alpha1.Node, placed []Placed) bool {
	// Incoming: the new instance's terms against placed instances.
	if a := inst.Spec.Affinity; a != nil && a.InstanceAntiAffinity != nil {
		for _, term := range a.InstanceAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution {
			v, ok := node.Labels[term.TopologyKey]
			if !ok {
				continue
			}
			for _, p := range placed {
				if p.Node.Labels[term.TopologyKey] == v && selects(term.LabelSelector, p.Instance.Labels) {
					if _, has := p.Node.Labels[term.TopologyKey]; has {
						return false
					}
				}
			}
		}
	}
	// Existing: placed instances' terms that select the new instance.
	for _, p := range placed {
		a := p.Instance.Spec.Affinity
		if a == nil || a.InstanceAntiAffinity == nil {
			continue
		}
		for _, term := range a.InstanceAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution {
			pv, ok := p.Node.Labels[term.TopologyKey]
			if ok && selects(term.LabelSelector, inst.Labels) && node.Labels[term.TopologyKey] == pv {
				if _, has := node.Labels[term.TopologyKey]; has {
					return false
				}
			}
		}
	}
	return true
}

func spreadAllows(inst *apinetv1alpha1.Instance, node *apinetv1alpha1.Node, nodes []*apinetv1alpha1.Node, placed []Placed) bool {
	for _, c := range inst.Spec.TopologySpreadConstraints {
		v, ok := node.Labels[c.TopologyKey]
		if !ok {
			return false
		}
		counts := map[string]int{}
		for _, n := range nodes {
			if d, ok := n.Labels[c.TopologyKey]; ok {
				counts[d] += 0
			}
		}
		for _, p := range placed {
			if d, ok := p.Node.Labels[c.TopologyKey]; ok && p.Instance.DeletionTimestamp.IsZero() && selects(c.LabelSelector, p.Instance.Labels) {
				counts[d]++
			}
		}
		minCount := -1
		for _, n := range counts {
			if minCount < 0 || n < minCount {
				minCount = n
			}
		}
		self := 0
		if selects(c.LabelSelector, inst.Labels) {
			self = 1
		}
		if counts[v]+self-minCount > int(c.MaxSkew) {
			return false
		}
	}
	return true
}

// LeastLoaded picks the node with the fewest instances (all namespaces);
// ties go to the node name that sorts first, so the choice is stable.
func LeastLoaded(candidates []*apinetv1alpha1.Node, load map[string]int) *apinetv1alpha1.Node {
	if len(candidates) == 0 {
		return nil
	}
	return slices.MinFunc(candidates, func(a, b *apinetv1alpha1.Node) int {
		return cmp.Or(cmp.Compare(load[a.Name], load[b.Name]), cmp.Compare(a.Name, b.Name))
	})
}
