package autoscale

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"gonum.org/v1/plot/plotter"

	"lbd/internal/bench/chart/figure"
)

// Recorder keeps a run's decisions and actions for --report: the load, the
// counts and the latency over time, drawn with internal/bench/chart/figure (the
// plotting of lbctl bench) and written as JSON. It is safe for concurrent
// use.
type Recorder struct {
	mu     sync.Mutex
	start  time.Time
	Points []Point `json:"points"`
	Events []Event `json:"events"`
}

// Point is one decision.
type Point struct {
	T       float64  `json:"t"` // seconds into the run
	RPS     *float64 `json:"requests_per_second,omitempty"`
	Conns   *float64 `json:"active_connections,omitempty"`
	P95     *float64 `json:"p95_latency_seconds,omitempty"`
	CPU     *float64 `json:"cpu_percent,omitempty"`
	Current int      `json:"current"`
	Ready   int      `json:"ready"`
	Desired int      `json:"desired"`
	Reason  Reason   `json:"reason"`
	Detail  string   `json:"detail"`
}

// Event is one action carried out.
type Event struct {
	T      float64    `json:"t"`
	Kind   ActionKind `json:"kind"`
	Server string     `json:"server"`
	Why    string     `json:"why"`
	Err    string     `json:"error,omitempty"`
}

// Snapshot returns the decisions and actions so far (Points and Events are
// safe to read directly only once the controller has stopped).
func (r *Recorder) Snapshot() ([]Point, []Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.Points), slices.Clone(r.Events)
}

// NewRecorder starts a record at start.
func NewRecorder(start time.Time) *Recorder { return &Recorder{start: start} }

func (r *Recorder) decision(d Decision, l Load) {
	if r == nil {
		return
	}
	val := func(m Metric) *float64 {
		if v, ok := l.Values[m]; ok {
			return &v
		}
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.Points = keepLast(r.Points, maxRecords)
	r.Points = append(r.Points, Point{T: d.At.Sub(r.start).Seconds(), RPS: val(RequestsPerSecond), Conns: val(ActiveConnections),
		P95: val(P95Latency), CPU: val(CPUPercent), Current: d.Current, Ready: d.Ready, Desired: d.Desired, Reason: d.Reason, Detail: d.Detail})
}

func (r *Recorder) action(at time.Time, a Action, err error) {
	if r == nil {
		return
	}
	e := Event{T: at.Sub(r.start).Seconds(), Kind: a.Kind, Server: a.Server.Name, Why: a.Why}
	if err != nil {
		e.Err = err.Error()
	}
	r.mu.Lock()
	r.Events = append(keepLast(r.Events, maxRecords), e)
	r.mu.Unlock()
}

// maxRecords bounds a long run's record: a day of decisions every 15 s
// is 5760.
const maxRecords = 20000

// keepLast drops the oldest tenth of list when it has limit entries.
func keepLast[T any](list []T, limit int) []T {
	if len(list) < limit {
		return list
	}
	return append(list[:0:0], list[len(list)-limit*9/10:]...)
}

// Write writes report.json and autoscale.png into dir (created if
// missing) and returns their paths.
func (r *Recorder) Write(dir string) ([]string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("report folder: %w", err)
	}
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return nil, err
	}
	js := filepath.Join(dir, "report.json")
	if err := os.WriteFile(js, append(data, '\n'), 0o644); err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	png := filepath.Join(dir, "autoscale.png")
	if err := figure.TimeSeries(png, "png", r.duration(), r.panels()); err != nil {
		return []string{js}, fmt.Errorf("report chart: %w", err)
	}
	return []string{js, png}, nil
}

func (r *Recorder) duration() float64 {
	d := 0.0
	if n := len(r.Points); n > 0 {
		d = r.Points[n-1].T
	}
	if n := len(r.Events); n > 0 {
		d = max(d, r.Events[n-1].T)
	}
	return d
}

func (r *Recorder) panels() []figure.Panel {
	series := func(name string, pick func(Point) *float64, scale float64) figure.Series {
		s := figure.Series{Name: name}
		for _, p := range r.Points {
			if v := pick(p); v != nil {
				s.Points = append(s.Points, plotter.XY{X: p.T, Y: *v * scale})
			}
		}
		return s
	}
	count := func(name string, pick func(Point) int) figure.Series {
		s := figure.Series{Name: name, Step: true}
		for _, p := range r.Points {
			s.Points = append(s.Points, plotter.XY{X: p.T, Y: float64(pick(p))})
		}
		return s
	}
	var marks []figure.Mark
	for _, e := range r.Events {
		kind := ""
		switch e.Kind {
		case Create, Undrain:
			kind = "server added"
		case Drain, DeleteServer:
			kind = "server drained"
		case Heal, RemoveOrphan:
			kind = "server replaced"
		}
		if kind != "" && e.Err == "" {
			marks = append(marks, figure.Mark{AtS: e.T, Kind: kind})
		}
	}
	zero := 0.0
	return []figure.Panel{
		{Title: "Load (as Prometheus measures it)", YLabel: "requests/s", YMin: &zero,
			Series: []figure.Series{series("requests/s", func(p Point) *float64 { return p.RPS }, 1),
				series("active connections", func(p Point) *float64 { return p.Conns }, 1)}},
		{Title: "Servers", YLabel: "servers", YMin: &zero, Marks: marks,
			Series: []figure.Series{count("desired", func(p Point) int { return p.Desired }),
				count("current (booting, warming, serving)", func(p Point) int { return p.Current }),
				count("ready (members ONLINE)", func(p Point) int { return p.Ready })}},
		{Title: "Listener p95 latency", YLabel: "ms", YMin: &zero,
			Series: []figure.Series{series("p95", func(p Point) *float64 { return p.P95 }, 1000)}},
	}
}
