package ovn

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the Prometheus metrics of OVSDB transactions.
type Metrics struct {
	latency *prometheus.HistogramVec
	errors  *prometheus.CounterVec
}

// NewMetrics creates the transaction metrics and registers them with reg
// (controller-runtime's registry in the binaries).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "ovnet_ovsdb_transaction_duration_seconds",
			Help:    "Latency of OVSDB transactions, by database.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}, []string{"database"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ovnet_ovsdb_transaction_errors_total",
			Help: "OVSDB transactions that failed, by database.",
		}, []string{"database"}),
	}
	if reg != nil {
		reg.MustRegister(m.latency, m.errors)
	}
	return m
}

func (m *Metrics) observe(db string, d time.Duration, err error) {
	if m == nil {
		return
	}
	m.latency.WithLabelValues(db).Observe(d.Seconds())
	if err != nil {
		m.errors.WithLabelValues(db).Inc()
	}
}
