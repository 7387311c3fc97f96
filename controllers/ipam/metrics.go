package ipam

import (
	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
)

// RegisterPoolMetrics exports, per public prefix, how many addresses it
// has and how many are taken (read from the pool's view on each scrape).
func RegisterPoolMetrics(reg prometheus.Registerer, pool *IPPool) error {
	for _, f := range []corev1.IPFamily{corev1.IPv4Protocol, corev1.IPv6Protocol} {
		for _, pfx := range pool.Prefixes(f) {
			labels := prometheus.Labels{"prefix": pfx.String()}
			used := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "ovnet_public_ips_used", Help: "Addresses of a public prefix that are taken.", ConstLabels: labels,
			}, func() float64 { return float64(pool.Used(pfx)) })
			size := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "ovnet_public_ips_size", Help: "Addresses in a public prefix (network and broadcast included).", ConstLabels: labels,
			}, func() float64 { f, _ := prefixSize(pfx).Float64(); return f })
			for _, c := range []prometheus.Collector{used, size} {
				if err := reg.Register(c); err != nil {
					return err
				}
			}
		}
	}
	return nil
}
