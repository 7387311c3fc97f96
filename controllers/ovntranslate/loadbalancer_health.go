package ovntranslate

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/ovn-kubernetes/libovsdb/model"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	apinetv1alpha1 "github.com/ovnet-dev/ovnet/apis/core/v1alpha1"
	"github.com/ovnet-dev/ovnet/internal/patch"
	"github.com/ovnet-dev/ovnet/ovn"
	"github.com/ovnet-dev/ovnet/ovn/rows"
	"github.com/ovnet-dev/ovnet/ovn/sbdb"
)

const (
	// AnnotationHealthCheck on a LoadBalancer turns on health checks of its
	// backends (the ironcore-net API has no field for them):
	// "port=80,interval=5,timeout=2,success=1,failure=3", every key
	// optional ("" or "true": all defaults; docs/loadbalancer.md).
	AnnotationHealthCheck = "ovn.apinet.ironcore.dev/health-check"
	// ConditionBackendsHealthy says what the health checks found.
	ConditionBackendsHealthy = "BackendsHealthy"
)

// defaultHealthCheck is what an empty annotation means.
var defaultHealthCheck = rows.HealthCheck{Interval: 5, Timeout: 2, SuccessCount: 1, FailureCount: 3}

// parseHealthCheck reads the annotation's value.
func parseHealthCheck(value string) (*rows.HealthCheck, error) {
	hc := defaultHealthCheck
	value = strings.TrimSpace(value)
	if value == "" || value == "true" {
		return &hc, nil
	}
	for _, kv := range strings.Split(value, ",") {
		k, v, ok := strings.Cut(kv, "=")
		k = strings.TrimSpace(k)
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if !ok || err != nil {
			return nil, fmt.Errorf("%q: want key=number", kv)
		}
		limit := 3600
		if k == "port" {
			limit = 65535
		}
		if n < 1 || n > limit {
			return nil, fmt.Errorf("%s=%d: want 1..%d", k, n, limit)
		}
		switch k {
		case "port":
			hc.Ports = append(hc.Ports, n)
		case "interval":
			hc.Interval = n
		case "timeout":
			hc.Timeout = n
		case "success":
			hc.SuccessCount = n
		case "failure":
			hc.FailureCount = n
		default:
			return nil, fmt.Errorf("unknown key %q (port, interval, timeout, success, failure)", k)
		}
	}
	if hc.Timeout > hc.Interval {
		return nil, fmt.Errorf("timeout=%d is longer than interval=%d", hc.Timeout, hc.Interval)
	}
	return &hc, nil
}

// healthCheckOf is the LB's health check (nil: none) and a problem with it
// that keeps it off ("": none).
func healthCheckOf(lb *apinetv1alpha1.LoadBalancer, haveSB bool) (*rows.HealthCheck, string) {
	value, ok := lb.Annotations[AnnotationHealthCheck]
	if !ok {
		return nil, ""
	}
	hc, err := parseHealthCheck(value)
	switch {
	case err != nil:
		return nil, "annotation " + AnnotationHealthCheck + ": " + err.Error()
	case len(lb.Spec.Ports) == 0:
		return nil, "health checks need spec.ports (a load balancer of all ports has no port to probe)"
	case !haveSB:
		return nil, "health checks need the southbound database (ovnet-controller --ovn-sb)"
	}
	return hc, ""
}

// backendHealth sets the LB's BackendsHealthy condition from the service
// monitors OVN keeps for its checked backends, and records an event naming
// the backends that went down or came back. Without a health check the
// condition is removed.
func (r *LoadBalancerReconciler) backendHealth(lb *apinetv1alpha1.LoadBalancer, hc *rows.HealthCheck, problem string, backendPorts map[netip.Addr]string) {
	conds := &lb.Status.Conditions
	if hc == nil && problem == "" {
		meta.RemoveStatusCondition(conds, ConditionBackendsHealthy)
		return
	}
	if hc == nil {
		cond := metav1.Condition{Type: ConditionBackendsHealthy, Status: metav1.ConditionFalse, Reason: "Invalid", Message: problem}
		old := patch.SetCondition(conds, lb, cond)
		patch.Warn(r.Recorder, lb, old, cond, "HealthCheck")
		return
	}
	monitors := map[string]string{}
	for _, m := range r.SB.Rows(sbdb.ServiceMonitorTable) {
		sm := m.(*sbdb.ServiceMonitor)
		proto, status := "tcp", "unprobed"
		if sm.Protocol != nil {
			proto = *sm.Protocol
		}
		if sm.Status != nil {
			status = *sm.Status
		}
		monitors[monitorKey(sm.LogicalPort, sm.IP, sm.Port, proto)] = status
	}
	checked, err := rows.CheckedPorts(lb, hc)
	if err != nil {
		return // the LB's rows report it (Ready=False, Invalid)
	}
	var down []string
	online, unprobed := 0, 0
	for proto, ports := range checked {
		for _, p := range ports {
			for b, port := range backendPorts {
				if !b.Is4() {
					continue
				}
				switch monitors[monitorKey(port, b.String(), p, proto)] {
				case "online":
					online++
				case "", "unprobed":
					unprobed++
				default:
					down = append(down, port+" "+netip.AddrPortFrom(b, uint16(p)).String()+"/"+proto)
				}
			}
		}
	}
	slices.Sort(down)
	cond := metav1.Condition{Type: ConditionBackendsHealthy, Status: metav1.ConditionTrue, Reason: "Online",
		Message: fmt.Sprintf("%d probed backends online, %d not probed yet", online, unprobed)}
	if len(down) > 0 {
		cond.Status, cond.Reason = metav1.ConditionFalse, "BackendsDown"
		cond.Message = offlinePrefix + strings.Join(down, ", ") + "; " + cond.Message
	}
	old := patch.SetCondition(conds, lb, cond)
	if old.Message == cond.Message {
		return
	}
	before := offlineIn(old.Message)
	if went := slices.DeleteFunc(slices.Clone(down), func(d string) bool { return slices.Contains(before, d) }); len(went) > 0 {
		r.Recorder.Eventf(lb, nil, "Warning", "BackendDown", "HealthCheck", "out of rotation: %s", strings.Join(went, ", "))
	}
	if back := slices.DeleteFunc(before, func(d string) bool { return slices.Contains(down, d) }); len(back) > 0 {
		r.Recorder.Eventf(lb, nil, "Normal", "BackendUp", "HealthCheck", "back in rotation: %s", strings.Join(back, ", "))
	}
}

// offlinePrefix starts the BackendsHealthy message that lists offline backends.
const offlinePrefix = "offline: "

// offlineIn are the backends a BackendsHealthy message lists as offline.
func offlineIn(msg string) []string {
	list, ok := strings.CutPrefix(msg, offlinePrefix)
	if !ok {
		return nil
	}
	list, _, _ = strings.Cut(list, "; ")
	return strings.Split(list, ", ")
}

func monitorKey(port, ip string, p int, proto string) string {
	return port + "|" + ip + "|" + strconv.Itoa(p) + "|" + proto
}

// serviceMonitorChanges wakes the health-checked LoadBalancers of the
// namespace of a backend whose service monitor changed (its logical port is
// the NIC's, "<namespace>/<name>").
func serviceMonitorChanges(sb *ovn.Client, c client.Reader) source.Source {
	return source.Func(func(ctx context.Context, q workqueue.TypedRateLimitingInterface[reconcile.Request]) error {
		sb.OnTableChange(sbdb.ServiceMonitorTable, func(m model.Model) {
			ns, _, ok := strings.Cut(m.(*sbdb.ServiceMonitor).LogicalPort, "/")
			if !ok {
				return
			}
			var lbs apinetv1alpha1.LoadBalancerList
			if err := c.List(ctx, &lbs, client.InNamespace(ns)); err != nil {
				return
			}
			for _, lb := range lbs.Items {
				if _, ok := lb.Annotations[AnnotationHealthCheck]; ok {
					q.Add(reconcile.Request{NamespacedName: types.NamespacedName{Namespace: lb.Namespace, Name: lb.Name}})
				}
			}
		})
		return nil
	})
}
