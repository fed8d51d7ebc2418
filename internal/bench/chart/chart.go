// Package chart draws a bench.Report with gonum.org/v1/plot: the latency
// CDF of every algorithm on one chart, the latency by percentile with the
// tail stretched out, and each member's share of requests over time, one
// panel per algorithm.
//
// It must not import any lbd package but internal/bench, whose Report it
// draws, and internal/bench/chart/figure, whose plot style, lines and file
// writing it shares with lbctl autoscale's report.
package chart

import (
	"encoding/json"
	"fmt"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	_ "gonum.org/v1/plot/vg/vgimg" // registers png
	_ "gonum.org/v1/plot/vg/vgsvg" // registers svg

	"lbd/internal/bench"
	"lbd/internal/bench/chart/figure"
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

// canvasSpec is a grid of plots (one column) and the image's size. Each
// plot's legend is drawn in a strip of its own to the right of the plot,
// never over its data.
type canvasSpec struct {
	rows []*plot.Plot
	w, h vg.Length
}

// legendWidth is the strip each plot's legend takes to its right.
const legendWidth = 2.6 * vg.Inch

// layout places the plots in dc, the plots in a column and each one's
// legend in the strip to its right, and returns both canvases per row.
// The legends leave the plots: each plot's own is emptied.
func (c *canvasSpec) layout(dc draw.Canvas) (plots, legends []draw.Canvas, moved []plot.Legend) {
	grid := make([][]*plot.Plot, len(c.rows))
	for i, p := range c.rows {
		grid[i] = []*plot.Plot{p}
		moved = append(moved, p.Legend)
		p.Legend = plot.NewLegend()
	}
	area := draw.Crop(dc, 0, -legendWidth, 0, 0)
	tiles := draw.Tiles{Rows: len(c.rows), Cols: 1, PadY: vg.Points(6), PadTop: vg.Points(4), PadBottom: vg.Points(4), PadLeft: vg.Points(4), PadRight: vg.Points(8)}
	for _, row := range plot.Align(grid, tiles, area) {
		pc := row[0]
		plots = append(plots, pc)
		lc := dc
		lc.Rectangle = vg.Rectangle{Min: vg.Point{X: area.Max.X + vg.Points(4), Y: pc.Min.Y}, Max: vg.Point{X: dc.Max.X, Y: pc.Max.Y}}
		legends = append(legends, lc)
	}
	return plots, legends, moved
}

func (c *canvasSpec) save(path, format string) error {
	cw, err := draw.NewFormattedCanvas(c.w+legendWidth, c.h, format)
	if err != nil {
		return err
	}
	plots, legends, moved := c.layout(draw.New(cw))
	for i, p := range c.rows {
		p.Draw(plots[i])
		leg := moved[i]
		leg.Top, leg.Left, leg.XOffs, leg.YOffs = true, true, 0, -p.Title.TextStyle.Height(p.Title.Text)
		leg.TextStyle.Font.Size = vg.Points(10)
		leg.Draw(legends[i])
	}
	return figure.WriteFile(path, cw)
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
	p := figure.NewPlot("Latency CDF - "+subtitle(rep), "latency (ms, log scale)", "fraction of requests answered")
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = plot.LogTicks{Prec: -1}
	p.Y.Min, p.Y.Max = 0, 1
	p.Y.Tick.Marker = fractionTicks(0.1)
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
		l, err := figure.Line(xys, i)
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
	p := figure.NewPlot("Latency by percentile - "+subtitle(rep), "percentile", "latency (ms, log scale)")
	p.X.Scale = plot.LogScale{}
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	var ticks plot.ConstantTicks
	for _, q := range []float64{0, 0.5, 0.9, 0.99, 0.999, 0.9999, 0.99999} {
		ticks = append(ticks, plot.Tick{Value: 1 / (1 - q), Label: strconv.FormatFloat(q*100, 'f', -1, 64) + "%"})
	}
	p.X.Tick.Marker = ticks
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
		l, err := figure.Line(xys, i)
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
		p := figure.NewPlot(fmt.Sprintf("%s - share of requests by member over time (%s)", r.Algorithm, rep.Scenario),
			fmt.Sprintf("time into the run (s, by send time; intervals with fewer than %d answers merged with the next)", minAnswers), "share")
		p.Y.Min, p.Y.Max = 0, 1
		p.Y.Tick.Marker = fractionTicks(0.25)
		p.X.Min, p.X.Max = 0, rep.DurationS
		shares, errs := memberShares(rep, r)
		for i, m := range rep.Members {
			xys := shares[m.Name]
			if len(xys) == 0 {
				continue
			}
			l, err := figure.Line(xys, i)
			if err != nil {
				return nil, err
			}
			p.Add(l)
			p.Legend.Add(fmt.Sprintf("%s (w%d)", m.Name, m.Weight), l)
		}
		if len(errs) > 0 {
			l, err := plotter.NewLine(errs)
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

// memberShares is the share chart's data: each member's share of the
// answers over time, and the errors' (nil when there were none), per span
// of intervals merged until it holds minAnswers.
func memberShares(rep *bench.Report, r *bench.RunResult) (map[string]plotter.XYs, plotter.XYs) {
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
	// Only the sending window: late answers would show as noise.
	window := buckets
	for window > 0 && (float64(window-1)+0.5)*r.Timeline.BucketS > rep.DurationS {
		window--
	}
	// Errors weigh too: an interval where every request failed is kept,
	// for the error line.
	weights := slices.Clone(totals[:window])
	for b := range weights {
		if b < len(r.Timeline.Errors) {
			weights[b] += float64(r.Timeline.Errors[b])
		}
	}
	spans := mergeThin(weights, minAnswers)
	shares := map[string]plotter.XYs{}
	for _, m := range rep.Members {
		counts := r.Timeline.Counts[m.Name]
		for _, s := range spans {
			var n, total float64
			for b := s[0]; b < s[1]; b++ {
				total += totals[b]
				if b < len(counts) {
					n += float64(counts[b])
				}
			}
			if total == 0 {
				continue // only errors in this span
			}
			t := float64(s[0]+s[1]) / 2 * r.Timeline.BucketS
			shares[m.Name] = append(shares[m.Name], plotter.XY{X: t, Y: n / total})
		}
	}
	return shares, errorShare(r, totals, spans)
}

// minAnswers is how many answers an interval of the share chart needs: a
// thinner one is merged with the next, so that a share computed from a
// handful of requests (the first or last instants of a run) does not show
// as a spike.
const minAnswers = 20

// mergeThin groups consecutive intervals [from, to) until each group has
// at least min answers; intervals with none are left out, and a thin last
// group joins the one before it.
func mergeThin(totals []float64, min float64) [][2]int {
	var spans [][2]int
	start, sum := -1, 0.0
	for b, n := range totals {
		if n == 0 && start < 0 {
			continue
		}
		if start < 0 {
			start = b
		}
		sum += n
		if sum >= min {
			spans = append(spans, [2]int{start, b + 1})
			start, sum = -1, 0
		}
	}
	if start >= 0 {
		if len(spans) > 0 {
			spans[len(spans)-1][1] = len(totals)
		} else {
			spans = append(spans, [2]int{start, len(totals)})
		}
	}
	return spans
}

// errorShare is, per span of intervals, the errors (5xx answers and
// requests that got none) over the answers members gave; nil when there
// were none.
func errorShare(r *bench.RunResult, totals []float64, spans [][2]int) plotter.XYs {
	var xys plotter.XYs
	any := false
	for _, s := range spans {
		var n, den float64
		for b := s[0]; b < s[1]; b++ {
			if b < len(r.Timeline.Errors) {
				n += float64(r.Timeline.Errors[b])
			}
			den += totals[b]
		}
		den = max(den, n)
		y := 0.0
		if den > 0 {
			y = n / den
		}
		any = any || n > 0
		xys = append(xys, plotter.XY{X: float64(s[0]+s[1]) / 2 * r.Timeline.BucketS, Y: y})
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
