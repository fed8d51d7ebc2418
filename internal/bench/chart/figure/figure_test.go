package figure

import (
	"image/png"
	"os"
	"path/filepath"
	"testing"

	"gonum.org/v1/plot/plotter"
)

func TestTimeSeriesPNG(t *testing.T) {
	path := filepath.Join(t.TempDir(), "run.png")
	zero := 0.0
	panels := []Panel{
		{Title: "load", YLabel: "requests/s", Series: []Series{{Name: "requests/s", Points: plotter.XYs{{X: 0, Y: 10}, {X: 5, Y: 40}, {X: 10, Y: 10}}}},
			Marks: []Mark{{AtS: 5, Kind: "scale out"}, {AtS: 7, Kind: "scale out"}, {AtS: 9, Kind: "scale in"}}},
		{Title: "servers", YLabel: "servers", YMin: &zero, Series: []Series{
			{Name: "desired", Step: true, Points: plotter.XYs{{X: 0, Y: 1}, {X: 5, Y: 4}, {X: 10, Y: 1}}},
			{Name: "ready", Step: true, Points: plotter.XYs{{X: 0, Y: 1}, {X: 6, Y: 4}, {X: 10, Y: 1}}}}},
	}
	if err := TimeSeries(path, "png", 10, panels); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("not a PNG: %v", err)
	}
	if b := img.Bounds(); b.Dx() < 500 || b.Dy() < 2*b.Dx()/5 {
		t.Errorf("image %v: want two panels' height", b)
	}
}
