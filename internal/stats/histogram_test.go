package stats

import (
	"testing"
	"time"
)

func TestHistogram(t *testing.T) {
	var h Histogram
	for _, d := range []time.Duration{50 * time.Microsecond, 100 * time.Microsecond, 3 * time.Millisecond, 2 * time.Minute} {
		h.Observe(d)
	}
	cum, count, sum := h.Snapshot()
	if count != 4 {
		t.Fatalf("count = %d, want 4", count)
	}
	if cum[0] != 2 { // ≤100µs: both, the bound is inclusive
		t.Errorf("≤100µs = %d, want 2", cum[0])
	}
	if cum[5] != 3 { // ≤5ms
		t.Errorf("≤5ms = %d, want 3", cum[5])
	}
	if cum[len(cum)-1] != 3 { // ≤1m: the 2-minute one is above every bound
		t.Errorf("≤1m = %d, want 3", cum[len(cum)-1])
	}
	want := (50*time.Microsecond + 100*time.Microsecond + 3*time.Millisecond + 2*time.Minute).Seconds()
	if sum != want {
		t.Errorf("sum = %v, want %v", sum, want)
	}
}

func BenchmarkHistogramObserve(b *testing.B) {
	var h Histogram
	b.ReportAllocs()
	for b.Loop() {
		h.Observe(1500 * time.Microsecond)
	}
}
