package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"lbd/internal/stats"
)

// emitter sends const metrics to a collect channel.
type emitter struct {
	ch chan<- prometheus.Metric
}

func (e *emitter) gauge(d *prometheus.Desc, v float64, labels ...string) {
	e.ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
}

func (e *emitter) counter(d *prometheus.Desc, v float64, labels ...string) {
	e.ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
}

// state emits one series per possible state, 1 for the current one, as
// HAProxy's promex does since 2.4.
func (e *emitter) state(d *prometheus.Desc, states []string, current string, labels ...string) {
	for _, s := range states {
		v := 0.0
		if s == current {
			v = 1
		}
		e.gauge(d, v, append(labels, s)...)
	}
}

func (e *emitter) histogram(d *prometheus.Desc, h *stats.Histogram, labels ...string) {
	cum, count, sum := h.Snapshot()
	buckets := make(map[float64]uint64, len(cum))
	for i, b := range stats.LatencyBuckets {
		buckets[b.Seconds()] = cum[i]
	}
	e.ch <- prometheus.MustNewConstHistogram(d, count, sum, buckets, labels...)
}
