package chart

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	vgdraw "gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"lbd/internal/bench"
)

// report is a small but complete report: two algorithms, two members, an
// event.
func report() *bench.Report {
	rep := &bench.Report{
		Scenario: "t", Mode: "open-loop", Rate: 100, Clients: 4, DurationS: 1,
		Members: []bench.MemberSpec{{Name: "a", Weight: 1}, {Name: "b", Weight: 2}},
	}
	for i, alg := range []string{"ROUND_ROBIN", "LEAST_CONNECTIONS"} {
		r := &bench.RunResult{Algorithm: alg, Responses: 100, Latency: bench.LatencySummary{P99: 9}}
		for k := 1; k <= 10; k++ {
			r.CDF = append(r.CDF, bench.CDFPointMS{MS: float64(k * (i + 1)), Fraction: float64(k) / 10})
		}
		r.Timeline = bench.Timeline{BucketS: 0.1, Counts: map[string][]uint32{
			"a": {3, 3, 3, 3, 3, 0, 0, 0, 0, 0},
			"b": {7, 7, 7, 7, 7, 10, 10, 10, 10, 10},
		}}
		r.Events = []bench.EventResult{{AtS: 0.5, Member: "a", Action: bench.ActionDrain}}
		rep.Runs = append(rep.Runs, r)
	}
	return rep
}

func TestWriteAllPNG(t *testing.T) {
	dir := t.TempDir()
	files, err := WriteAll(dir, report(), "png")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 4 {
		t.Fatalf("files %v", files)
	}
	for _, f := range files[:3] {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if b := img.Bounds(); b.Dx() < 600 || b.Dy() < 300 || len(data) < 10_000 {
			t.Errorf("%s: %dx%d, %d bytes", f, b.Dx(), b.Dy(), len(data))
		}
	}
	// The share chart stacks one panel per algorithm.
	f, _ := os.Open(filepath.Join(dir, "member-share.png"))
	defer f.Close()
	cfg, err := png.DecodeConfig(f)
	if err != nil || cfg.Height < 2*240 { // 2.6in (250px) per panel
		t.Errorf("member-share.png: %+v %v, want two panels' height", cfg, err)
	}
	var back bench.Report
	data, _ := os.ReadFile(filepath.Join(dir, "results.json"))
	if err := json.Unmarshal(data, &back); err != nil || len(back.Runs) != 2 || back.Runs[1].Algorithm != "LEAST_CONNECTIONS" {
		t.Errorf("results.json: %v %+v", err, back)
	}
}

func TestWriteAllSVG(t *testing.T) {
	dir := t.TempDir()
	files, err := WriteAll(dir, report(), "svg")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files[:3] {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		s := string(data)
		if !strings.HasPrefix(s, "<?xml") || !strings.Contains(s, "<svg") || !strings.Contains(s, "ROUND_ROBIN") {
			t.Errorf("%s is not an SVG chart of the runs (%d bytes)", f, len(data))
		}
	}
}

func TestWriteAllBadFormat(t *testing.T) {
	if _, err := WriteAll(t.TempDir(), report(), "bmp"); err == nil {
		t.Fatal("bmp accepted")
	}
}

// TestLegendsBesideTheData: every chart's legends are drawn in a strip of
// their own to the right of the plot, outside its data area.
func TestLegendsBesideTheData(t *testing.T) {
	for name, draw := range map[string]func(*bench.Report) (*canvasSpec, error){
		"latency-cdf": LatencyCDF, "latency-percentiles": LatencyPercentiles, "member-share": MemberShare,
	} {
		spec, err := draw(report())
		if err != nil {
			t.Fatal(err)
		}
		c := vgimg.New(spec.w+legendWidth, spec.h)
		plots, legends, moved := spec.layout(vgdraw.New(c))
		for i, p := range spec.rows {
			data := p.DataCanvas(plots[i])
			leg := moved[i].Rectangle(legends[i])
			if leg.Max.X-leg.Min.X <= 0 {
				t.Errorf("%s row %d: no legend", name, i)
			}
			if legends[i].Min.X < data.Max.X {
				t.Errorf("%s row %d: the legend's strip starts at %v, inside the data area (to %v)", name, i, legends[i].Min.X, data.Max.X)
			}
		}
	}
}

// TestThinIntervalsMerged: an interval with a handful of answers, all from
// one member, does not show as that member taking everything: it is
// merged until it holds enough answers to mean something.
func TestThinIntervalsMerged(t *testing.T) {
	rep := report()
	r := rep.Runs[0]
	r.Timeline = bench.Timeline{BucketS: 0.1, Counts: map[string][]uint32{
		"a": {2, 50, 50, 50, 50, 50, 50, 50, 50, 1},
		"b": {0, 50, 50, 50, 50, 50, 50, 50, 50, 0},
	}}
	shares, _ := memberShares(rep, r)
	for _, pt := range shares["a"] {
		if pt.Y > 0.6 {
			t.Errorf("member a's share %.2f at %.2fs: a thin interval stands alone", pt.Y, pt.X)
		}
	}
	if got := mergeThin([]float64{2, 100, 0, 5, 5, 100, 3}, 20); fmt.Sprint(got) != "[[0 2] [3 7]]" {
		t.Errorf("mergeThin: %v", got)
	}
}
