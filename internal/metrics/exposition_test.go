package metrics

import (
	"bytes"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"lbd/internal/stats"
)

// TestExpositionParses: what the writer produces is read back by
// Prometheus' own text parser with every value, label and help text as
// written, escapes included, and histograms as Prometheus reads them.
func TestExpositionParses(t *testing.T) {
	cat := &catalog{}
	g := cat.gauge("t_gauge", `a "help" with a \ and a`+"\nnewline", "zone", "app")
	c := cat.counter("t_total", "a counter", "pool", "member", "state")
	h := cat.histogram("t_seconds", "a histogram", "pool")
	x := newExposition(cat)
	odd := `q"uo\te` + "\n" + `d`
	x.value(g, 1.5, odd, "web")
	x.value(c, 3, "p", "m", "UP")
	x.state(c, []string{"UP", "DOWN"}, "DOWN", "p2", "m2")
	var hist stats.Histogram
	hist.Observe(50 * time.Microsecond)
	hist.Observe(3 * time.Millisecond)
	hist.Observe(2 * time.Minute) // past the last bucket: only in +Inf
	x.histogram(h, &hist, "p")
	var out bytes.Buffer
	if err := x.writeTo(&out); err != nil {
		t.Fatal(err)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(bytes.NewReader(out.Bytes()))
	if err != nil {
		t.Fatalf("parse: %v\n%s", err, out.String())
	}
	gf := fams["t_gauge"]
	mustf(t, gf.GetHelp() == g.help, "help %q, want %q", gf.GetHelp(), g.help)
	lp := gf.Metric[0].Label
	mustf(t, len(lp) == 2 && lp[0].GetName() == "app" && lp[1].GetName() == "zone" && lp[1].GetValue() == odd,
		"labels %v, want app and zone=%q", lp, odd)
	mustf(t, gf.Metric[0].GetGauge().GetValue() == 1.5, "gauge %v", gf.Metric[0].GetGauge().GetValue())
	mustf(t, strings.Contains(out.String(), `t_total{member="m",pool="p",state="UP"} 3`),
		"labels are not in name order:\n%s", out.String())
	mustf(t, len(fams["t_total"].Metric) == 3, "t_total has %d series, want 3", len(fams["t_total"].Metric))
	mustf(t, strings.Contains(out.String(), `t_total{member="m2",pool="p2",state="DOWN"} 1`) &&
		strings.Contains(out.String(), `t_total{member="m2",pool="p2",state="UP"} 0`), "state series wrong:\n%s", out.String())

	hm := fams["t_seconds"].Metric[0].GetHistogram()
	mustf(t, hm.GetSampleCount() == 3, "count %d, want 3", hm.GetSampleCount())
	mustf(t, hm.GetSampleSum() > 120 && hm.GetSampleSum() < 120.01, "sum %v", hm.GetSampleSum())
	cum, _, _ := hist.Snapshot()
	mustf(t, len(hm.Bucket) == len(cum)+1, "%d buckets, want %d and +Inf", len(hm.Bucket), len(cum))
	inf := hm.Bucket[len(cum)]
	mustf(t, math.IsInf(inf.GetUpperBound(), 1) && inf.GetCumulativeCount() == 3, "last bucket le %v count %d, want +Inf 3",
		inf.GetUpperBound(), inf.GetCumulativeCount())
	for i, b := range hm.Bucket[:len(cum)] {
		mustf(t, b.GetUpperBound() == stats.LatencyBuckets[i].Seconds() && b.GetCumulativeCount() == cum[i],
			"bucket %d: le %v count %d, want le %v count %d", i, b.GetUpperBound(), b.GetCumulativeCount(),
			stats.LatencyBuckets[i].Seconds(), cum[i])
	}
}

// TestExpositionReusesItsBuffers: a second scrape of the same series
// allocates nothing.
func TestExpositionReusesItsBuffers(t *testing.T) {
	cat := &catalog{}
	c := cat.counter("t_total", "a counter", "pool", "member")
	h := cat.histogram("t_seconds", "a histogram", "pool", "member")
	s := cat.gauge("t_status", "a state", "member", "state")
	x := newExposition(cat)
	var hist stats.Histogram
	var out bytes.Buffer
	scrape := func() {
		x.reset()
		for _, m := range []string{"a", "b", "c"} {
			x.value(c, 12345, "pool", m)
			x.value(c, 1, x.itoa(8080+len(m)), m)
			x.histogram(h, &hist, "pool", m)
			x.state(s, memberStates, "UP", m)
		}
		out.Reset()
		x.writeTo(&out)
	}
	scrape()
	if n := testing.AllocsPerRun(20, scrape); n != 0 {
		t.Fatalf("%v allocations per scrape, want 0", n)
	}
}

func mustf(t *testing.T, ok bool, format string, args ...any) {
	t.Helper()
	if !ok {
		t.Fatalf(format, args...)
	}
}

// TestMemberLabelsWriteWhatValueDoes: a member's series written with its
// labels written once (blockLabels, labelled, ...) are the text value,
// state and histogramOf write, escapes included.
func TestMemberLabelsWriteWhatValueDoes(t *testing.T) {
	pool, member := `p"o\ol`+"\n"+`:l`, "m-\"1\""
	slow, fast := newExposition(lbdFamilies), newExposition(lbdFamilies)
	slow.value(memberWeight, 3, pool, member)
	slow.state(memberStatus, memberStates, "DRAIN", pool, member)
	slow.value(memberHTTPResponses, 7, pool, member, "2xx")
	slow.histogramOf(lbdMemberConnectSeconds, []uint64{1, 2}, 3, 0.5, pool, member)

	fast.blockLabels(pool, []memberView{{id: member}}, &fast.own)
	ml := fast.memberAt(0)
	fast.labelled(memberWeight, 3, ml)
	fast.stateLabelled(memberStatus, memberStates, memberStatePairs, "DRAIN", ml)
	fast.labelledBefore(memberHTTPResponses, 7, responseCodeHeads[2], ml, 2)
	fast.histogramLabelled(lbdMemberConnectSeconds, []uint64{1, 2}, 3, 0.5, ml)

	var a, b bytes.Buffer
	slow.writeTo(&a)
	fast.writeTo(&b)
	if a.String() != b.String() {
		t.Fatalf("labels written once:\n%s\nwant:\n%s", b.String(), a.String())
	}
	if !strings.Contains(a.String(), `octavia_member_http_responses_total{code="2xx",member="m-\"1\"",pool="p\"o\\ol\n:l"} 7`) {
		t.Fatalf("unexpected text:\n%s", a.String())
	}
}

// TestAppendValueIsStrconvG: the fast path for whole numbers writes what
// strconv's shortest 'g' does, as client_golang's encoder writes it, for
// every whole number it takes and at its edges.
func TestAppendValueIsStrconvG(t *testing.T) {
	check := func(v float64) {
		t.Helper()
		if got, want := string(appendValue([]byte("x "), v)), "x "+strconv.FormatFloat(v, 'g', -1, 64); got != want {
			t.Fatalf("appendValue(%v) = %q, want %q", v, got, want)
		}
	}
	for u := range 1_000_001 {
		check(float64(u))
	}
	for _, v := range []float64{math.Copysign(0, -1), -1, 0.5, 1e6 - 0.5, 1e6 + 1, 1e7, 4294967296, 1.5e-7,
		math.NaN(), math.Inf(1), math.Inf(-1), math.MaxFloat64, math.SmallestNonzeroFloat64,
		1e-4, math.Nextafter(1e-4, 0), math.Nextafter(1e-4, 1), 0.1 + 0.2, 1e6 - 1e-9, math.Nextafter(1e6, 0)} {
		check(v)
	}
	// Latency sums: whole nanoseconds in seconds (appendNanos), as
	// time.Duration.Seconds gives them, at every magnitude below 1e6 s and
	// around 1e-4 s, where 'g' starts writing an exponent; and doubles that
	// are no number of nanoseconds.
	r := rand.New(rand.NewPCG(1, 2))
	for range 1_000_000 {
		ns := r.Int64N(int64(math.Pow(10, float64(r.IntN(16)))) + 1)
		check(time.Duration(ns).Seconds())
		check(float64(ns) / 1e9)
		check(float64(ns) / 1e9 * (1 + (r.Float64()-0.5)*1e-12))
		check(r.Float64() * 1e6)
	}
	for ns := int64(99_000); ns <= 101_000; ns++ {
		check(time.Duration(ns).Seconds())
	}
}
