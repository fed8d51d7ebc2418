package bench

import (
	"math/bits"
	"sync/atomic"
)

// Histogram records durations in nanoseconds in log-linear buckets, the
// layout of HdrHistogram: values below 2^sub are exact, and every octave
// above is split into 2^(sub-1) equal buckets, so any recorded value is
// known to within 2^(1-sub) of itself (sub=11: 0.1%, three significant
// digits) over the whole range, at a fixed memory cost. Record is lock-free
// and allocation-free, so many goroutines share one Histogram.
type Histogram struct {
	sub    uint // bits of the linear part
	counts []atomic.Uint64
	total  atomic.Uint64
	sum    atomic.Int64
	max    atomic.Int64
}

// histMaxValue is the largest recordable value (about 2.4 hours of
// nanoseconds); larger values are recorded as it.
const histMaxValue = int64(1)<<43 - 1

// NewHistogram returns an empty histogram whose buckets are at most
// 2^(1-subBits) wide relative to their values; subBits is clamped to 4..14.
func NewHistogram(subBits uint) *Histogram {
	subBits = min(max(subBits, 4), 14)
	h := &Histogram{sub: subBits}
	h.counts = make([]atomic.Uint64, h.index(histMaxValue)+1)
	return h
}

// index maps a value to its bucket.
func (h *Histogram) index(v int64) int {
	if v < 1<<h.sub {
		return int(v)
	}
	k := uint(bits.Len64(uint64(v))) - h.sub // v is in [2^(sub+k-1), 2^(sub+k))
	return 1<<h.sub + int(k-1)<<(h.sub-1) + int(v>>k) - 1<<(h.sub-1)
}

// bounds returns the smallest and largest value of bucket i.
func (h *Histogram) bounds(i int) (lo, hi int64) {
	if i < 1<<h.sub {
		return int64(i), int64(i)
	}
	j := i - 1<<h.sub
	k := uint(j>>(h.sub-1)) + 1
	s := int64(j&(1<<(h.sub-1)-1)) + 1<<(h.sub-1)
	return s << k, s<<k + 1<<k - 1
}

// Record adds one value; negative values count as 0.
func (h *Histogram) Record(v int64) {
	v = min(max(v, 0), histMaxValue)
	h.counts[h.index(v)].Add(1)
	h.total.Add(1)
	h.sum.Add(v)
	for m := h.max.Load(); v > m && !h.max.CompareAndSwap(m, v); m = h.max.Load() {
	}
}

// Count is the number of values recorded.
func (h *Histogram) Count() uint64 { return h.total.Load() }

// Max is the largest value recorded, exactly.
func (h *Histogram) Max() int64 { return h.max.Load() }

// Mean is the average of the values recorded.
func (h *Histogram) Mean() float64 {
	n := h.total.Load()
	if n == 0 {
		return 0
	}
	return float64(h.sum.Load()) / float64(n)
}

// Quantile returns the value below or at which a fraction q (0..1) of the
// recorded values lie: the highest value of the bucket where the count
// reaches q, as HdrHistogram reports, but never more than Max.
func (h *Histogram) Quantile(q float64) int64 {
	n := h.total.Load()
	if n == 0 {
		return 0
	}
	want := uint64(q*float64(n) + 0.5)
	want = min(max(want, 1), n)
	var seen uint64
	for i := range h.counts {
		seen += h.counts[i].Load()
		if seen >= want {
			_, hi := h.bounds(i)
			return min(hi, h.Max())
		}
	}
	return h.Max()
}

// CDFPoint is one step of a cumulative distribution: Fraction of the
// values are at most Value.
type CDFPoint struct {
	Value    int64
	Fraction float64
}

// CDF returns one point per non-empty bucket, in increasing order.
func (h *Histogram) CDF() []CDFPoint {
	n := h.total.Load()
	if n == 0 {
		return nil
	}
	var out []CDFPoint
	var seen uint64
	for i := range h.counts {
		c := h.counts[i].Load()
		if c == 0 {
			continue
		}
		seen += c
		_, hi := h.bounds(i)
		out = append(out, CDFPoint{Value: min(hi, h.Max()), Fraction: float64(seen) / float64(n)})
	}
	return out
}
