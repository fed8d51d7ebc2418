package bench

import (
	"context"
	"log/slog"
	"math"
	"strings"
	"testing"
	"time"
)

// These tests run every shipped scenario briefly, at a rate the race
// detector can sustain on two cores, and assert the result each scenario
// exists to show.

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func testLog(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// runShipped loads configs/bench/NAME.yaml, shortens it and runs it.
func runShipped(t *testing.T, name string, edit func(*Scenario)) *Report {
	t.Helper()
	s, err := LoadFile("../../configs/bench/" + name + ".yaml")
	if err != nil {
		t.Fatal(err)
	}
	s.Duration = 1500 * time.Millisecond
	s.Rate = 400
	s.Remap.Clients = 64
	if edit != nil {
		edit(s)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rep, err := Run(ctx, s, Options{Log: testLog(t), LBD: testLBD(t), LBDLog: testWriter{t}})
	if err != nil {
		t.Fatal(err)
	}
	var sb strings.Builder
	WriteTable(&sb, rep)
	t.Log("\n" + sb.String())
	for _, r := range rep.Runs {
		// Every due request was answered: the bench itself lost nothing.
		if r.Responses+r.Errors-r.Status["5xx"] != r.Sent {
			t.Errorf("%s: %d sent, %d answered, %d failed", r.Algorithm, r.Sent, r.Responses, r.Errors-r.Status["5xx"])
		}
		if want := s.Rate * s.Duration.Seconds(); s.Rate > 0 && math.Abs(float64(r.Sent)-want) > 1 {
			t.Errorf("%s: %d requests due, want %v", r.Algorithm, r.Sent, want)
		}
	}
	return rep
}

func run(t *testing.T, rep *Report, alg string) *RunResult {
	t.Helper()
	for _, r := range rep.Runs {
		if r.Algorithm == alg {
			return r
		}
	}
	t.Fatalf("no %s run", alg)
	return nil
}

func member(t *testing.T, r *RunResult, name string) MemberResult {
	t.Helper()
	for _, m := range r.Members {
		if m.Name == name {
			return m
		}
	}
	t.Fatalf("no member %s", name)
	return MemberResult{}
}

func TestScenarioSlowMember(t *testing.T) {
	rep := runShipped(t, "slow-member", nil)
	rr := member(t, run(t, rep, "ROUND_ROBIN"), "slow")
	lc := member(t, run(t, rep, "LEAST_CONNECTIONS"), "slow")
	// Round robin ignores speed: a quarter each.
	if math.Abs(rr.Share-0.25) > 0.02 {
		t.Errorf("ROUND_ROBIN gave the slow member %.3f, want 0.25", rr.Share)
	}
	// Least connections sees the slow member's requests pile up.
	if lc.Share > rr.Share/2 {
		t.Errorf("LEAST_CONNECTIONS gave the slow member %.3f, ROUND_ROBIN %.3f: want at most half", lc.Share, rr.Share)
	}
	for _, r := range rep.Runs {
		if r.Errors != 0 {
			t.Errorf("%s: %d errors", r.Algorithm, r.Errors)
		}
	}
}

func TestScenarioHomogeneous(t *testing.T) {
	rep := runShipped(t, "homogeneous", nil)
	for _, r := range rep.Runs {
		if r.Errors != 0 {
			t.Errorf("%s: %d errors", r.Algorithm, r.Errors)
		}
	}
	for _, alg := range []string{"ROUND_ROBIN", "LEAST_CONNECTIONS"} {
		if r := run(t, rep, alg); r.Fairness < 0.99 {
			t.Errorf("%s: fairness %.3f on identical members", alg, r.Fairness)
		}
	}
	sip := run(t, rep, "SOURCE_IP")
	// Each client stays on one member.
	if sip.StickyClients != 1 {
		t.Errorf("SOURCE_IP: %.3f of clients stayed on one member, want all", sip.StickyClients)
	}
	if rr := run(t, rep, "ROUND_ROBIN"); rr.StickyClients > 0.5 {
		t.Errorf("ROUND_ROBIN kept %.3f of clients on one member: the sources are not spread", rr.StickyClients)
	}
	// Rendezvous hashing moves exactly the leaving member's clients, and
	// all of them come back.
	rm := sip.Remap
	if rm == nil {
		t.Fatal("SOURCE_IP run has no remap probe")
	}
	if rm.OnMember == 0 || rm.MovedOnLeave != rm.OnMember || rm.MovedOnReturn != rm.OnMember || rm.BackToOrigin != 1 {
		t.Errorf("remap: %+v; want moved on leave = moved on return = on member > 0, all back", *rm)
	}
	for _, r := range rep.Runs {
		if r.Algorithm != "SOURCE_IP" && r.Remap != nil {
			t.Errorf("%s has a remap probe", r.Algorithm)
		}
	}
}

func TestScenarioWeighted(t *testing.T) {
	rep := runShipped(t, "weighted", nil)
	rr := run(t, rep, "ROUND_ROBIN")
	for _, m := range rr.Members {
		if want := float64(m.Weight) / 7; math.Abs(m.Share-want) > 0.01 {
			t.Errorf("ROUND_ROBIN: %s (weight %d) got %.3f of requests, want %.3f", m.Name, m.Weight, m.Share, want)
		}
	}
	if rr.Fairness < 0.999 {
		t.Errorf("ROUND_ROBIN: weighted fairness %.3f", rr.Fairness)
	}
	// Least connections balances in-flight per unit of weight, not
	// requests: at low load the big member absorbs most, and the small
	// one never gets more than its weight's share.
	lc := run(t, rep, "LEAST_CONNECTIONS")
	small := member(t, lc, "small")
	if small.Share > 1.0/7+0.02 {
		t.Errorf("LEAST_CONNECTIONS gave the weight-1 member %.3f of requests, above its weight's share", small.Share)
	}
	for _, r := range rep.Runs {
		if r.Errors != 0 {
			t.Errorf("%s: %d errors", r.Algorithm, r.Errors)
		}
		if m := member(t, r, "small"); m.BackendPeakInFlight > 8 {
			t.Errorf("%s: the small member worked on %d requests at once, above its 8 workers", r.Algorithm, m.BackendPeakInFlight)
		}
	}
}

func TestScenarioDrain(t *testing.T) {
	rep := runShipped(t, "drain", nil)
	for _, r := range rep.Runs {
		if len(r.Events) != 1 || r.Events[0].Action != ActionDrain || r.Events[0].AtS < 0.5 {
			t.Fatalf("%s: events %+v, want one drain at 40%%", r.Algorithm, r.Events)
		}
		e := r.Events[0]
		if m := member(t, r, "m2"); m.Requests == 0 {
			t.Errorf("%s: m2 got no requests before the drain", r.Algorithm)
		}
		if e.MemberRequestsAfter != 0 {
			t.Errorf("%s: m2 got %d requests sent after the drain (the last %.3fs after)", r.Algorithm, e.MemberRequestsAfter, e.LastRequestAfterS)
		}
		// The timeline agrees: nothing in buckets wholly after the drain.
		counts := r.Timeline.Counts["m2"]
		for b := int(e.AtS/r.Timeline.BucketS) + 1; b < len(counts); b++ {
			if counts[b] != 0 {
				t.Errorf("%s: m2 answered %d requests sent around %.2fs, after the drain at %.2fs", r.Algorithm, counts[b], float64(b)*r.Timeline.BucketS, e.AtS)
			}
		}
		if r.Errors != 0 {
			t.Errorf("%s: %d errors across the drain", r.Algorithm, r.Errors)
		}
	}
}

func TestScenarioFailingMember(t *testing.T) {
	rep := runShipped(t, "failing-member", func(s *Scenario) {
		// Long enough for two failed probes a second apart after the
		// failure at 30%, and some traffic after the ejection.
		s.Duration = 7 * time.Second
		s.Algorithms = s.Algorithms[:1]
	})
	r := rep.Runs[0]
	fail := r.Events[0]
	if fail.Action != ActionFail || fail.MemberRequestsAfter == 0 {
		t.Fatalf("m4 answered no request after it failed: %+v", fail)
	}
	if m := member(t, r, "m4"); m.Errors < fail.MemberRequestsAfter {
		t.Errorf("m4 answered %d requests after failing but only %d were 500", fail.MemberRequestsAfter, m.Errors)
	}
	var down float64 = -1
	for _, h := range r.Health {
		if h.Member == "m4" && !h.Healthy && h.AtS >= fail.AtS {
			down = h.AtS
			break
		}
	}
	if down < 0 {
		t.Fatalf("lbd never marked m4 down after it failed at %.2fs; health changes: %+v", fail.AtS, r.Health)
	}
	// Two failed probes a second apart, plus up to a second until the
	// first: within 3s, with slack for a loaded machine.
	if d := down - fail.AtS; d > 4.5 {
		t.Errorf("m4 was marked down %.2fs after failing", d)
	}
	// Once down, it gets nothing (give in-flight picks a few ms).
	if last := fail.AtS + fail.LastRequestAfterS; last > down+0.01 {
		t.Errorf("m4 was marked down at %.3fs but got a request sent at %.3fs", down, last)
	}
}

// TestClosedLoop runs with a fixed number of requests in flight.
func TestClosedLoop(t *testing.T) {
	rep := runShipped(t, "homogeneous", func(s *Scenario) {
		s.Rate, s.Concurrency = 0, 8
		s.Duration = time.Second
		s.Algorithms = s.Algorithms[:1]
	})
	r := rep.Runs[0]
	// 8 in flight against ~5ms members: hundreds of requests at least,
	// never more in flight than the workers.
	if r.Responses < 200 || r.Errors != 0 {
		t.Errorf("%d responses, %d errors", r.Responses, r.Errors)
	}
	var peak int64
	for _, m := range r.Members {
		peak += m.PeakInFlight
	}
	if peak > 8*int64(len(r.Members)) {
		t.Errorf("peak in flight %d", peak)
	}
}

// TestOpenLoopSeesQueueing drives a member that serves one request at a
// time, 40ms each (25/s), at 50 requests/s. A closed-loop client would
// wait for each answer and report 40ms; the open-loop generator measures
// from when each request was due, so the growing queue shows: the last
// requests wait about a second.
func TestOpenLoopSeesQueueing(t *testing.T) {
	s := &Scenario{
		Name: "queue", Duration: time.Second, Rate: 50, Clients: 1, ConnectionsPerClient: 64,
		Timeout: 5 * time.Second, Path: "/", Algorithms: DefaultAlgorithms[:1],
		Members: []Member{{Name: "one", Weight: 1, Latency: 40 * time.Millisecond, Distribution: "fixed", MaxInFlight: 1}},
		Remap:   Remap{Clients: 1},
	}
	rep, err := Run(context.Background(), s, Options{Log: testLog(t), LBD: testLBD(t), LBDLog: testWriter{t}})
	if err != nil {
		t.Fatal(err)
	}
	r := rep.Runs[0]
	if r.Responses != 50 || r.Errors != 0 {
		t.Fatalf("%d responses, %d errors", r.Responses, r.Errors)
	}
	if r.Latency.P50 < 200 || r.Latency.Max < 700 {
		t.Errorf("latency p50 %.0fms max %.0fms: queueing is hidden", r.Latency.P50, r.Latency.Max)
	}
	if r.Latency.Max > 3000 {
		t.Errorf("latency max %.0fms: more than the queue explains", r.Latency.Max)
	}
	if p := r.Members[0].BackendPeakInFlight; p != 1 {
		t.Errorf("backend peak %d, want 1", p)
	}
	if p := r.Members[0].PeakInFlight; p < 10 {
		t.Errorf("lbd saw at most %d requests in flight at the member, want the queue", p)
	}
}
