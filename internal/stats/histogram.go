package stats

import (
	"sync/atomic"
	"time"
)

// LatencyBuckets are the upper bounds of Histogram's buckets: from 100µs,
// where a loopback hop through lbd sits, to a minute, the longest timeouts.
var LatencyBuckets = [...]time.Duration{
	100 * time.Microsecond, 250 * time.Microsecond, 500 * time.Microsecond,
	time.Millisecond, 2500 * time.Microsecond, 5 * time.Millisecond,
	10 * time.Millisecond, 25 * time.Millisecond, 50 * time.Millisecond,
	100 * time.Millisecond, 250 * time.Millisecond, 500 * time.Millisecond,
	time.Second, 2500 * time.Millisecond, 5 * time.Second,
	10 * time.Second, 30 * time.Second, time.Minute,
}

// Histogram counts durations into LatencyBuckets with atomics only. The
// last count is for durations above every bound. It must not be copied.
type Histogram struct {
	counts [len(LatencyBuckets) + 1]atomic.Uint64
	sumNs  atomic.Int64
}

// Observe records one duration.
func (h *Histogram) Observe(d time.Duration) {
	i := 0
	for i < len(LatencyBuckets) && d > LatencyBuckets[i] {
		i++
	}
	h.counts[i].Add(1)
	h.sumNs.Add(int64(d))
}

// Snapshot returns the cumulative count per bucket (Prometheus' le
// semantics), the total count and the sum in seconds.
func (h *Histogram) Snapshot() (cumulative [len(LatencyBuckets)]uint64, count uint64, sum float64) {
	var acc uint64
	for i := range LatencyBuckets {
		acc += h.counts[i].Load()
		cumulative[i] = acc
	}
	count = acc + h.counts[len(LatencyBuckets)].Load()
	return cumulative, count, time.Duration(h.sumNs.Load()).Seconds()
}
