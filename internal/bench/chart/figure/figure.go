// Package figure draws time series on gonum.org/v1/plot in the style of
// lbctl bench's charts (internal/bench/chart): plots in one column saved
// as PNG or SVG, lines in plotutil's palette. TimeSeries stacks panels
// over a shared time axis; lbctl autoscale's report draws with it. It does
// not import internal/bench (whose benchmarks link the data plane).
//
// It must not import any lbd package: it draws what it is given.
package figure

import (
	"fmt"
	"os"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	_ "gonum.org/v1/plot/vg/vgimg" // registers png
	_ "gonum.org/v1/plot/vg/vgsvg" // registers svg
)

// Save draws rows, one above the other, on a w×h canvas into path in
// format (png or svg).
func Save(path, format string, w, h vg.Length, rows []*plot.Plot) error {
	cw, err := draw.NewFormattedCanvas(w, h, format)
	if err != nil {
		return err
	}
	dc := draw.New(cw)
	grid := make([][]*plot.Plot, len(rows))
	for i, p := range rows {
		grid[i] = []*plot.Plot{p}
	}
	tiles := draw.Tiles{Rows: len(rows), Cols: 1, PadY: vg.Points(6), PadTop: vg.Points(4), PadBottom: vg.Points(4), PadLeft: vg.Points(4), PadRight: vg.Points(8)}
	canvases := plot.Align(grid, tiles, dc)
	for i, p := range rows {
		p.Draw(canvases[i][0])
	}
	return WriteFile(path, cw)
}

// WriteFile writes a drawn canvas into path.
func WriteFile(path string, cw vg.CanvasWriterTo) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("figure %s: %w", path, err)
	}
	if _, err := cw.WriteTo(f); err != nil {
		f.Close()
		return fmt.Errorf("figure %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("figure %s: %w", path, err)
	}
	return nil
}

// NewPlot is a plot with a title, axis labels, a grid and the legend on top.
func NewPlot(title, x, y string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = x
	p.Y.Label.Text = y
	p.Add(plotter.NewGrid())
	p.Legend.Top = true
	return p
}

// Line is the i-th line of a plot, in the palette's i-th colour and dashes.
func Line(xys plotter.XYs, i int) (*plotter.Line, error) {
	l, err := plotter.NewLine(xys)
	if err != nil {
		return nil, err
	}
	l.Color = plotutil.Color(i)
	l.Dashes = plotutil.Dashes(i)
	l.Width = vg.Points(1.5)
	return l, nil
}
