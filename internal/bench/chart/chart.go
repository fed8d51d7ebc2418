// Package chart draws a bench.Report with gonum.org/v1/plot: the latency
// CDF of every algorithm on one chart, the latency by percentile with the
// tail stretched out, and each member's share of requests over time, one
// panel per algorithm.
//
// It must not import any lbd package but internal/bench, whose Report it
// draws.
package chart

import (
	"encoding/json"
	"fmt"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	_ "gonum.org/v1/plot/vg/vgimg" // registers png
	_ "gonum.org/v1/plot/vg/vgsvg" // registers svg

	"lbd/internal/bench"
)

// WriteAll writes every chart of rep into dir (created if missing) in
// format (png or svg), plus results.json, and returns the files' paths.
func WriteAll(dir string, rep *bench.Report, format string) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("chart folder: %w", err)
	}
	var files []string
	for _, c := range []struct {
		name string
		draw func(*bench.Report) (*canvasSpec, error)
	}{
		{"latency-cdf", LatencyCDF},
		{"latency-percentiles", LatencyPercentiles},
		{"member-share", MemberShare},
	} {
		spec, err := c.draw(rep)
		if err != nil {
			return files, fmt.Errorf("chart %s: %w", c.name, err)
		}
		path := filepath.Join(dir, c.name+"."+format)
		if err := spec.save(path, format); err != nil {
			return files, fmt.Errorf("chart %s: %w", c.name, err)
		}
		files = append(files, path)
	}
	path := filepath.Join(dir, "results.json")
	data, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return files, fmt.Errorf("results: %w", err)
	}
	if err := os.WriteFile(path, append(data, '\n'), 0o644); err != nil {
		return files, fmt.Errorf("results: %w", err)
	}
	return append(files, path), nil
}

// canvasSpec is a grid of plots (one column) and the image's size.
type canvasSpec struct {
	rows []*plot.Plot
	w, h vg.Length
}

func (c *canvasSpec) save(path, format string) error {
	cw, err := draw.NewFormattedCanvas(c.w, c.h, format)
	if err != nil {
		return err
	}
	dc := draw.New(cw)
	grid := make([][]*plot.Plot, len(c.rows))
	for i, p := range c.rows {
		grid[i] = []*plot.Plot{p}
	}
	tiles := draw.Tiles{Rows: len(c.rows), Cols: 1, PadY: vg.Points(6), PadTop: vg.Points(4), PadBottom: vg.Points(4), PadLeft: vg.Points(4), PadRight: vg.Points(8)}
	canvases := plot.Align(grid, tiles, dc)
	for i, p := range c.rows {
		p.Draw(canvases[i][0])
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := cw.WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func newPlot(title, x, y string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = x
	p.Y.Label.Text = y
	p.Add(plotter.NewGrid())
	p.Legend.Top = true
	return p
}

func line(xys plotter.XYs, i int) (*plotter.Line, error) {
	l, err := plotter.NewLine(xys)
	if err != nil {
		return nil, err
	}
	l.Color = plotutil.Color(i)
	l.Dashes = plotutil.Dashes(i)
	l.Width = vg.Points(1.5)
	return l, nil
}

func subtitle(rep *bench.Report) string {
	load := fmt.Sprintf("open loop %g req/s", rep.Rate)
	if rep.Mode == "closed-loop" {
		load = fmt.Sprintf("closed loop, %d in flight", rep.Concurrency)
	}
	return fmt.Sprintf("%s: %s, %gs, %d clients", rep.Scenario, load, rep.DurationS, rep.Clients)
}

// LatencyCDF plots the fraction of requests answered within a latency, per
// algorithm, on a logarithmic latency axis.
func LatencyCDF(rep *bench.Report) (*canvasSpec, error) {
	p := newPlot("Latency CDF - "+subtitle(rep), "latency (ms, log scale)", "fraction of requests answered")
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = plot.LogTicks{Prec: -1}
	p.Y.Min, p.Y.Max = 0, 1
	p.Y.Tick.Marker = fractionTicks(0.1)
	p.Legend.Top, p.Legend.Left = false, false
	p.Legend.XOffs, p.Legend.YOffs = 0, 0
	for i, r := range rep.Runs {
		var xys plotter.XYs
		prev := 0.0
		for _, pt := range r.CDF {
			x := math.Max(pt.MS, 0.001) // log scale: no zero
			if len(xys) > 0 {
				xys = append(xys, plotter.XY{X: x, Y: prev}) // a step, as a CDF is
			}
			xys = append(xys, plotter.XY{X: x, Y: pt.Fraction})
			prev = pt.Fraction
		}
		if len(xys) == 0 {
			continue
		}
		l, err := line(xys, i)
		if err != nil {
			return nil, err
		}
		p.Add(l)
		p.Legend.Add(fmt.Sprintf("%s  p99 %s", r.Algorithm, bench.FormatMS(r.Latency.P99)), l)
	}
	return &canvasSpec{rows: []*plot.Plot{p}, w: 9 * vg.Inch, h: 5 * vg.Inch}, nil
}

// LatencyPercentiles plots latency against percentile with the percentile
// axis stretched as 1/(1-p), so 90%, 99% and 99.9% are equally far apart:
// the HdrHistogram view, where the tail is visible.
func LatencyPercentiles(rep *bench.Report) (*canvasSpec, error) {
	p := newPlot("Latency by percentile - "+subtitle(rep), "percentile", "latency (ms, log scale)")
	p.X.Scale = plot.LogScale{}
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	var ticks plot.ConstantTicks
	for _, q := range []float64{0, 0.5, 0.9, 0.99, 0.999, 0.9999, 0.99999} {
		ticks = append(ticks, plot.Tick{Value: 1 / (1 - q), Label: strconv.FormatFloat(q*100, 'f', -1, 64) + "%"})
	}
	p.X.Tick.Marker = ticks
	p.Legend.Left = true
	maxX := 10.0
	for i, r := range rep.Runs {
		var xys plotter.XYs
		n := float64(r.Responses)
		for _, pt := range r.CDF {
			// The last point has fraction 1: place it at the resolution
			// the sample size allows.
			f := math.Min(pt.Fraction, 1-1/math.Max(n, 2))
			xys = append(xys, plotter.XY{X: 1 / (1 - f), Y: math.Max(pt.MS, 0.001)})
			maxX = math.Max(maxX, 1/(1-f))
		}
		if len(xys) == 0 {
			continue
		}
		l, err := line(xys, i)
		if err != nil {
			return nil, err
		}
		p.Add(l)
		p.Legend.Add(r.Algorithm, l)
	}
	p.X.Min, p.X.Max = 1, maxX
	return &canvasSpec{rows: []*plot.Plot{p}, w: 9 * vg.Inch, h: 5 * vg.Inch}, nil
}

// MemberShare plots each member's share of the answers over time, one
// panel per algorithm, with the scenario's events as dashed verticals.
func MemberShare(rep *bench.Report) (*canvasSpec, error) {
	spec := &canvasSpec{w: 9 * vg.Inch, h: vg.Length(len(rep.Runs))*2.6*vg.Inch + 0.4*vg.Inch}
	for _, r := range rep.Runs {
		p := newPlot(fmt.Sprintf("%s - share of requests by member over time (%s)", r.Algorithm, rep.Scenario), "time into the run (s, by send time)", "share")
		p.Y.Min, p.Y.Max = 0, 1
		p.Y.Tick.Marker = fractionTicks(0.25)
		p.X.Min, p.X.Max = 0, rep.DurationS
		p.Legend.Left = false
		buckets := 0
		for _, c := range r.Timeline.Counts {
			buckets = max(buckets, len(c))
		}
		totals := make([]float64, buckets)
		for _, c := range r.Timeline.Counts {
			for b, n := range c {
				totals[b] += float64(n)
			}
		}
		for i, m := range rep.Members {
			counts := r.Timeline.Counts[m.Name]
			var xys plotter.XYs
			for b := range buckets {
				// Only the sending window: late answers would show as noise.
				t := (float64(b) + 0.5) * r.Timeline.BucketS
				if totals[b] == 0 || t > rep.DurationS {
					continue
				}
				var n float64
				if b < len(counts) {
					n = float64(counts[b])
				}
				xys = append(xys, plotter.XY{X: t, Y: n / totals[b]})
			}
			if len(xys) == 0 {
				continue
			}
			l, err := line(xys, i)
			if err != nil {
				return nil, err
			}
			p.Add(l)
			p.Legend.Add(fmt.Sprintf("%s (w%d)", m.Name, m.Weight), l)
		}
		if xys := errorShare(r, totals, rep.DurationS); len(xys) > 0 {
			l, err := plotter.NewLine(xys)
			if err != nil {
				return nil, err
			}
			l.Color = color.Black
			l.Width = vg.Points(1)
			p.Add(l)
			p.Legend.Add("errors", l)
		}
		for _, e := range r.Events {
			v, err := plotter.NewLine(plotter.XYs{{X: e.AtS, Y: 0}, {X: e.AtS, Y: 1}})
			if err != nil {
				return nil, err
			}
			v.Color = color.Gray{Y: 100}
			v.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
			p.Add(v)
			p.Legend.Add(fmt.Sprintf("%s %s", e.Action, e.Member), v)
		}
		spec.rows = append(spec.rows, p)
	}
	return spec, nil
}

// errorShare is, per interval, the errors (5xx answers and requests that
// got none) over the answers members gave; nil when there were none.
func errorShare(r *bench.RunResult, totals []float64, dur float64) plotter.XYs {
	var xys plotter.XYs
	any := false
	for b, n := range r.Timeline.Errors {
		t := (float64(b) + 0.5) * r.Timeline.BucketS
		if t > dur {
			break
		}
		den := float64(n)
		if b < len(totals) {
			den = max(totals[b], den)
		}
		y := 0.0
		if den > 0 {
			y = float64(n) / den
		}
		any = any || n > 0
		xys = append(xys, plotter.XY{X: t, Y: y})
	}
	if !any {
		return nil
	}
	return xys
}

// fractionTicks labels 0..1 every step.
func fractionTicks(step float64) plot.ConstantTicks {
	var ticks plot.ConstantTicks
	for i := 0; float64(i)*step <= 1+1e-9; i++ {
		v := math.Round(float64(i)*step*1e6) / 1e6
		ticks = append(ticks, plot.Tick{Value: v, Label: strconv.FormatFloat(v, 'f', -1, 64)})
	}
	return ticks
}
