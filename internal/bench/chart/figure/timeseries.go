package figure

import (
	"fmt"
	"image/color"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// Series is one named line over time: X in seconds into the run.
type Series struct {
	Name   string
	Points plotter.XYs
	// Step draws it as a staircase (a count that changes at a moment).
	Step bool
}

// Mark is a moment worth a dashed vertical line: marks of one Kind share
// a colour and one legend entry.
type Mark struct {
	AtS  float64
	Kind string
}

// Panel is one chart of a figure.
type Panel struct {
	Title, YLabel string
	Series        []Series
	Marks         []Mark
	// YMin, when set, starts the Y axis there (0 for counts).
	YMin *float64
}

// TimeSeries draws panels one above the other over a shared time axis
// (0 to durS seconds) into path, in format (png or svg): the autoscaler's
// run, for one.
func TimeSeries(path, format string, durS float64, panels []Panel) error {
	var rows []*plot.Plot
	for _, pn := range panels {
		p := NewPlot(pn.Title, "time into the run (s)", pn.YLabel)
		p.X.Min, p.X.Max = 0, max(durS, 1)
		p.Legend.Left = true
		if pn.YMin != nil {
			p.Y.Min = *pn.YMin
		}
		top := 0.0
		for i, s := range pn.Series {
			xys := s.Points
			if s.Step {
				xys = staircase(xys)
			}
			if len(xys) == 0 {
				continue
			}
			for _, pt := range xys {
				top = max(top, pt.Y)
			}
			l, err := Line(xys, i)
			if err != nil {
				return fmt.Errorf("chart %s: %w", pn.Title, err)
			}
			l.Dashes = nil
			p.Add(l)
			p.Legend.Add(s.Name, l)
		}
		if pn.YMin != nil && top > 0 {
			p.Y.Max = top * 1.15
		}
		kinds := map[string]int{}
		for _, m := range pn.Marks {
			k, seen := kinds[m.Kind]
			if !seen {
				k = len(kinds)
				kinds[m.Kind] = k
			}
			v, err := plotter.NewLine(plotter.XYs{{X: m.AtS, Y: p.Y.Min}, {X: m.AtS, Y: max(p.Y.Max, top)}})
			if err != nil {
				return fmt.Errorf("chart %s: %w", pn.Title, err)
			}
			v.Color = markColors[k%len(markColors)]
			v.Dashes = []vg.Length{vg.Points(3), vg.Points(3)}
			v.Width = vg.Points(0.8)
			p.Add(v)
			if !seen {
				p.Legend.Add(m.Kind, v)
			}
		}
		rows = append(rows, p)
	}
	return Save(path, format, 9*vg.Inch, vg.Length(len(panels))*2.6*vg.Inch+0.4*vg.Inch, rows)
}

var markColors = []color.Color{
	color.RGBA{R: 0, G: 128, B: 0, A: 255},   // green
	color.RGBA{R: 200, G: 0, B: 0, A: 255},   // red
	color.RGBA{R: 128, G: 0, B: 128, A: 255}, // purple
	color.RGBA{R: 110, G: 110, B: 110, A: 255},
}

// staircase turns points into steps: each value holds until the next.
func staircase(xys plotter.XYs) plotter.XYs {
	var out plotter.XYs
	for i, pt := range xys {
		if i > 0 {
			out = append(out, plotter.XY{X: pt.X, Y: xys[i-1].Y})
		}
		out = append(out, pt)
	}
	return out
}
