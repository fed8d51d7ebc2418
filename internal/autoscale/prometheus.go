package autoscale

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
)

// Source reads the group's load.
type Source interface {
	Measure(ctx context.Context, q Query) Measurement
}

// Query says whose load to read.
type Query struct {
	PoolID, ListenerID string
	Addresses          []string // the servers' (for the CPU query)
	Window             time.Duration
	Metrics            []Metric // the metrics to read
}

// Measurement is the load at one moment: the metrics' values (or why each
// has none) and every member's connections with the time of its scrape.
type Measurement struct {
	Load     Load
	Sessions map[string]Sample // by member ID
	// Err is set when Prometheus could not be asked at all.
	Err error
}

// PromSource reads lbd's metrics (or Octavia's PROMETHEUS listener's: the
// same names) from a Prometheus server, through client_golang's API client.
type PromSource struct {
	api      v1.API
	cpuQuery string
	timeout  time.Duration
}

// NewPromSource returns a Source asking the Prometheus at url; cpuQuery is
// the CPUPercent query ($addresses, $window replaced).
func NewPromSource(url, cpuQuery string) (*PromSource, error) {
	c, err := api.NewClient(api.Config{Address: url, Client: &http.Client{Timeout: 10 * time.Second}})
	if err != nil {
		return nil, fmt.Errorf("prometheus %s: %w", url, err)
	}
	return &PromSource{api: v1.NewAPI(c), cpuQuery: cpuQuery, timeout: 10 * time.Second}, nil
}

// Queries returns the PromQL of each metric for q.
func (s *PromSource) Queries(q Query) map[Metric]string {
	w := model.Duration(q.Window).String()
	pool := fmt.Sprintf(`pool=~"%s:.*"`, regexp.QuoteMeta(q.PoolID))
	listener := fmt.Sprintf(`listener=%q`, q.ListenerID)
	addrs := make([]string, len(q.Addresses))
	for i, a := range q.Addresses {
		addrs[i] = regexp.QuoteMeta(a)
	}
	cpu := strings.NewReplacer("$addresses", strings.Join(addrs, "|"), "$window", w).Replace(s.cpuQuery)
	return map[Metric]string{
		// The members' own counters, each rated then summed: the pool's
		// series sums its current members' counters, which drops when a
		// member leaves (lbd's pool counters are not monotonic across
		// member removal), and rate() would read the drop as a reset.
		RequestsPerSecond: fmt.Sprintf(`sum(rate(octavia_member_http_responses_total{%s}[%s]))`, pool, w),
		ActiveConnections: fmt.Sprintf(`sum(octavia_member_current_sessions{%s})`, pool),
		P95Latency:        fmt.Sprintf(`histogram_quantile(0.95, sum by (le) (rate(lbd_listener_request_duration_seconds_bucket{%s}[%s])))`, listener, w),
		CPUPercent:        cpu,
	}
}

// Measure asks Prometheus for each metric of q and for the members'
// connections. A series that is absent is missing; a p95 latency that is
// not a number because the listener served nothing in the window is 0.
func (s *PromSource) Measure(ctx context.Context, q Query) Measurement {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	m := Measurement{Load: Load{Values: map[Metric]float64{}, Missing: map[Metric]string{}}, Sessions: map[string]Sample{}}
	qs := s.Queries(q)
	for _, metric := range q.Metrics {
		if metric == CPUPercent && len(q.Addresses) == 0 {
			m.Load.Missing[metric] = "no server has an address yet"
			continue
		}
		v, err := s.scalar(ctx, qs[metric])
		if err != nil {
			m.Load.Missing[metric] = err.Error()
			if isUnreachable(err) {
				m.Err = err
				for _, rest := range q.Metrics {
					if _, done := m.Load.Values[rest]; !done {
						m.Load.Missing[rest] = err.Error()
					}
				}
				return m
			}
			continue
		}
		if metric == P95Latency && math.IsNaN(v) {
			n, err := s.scalar(ctx, fmt.Sprintf(`sum(rate(lbd_listener_request_duration_seconds_count{listener=%q}[%s]))`, q.ListenerID, model.Duration(q.Window)))
			if err == nil && n == 0 {
				v = 0 // no request in the window: no latency to speak of
			}
		}
		m.Load.Values[metric] = v
	}
	sel := fmt.Sprintf(`octavia_member_current_sessions{pool=~"%s:.*"}`, regexp.QuoteMeta(q.PoolID))
	vals, err := s.vector(ctx, sel)
	if err != nil {
		return m
	}
	stamps, err := s.vector(ctx, "timestamp("+sel+")")
	if err != nil {
		return m
	}
	at := map[string]time.Time{}
	for _, smp := range stamps {
		sec, frac := math.Modf(float64(smp.Value))
		at[string(smp.Metric["member"])] = time.Unix(int64(sec), int64(frac*1e9))
	}
	for _, smp := range vals {
		id := string(smp.Metric["member"])
		if t, ok := at[id]; ok {
			m.Sessions[id] = Sample{Value: float64(smp.Value), At: t}
		}
	}
	return m
}

// scalar runs a query that must return one sample.
func (s *PromSource) scalar(ctx context.Context, q string) (float64, error) {
	vec, err := s.vector(ctx, q)
	if err != nil {
		return 0, err
	}
	switch len(vec) {
	case 0:
		return 0, fmt.Errorf("%w for %s", errSeries, q)
	case 1:
		return float64(vec[0].Value), nil
	}
	return 0, fmt.Errorf("%d series, want one, for %s: %w", len(vec), q, errSeries)
}

// errSeries is a query answered with no series or too many.
var errSeries = errors.New("no series")

func (s *PromSource) vector(ctx context.Context, q string) (model.Vector, error) {
	v, _, _, err := s.api.Query(ctx, q, time.Now())
	if err != nil {
		return nil, fmt.Errorf("prometheus: %w", err)
	}
	vec, ok := v.(model.Vector)
	if !ok {
		return nil, fmt.Errorf("prometheus: %s: a %s, want an instant vector", q, v.Type())
	}
	return vec, nil
}

// isUnreachable reports whether the error is Prometheus not answering at
// all (as opposed to a query it answered with an error).
func isUnreachable(err error) bool {
	var apiErr *v1.Error
	if errors.As(err, &apiErr) {
		return apiErr.Type != v1.ErrBadData && apiErr.Type != v1.ErrExec
	}
	return !errors.Is(err, errSeries)
}
