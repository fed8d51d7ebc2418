package bench

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestHistogramBuckets checks the layout: every value falls in a bucket
// whose bounds contain it, buckets tile the range without gaps, and no
// bucket is wider than 2^(1-sub) of its lowest value.
func TestHistogramBuckets(t *testing.T) {
	for _, sub := range []uint{4, 8, 11} {
		h := NewHistogram(sub)
		prevHi := int64(-1)
		for i := range h.counts {
			lo, hi := h.bounds(i)
			if lo != prevHi+1 {
				t.Fatalf("sub=%d bucket %d starts at %d, previous ended at %d", sub, i, lo, prevHi)
			}
			if w := float64(hi - lo + 1); lo >= 1<<sub && w/float64(lo) > math.Ldexp(1, 1-int(sub))+1e-12 {
				t.Fatalf("sub=%d bucket %d [%d,%d] is %.4f of its value", sub, i, lo, hi, w/float64(lo))
			}
			for _, v := range []int64{lo, hi, (lo + hi) / 2} {
				if got := h.index(v); got != i {
					t.Fatalf("sub=%d index(%d) = %d, want %d", sub, v, got, i)
				}
			}
			prevHi = hi
		}
		if prevHi < histMaxValue {
			t.Fatalf("sub=%d buckets end at %d, below the maximum %d", sub, prevHi, histMaxValue)
		}
	}
}

// TestHistogramQuantiles compares quantiles with exact ones from sorted
// samples: within the bucket precision, and the max exact.
func TestHistogramQuantiles(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	h := NewHistogram(11)
	vals := make([]int64, 200_000)
	for i := range vals {
		// Lognormal around 5ms with a heavy tail, in ns.
		vals[i] = int64(5e6 * math.Exp(rng.NormFloat64()))
		h.Record(vals[i])
	}
	slices.Sort(vals)
	for _, q := range []float64{0.5, 0.9, 0.99, 0.999, 0.9999} {
		exact := vals[int(math.Ceil(q*float64(len(vals))))-1]
		got := h.Quantile(q)
		if rel := math.Abs(float64(got-exact)) / float64(exact); rel > 1.0/1024 {
			t.Errorf("q=%v: %d, exact %d (off by %.5f)", q, got, exact, rel)
		}
	}
	if h.Max() != vals[len(vals)-1] || h.Quantile(1) != vals[len(vals)-1] {
		t.Errorf("max %d, quantile(1) %d, want %d", h.Max(), h.Quantile(1), vals[len(vals)-1])
	}
	if h.Count() != uint64(len(vals)) {
		t.Errorf("count %d, want %d", h.Count(), len(vals))
	}
	cdf := h.CDF()
	if cdf[len(cdf)-1].Fraction != 1 || !slices.IsSortedFunc(cdf, func(a, b CDFPoint) int { return int(a.Value - b.Value) }) {
		t.Errorf("CDF does not end at 1 or is not increasing")
	}
}

func TestHistogramRecordAllocates0(t *testing.T) {
	h := NewHistogram(11)
	if n := testing.AllocsPerRun(1000, func() { h.Record(123456789) }); n != 0 {
		t.Fatalf("Record allocates %v times", n)
	}
}

func TestJain(t *testing.T) {
	tests := []struct {
		xs   []float64
		want float64
	}{
		{[]float64{1, 1, 1, 1}, 1},
		{[]float64{1, 0, 0, 0}, 0.25},
		{[]float64{2, 2, 1, 1}, 36.0 / 40},
	}
	for _, tt := range tests {
		if got := jain(tt.xs); math.Abs(got-tt.want) > 1e-12 {
			t.Errorf("jain(%v) = %v, want %v", tt.xs, got, tt.want)
		}
	}
}
