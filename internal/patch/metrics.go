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

// statusWrites counts the writes Status and Object send, by kind and by
// what changed: which writes a cold start spends, and on what.
var statusWrites = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "ovnet_status_writes_total",
	Help: "Status writes sent, by kind and change: the conditions whose status or reason changed (Type=Reason), or \"fields\" when only other fields did.",
}, []string{"kind", "change"})

func init() { metrics.Registry.MustRegister(statusWrites) }

// countWrite counts the write of obj's changes since before.
func countWrite(before, obj client.Object) {
	statusWrites.WithLabelValues(reflect.TypeOf(obj).Elem().Name(), changeOf(conditionsOf(before), conditionsOf(obj))).Inc()
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
