package patch

import (
	"reflect"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/prometheus/client_golang/prometheus"
)

// writes counts the writes Status and Object send, by kind, part and what
// changed: which writes a cold start spends, and on what.
var writes = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "ovnet_writes_total",
	Help: "Writes sent by ovnet's reconcilers, by kind, part (status, or object: a kind without status subresource, or an allocation recorded in the spec) and change: the conditions whose status or reason changed (Type=Reason), or \"fields\" when only other fields did.",
}, []string{"kind", "part", "change"})

func init() { metrics.Registry.MustRegister(writes) }

// countWrite counts the write of obj's changes since before.
func countWrite(part string, before, obj client.Object) {
	writes.WithLabelValues(reflect.TypeOf(obj).Elem().Name(), part, changeOf(conditionsOf(before), conditionsOf(obj))).Inc()
}

// changeOf names the conditions of after whose status or reason differ from
// before's, sorted; "fields" when none do.
func changeOf(before, after []metav1.Condition) string {
	var changed []string
	for _, c := range after {
		i := slices.IndexFunc(before, func(b metav1.Condition) bool { return b.Type == c.Type })
		if i < 0 || before[i].Status != c.Status || before[i].Reason != c.Reason {
			changed = append(changed, c.Type+"="+c.Reason)
		}
	}
	if len(changed) == 0 {
		return "fields"
	}
	slices.Sort(changed)
	return strings.Join(changed, ",")
}

// conditionsOf is obj's Status.Conditions, or its Conditions for a kind
// that has them at the top level; nil when it has neither.
func conditionsOf(obj client.Object) []metav1.Condition {
	v := reflect.ValueOf(obj).Elem()
	if s := v.FieldByName("Status"); s.IsValid() && s.Kind() == reflect.Struct {
		v = s
	}
	f := v.FieldByName("Conditions")
	if !f.IsValid() {
		return nil
	}
	c, _ := f.Interface().([]metav1.Condition)
	return c
}
