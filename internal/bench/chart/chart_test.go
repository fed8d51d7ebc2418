package chart

import (
	"bytes"
	"encoding/json"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

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
