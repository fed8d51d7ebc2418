package balancer

import (
	"math"
	"testing"
)

func TestFastLn(t *testing.T) {
	for _, u := range []float64{1, 0.999999, 0.75, 0.5, 0.1, 1e-3, 1e-9, 1.0 / (1 << 53)} {
		if got, want := fastLn(u), math.Log(u); math.Abs(got-want) > 1e-6*math.Max(1, math.Abs(want)) {
			t.Errorf("fastLn(%g) = %.9f, want %.9f", u, got, want)
		}
	}
}
