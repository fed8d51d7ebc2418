package autoscale

import (
	"math"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)

// testPolicy moves at once both ways, a step of up to 10, between 1 and 10.
func testPolicy(targets ...Target) Policy {
	return Policy{Min: 1, Max: 10, Tolerance: 0.1, Targets: targets,
		Out: Rules{MaxStep: 10}, In: Rules{MaxStep: 10}}
}

func load(kv ...any) Load {
	l := Load{Values: map[Metric]float64{}, Missing: map[Metric]string{}}
	for i := 0; i < len(kv); i += 2 {
		switch v := kv[i+1].(type) {
		case float64:
			l.Values[kv[i].(Metric)] = v
		case string:
			l.Missing[kv[i].(Metric)] = v
		}
	}
	return l
}

func obs(at time.Duration, current, ready int, l Load) Observation {
	return Observation{At: t0.Add(at), Current: current, Ready: ready, Load: l}
}

func TestDecideOneStep(t *testing.T) {
	rps := Target{RequestsPerSecond, 50}
	conns := Target{ActiveConnections, 20}
	lat := Target{P95Latency, 0.2}
	tests := []struct {
		name    string
		p       Policy
		o       Observation
		desired int
		reason  Reason
		detail  string // a part of the log line
	}{
		{"within tolerance", testPolicy(rps), obs(0, 2, 2, load(RequestsPerSecond, 105.0)), 2, ReasonSteady, "(within tolerance)"},
		{"just outside tolerance", testPolicy(rps), obs(0, 2, 2, load(RequestsPerSecond, 112.0)), 3, ReasonScaleOut, "out 2 → 3"},
		{"per member: total over target", testPolicy(rps), obs(0, 1, 1, load(RequestsPerSecond, 180.0)), 4, ReasonScaleOut,
			"requests_per_second 180.0/s for 1 (target 50.0/s each, ratio 3.60) → 4: out 1 → 4"},
		{"largest step", func() Policy { p := testPolicy(rps); p.Out.MaxStep = 2; return p }(), obs(0, 1, 1, load(RequestsPerSecond, 500.0)), 3, ReasonScaleOut,
			"2 at most per step (wants 10)"},
		{"max", testPolicy(rps), obs(0, 8, 8, load(RequestsPerSecond, 5000.0)), 10, ReasonScaleOut, "out 8 → 10"},
		{"at max", testPolicy(rps), obs(0, 10, 10, load(RequestsPerSecond, 5000.0)), 10, ReasonAtMax, "asks for 100 but max is 10"},
		{"at min", func() Policy { p := testPolicy(rps); p.Min = 2; return p }(), obs(0, 2, 2, load(RequestsPerSecond, 1.0)), 2, ReasonAtMin, "asks for 1 but min is 2"},
		{"fastest out wins", testPolicy(rps, lat), obs(0, 2, 2, load(RequestsPerSecond, 100.0, P95Latency, 0.4)), 4, ReasonScaleOut,
			"p95_latency 400ms (target 200ms, ratio 2.00) → 4"},
		{"slowest in wins", testPolicy(rps, conns), obs(0, 6, 6, load(RequestsPerSecond, 50.0, ActiveConnections, 55.0)), 3, ReasonScaleIn, "in 6 → 3"},
		{"latency: booting servers do not count as serving", testPolicy(lat), obs(0, 3, 1, load(P95Latency, 0.5)), 3, ReasonSteady, "ratio 2.50) → 3"},
		{"latency: low latency with booting servers scales in from ready only", testPolicy(lat), obs(0, 4, 2, load(P95Latency, 0.05)), 1, ReasonScaleIn, "in 4 → 1"},
		{"no data holds", testPolicy(rps, lat), obs(0, 3, 3, load(RequestsPerSecond, "Prometheus: connection refused", P95Latency, "Prometheus: connection refused")), 3, ReasonNoData,
			"requests_per_second, p95_latency missing (Prometheus: connection refused): hold 3"},
		{"partial data: never in", testPolicy(rps, lat), obs(0, 4, 4, load(RequestsPerSecond, 10.0, P95Latency, "no series")), 4, ReasonPartialData,
			"never in while a metric is missing"},
		{"partial data: out when the others ask", testPolicy(rps, lat), obs(0, 2, 2, load(RequestsPerSecond, 300.0, P95Latency, "no series")), 6, ReasonScaleOut, "out 2 → 6"},
		{"not a number is missing", testPolicy(lat), obs(0, 2, 2, load(P95Latency, math.NaN())), 2, ReasonNoData, "not a number"},
		{"below min with no data", func() Policy { p := testPolicy(rps); p.Min = 2; return p }(), obs(0, 0, 0, load(RequestsPerSecond, "down")), 2, ReasonBelowMin, "fewer servers than min 2"},
		{"above max", func() Policy { p := testPolicy(rps); p.Max = 3; return p }(), obs(0, 5, 5, load(RequestsPerSecond, 1000.0)), 3, ReasonAboveMax, "in 5 → 3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// An old history, so that the start-up seeding plays no part.
			h := History{seeded: true}
			d, _ := Decide(tt.p, h, tt.o)
			if d.Desired != tt.desired || d.Reason != tt.reason {
				t.Errorf("desired %d (%s), want %d (%s): %s", d.Desired, d.Reason, tt.desired, tt.reason, d.Detail)
			}
			if !strings.Contains(d.Detail, tt.detail) {
				t.Errorf("detail %q does not say %q", d.Detail, tt.detail)
			}
		})
	}
}

// step runs a sequence of decisions, one per second of the plan, applying
// each decided count at once, and returns the counts.
func run(p Policy, h History, current int, loads []float64) ([]int, []Reason) {
	var counts []int
	var reasons []Reason
	for i, l := range loads {
		var d Decision
		d, h = Decide(p, h, obs(time.Duration(i)*time.Second, current, current, load(RequestsPerSecond, l)))
		current = d.Desired
		counts = append(counts, current)
		reasons = append(reasons, d.Reason)
	}
	return counts, reasons
}

func TestScaleInWaitsForTheWindow(t *testing.T) {
	p := testPolicy(Target{RequestsPerSecond, 10})
	p.In.Stabilization = 5 * time.Second
	// Load 40 (4 members) for 3 s, then 10 (1 member).
	loads := []float64{40, 40, 40, 10, 10, 10, 10, 10, 10, 10, 10}
	counts, reasons := run(p, History{seeded: true}, 4, loads)
	// The 40s of seconds 0-2 are in the 5 s window until second 7.
	want := []int{4, 4, 4, 4, 4, 4, 4, 1, 1, 1, 1}
	for i := range want {
		if counts[i] != want[i] {
			t.Fatalf("counts %v, want %v (reasons %v)", counts, want, reasons)
		}
	}
	if reasons[5] != ReasonStabilizing || reasons[7] != ReasonScaleIn {
		t.Errorf("reasons %v", reasons)
	}
}

func TestFlappingLoadDoesNotFlap(t *testing.T) {
	p := testPolicy(Target{RequestsPerSecond, 10})
	p.In.Stabilization = 5 * time.Second
	// Load jumps between 2 and 4 members' worth every second: out at once,
	// never in while the window holds a high proposal.
	var loads []float64
	for i := range 20 {
		loads = append(loads, []float64{20, 40}[i%2])
	}
	counts, _ := run(p, History{seeded: true}, 2, loads)
	for i, c := range counts[1:] {
		if c != 4 {
			t.Fatalf("second %d: %d members (all: %v), want 4 from the first peak on", i+1, c, counts)
		}
	}
}

func TestScaleOutWindow(t *testing.T) {
	p := testPolicy(Target{RequestsPerSecond, 10})
	p.Out.Stabilization = 3 * time.Second
	// A one-second spike does not scale out; a lasting rise does, once the
	// window's lowest proposal asks for it.
	counts, reasons := run(p, History{seeded: true}, 1, []float64{10, 50, 10, 10, 10, 30, 30, 30, 30, 30})
	want := []int{1, 1, 1, 1, 1, 1, 1, 3, 3, 3}
	for i := range want {
		if counts[i] != want[i] {
			t.Fatalf("counts %v, want %v (reasons %v)", counts, want, reasons)
		}
	}
}

func TestCooldowns(t *testing.T) {
	p := testPolicy(Target{RequestsPerSecond, 10})
	p.Out = Rules{Cooldown: 5 * time.Second, MaxStep: 1}
	p.In = Rules{Cooldown: 3 * time.Second, MaxStep: 1}
	loads := []float64{100, 100, 100, 100, 100, 100, 100, 10, 10, 10, 10, 10, 10, 10}
	counts, reasons := run(p, History{seeded: true}, 1, loads)
	// Out at 0 and 5 (5 s apart), in at 7 and 10 (3 s apart).
	want := []int{2, 2, 2, 2, 2, 3, 3, 2, 2, 2, 1, 1, 1, 1}
	for i := range want {
		if counts[i] != want[i] {
			t.Fatalf("counts %v, want %v (reasons %v)", counts, want, reasons)
		}
	}
	if reasons[1] != ReasonCooldown || reasons[8] != ReasonCooldown {
		t.Errorf("reasons %v", reasons)
	}
}

// A controller that starts (or restarts) scales in only after a whole
// scale-in window, and keeps the scale-out cooldown from the newest
// server's creation: nothing it did before is repeated.
func TestRestartedControllerWaits(t *testing.T) {
	p := testPolicy(Target{RequestsPerSecond, 10})
	p.In.Stabilization = 4 * time.Second
	counts, reasons := run(p, History{}, 5, []float64{10, 10, 10, 10, 10, 10})
	want := []int{5, 5, 5, 5, 1, 1}
	for i := range want {
		if counts[i] != want[i] {
			t.Fatalf("counts %v, want %v (reasons %v)", counts, want, reasons)
		}
	}

	p = testPolicy(Target{RequestsPerSecond, 10})
	p.Out.Cooldown = 10 * time.Second
	o := obs(5*time.Second, 2, 2, load(RequestsPerSecond, 100.0))
	o.Newest = t0 // the last controller created a server 5 s ago
	d, _ := Decide(p, History{}, o)
	if d.Reason != ReasonCooldown || d.Desired != 2 {
		t.Errorf("restarted 5 s after a scale-out with a 10 s cooldown: %s %d: %s", d.Reason, d.Desired, d.Detail)
	}
	o.At = t0.Add(10 * time.Second)
	if d, _ = Decide(p, History{}, o); d.Reason != ReasonScaleOut || d.Desired != 10 {
		t.Errorf("after the cooldown: %s %d: %s", d.Reason, d.Desired, d.Detail)
	}
}

// Missing data for a while never lets the scale-in window forget the
// proposals before it: the holds are recorded as the current count.
func TestPrometheusDownHolds(t *testing.T) {
	p := testPolicy(Target{RequestsPerSecond, 10})
	p.In.Stabilization = 3 * time.Second
	h := History{seeded: true}
	current := 4
	var d Decision
	for i := range 10 {
		d, h = Decide(p, h, obs(time.Duration(i)*time.Second, current, current, load(RequestsPerSecond, "Prometheus: connection refused")))
		if d.Desired != 4 || d.Reason != ReasonNoData {
			t.Fatalf("second %d: %d (%s), want a hold at 4: %s", i, d.Desired, d.Reason, d.Detail)
		}
	}
	// Back, with a low load: the window has only holds at 4 in it, so the
	// first low proposal waits for the window like any other.
	d, h = Decide(p, h, obs(10*time.Second, 4, 4, load(RequestsPerSecond, 10.0)))
	if d.Desired != 4 || d.Reason != ReasonStabilizing {
		t.Errorf("first data after the outage: %d (%s)", d.Desired, d.Reason)
	}
	d, _ = Decide(p, h, obs(13*time.Second, 4, 4, load(RequestsPerSecond, 10.0)))
	if d.Desired != 1 {
		t.Errorf("a window after: %d (%s)", d.Desired, d.Reason)
	}
}
