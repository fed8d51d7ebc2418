package metrics_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"text/template"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"lbd/internal/demo"
	"lbd/internal/metrics"
	"lbd/internal/octavia"
	"lbd/internal/proxy"
	"lbd/internal/stats"
)

const cfgTmpl = `
loadbalancers:
  - name: lb
    vip_address: 127.0.0.1
    listeners:
      - name: web
        protocol: HTTP
        protocol_port: {{.Web}}
        connection_limit: 100
        default_pool:
          name: pool
          protocol: HTTP
          lb_algorithm: ROUND_ROBIN
          members:
            - {name: a, address: 127.0.0.1, protocol_port: {{.A}}}
            - {name: b, address: 127.0.0.1, protocol_port: {{.B}}, weight: {{.WeightB}}}
      - name: prom
        protocol: PROMETHEUS
        protocol_port: {{.Prom}}
`

type cfgData struct {
	Web, Prom, A, B, WeightB int
}

func freePort(t testing.TB) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func portOf(addr string) int {
	_, p, _ := net.SplitHostPort(addr)
	var n int
	fmt.Sscan(p, &n)
	return n
}

func load(t *testing.T, d cfgData) *octavia.Config {
	var buf bytes.Buffer
	template.Must(template.New("").Parse(cfgTmpl)).Execute(&buf, d)
	cfg, err := octavia.Parse("m.yaml", buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

type env struct {
	rt      *proxy.Runtime
	handler http.Handler
	data    cfgData
	cfg     *octavia.Config
}

func start(t *testing.T) *env {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	log := slog.New(slog.DiscardHandler)
	a, err := demo.Start(ctx, "127.0.0.1:0", demo.Options{Name: "a"}, log)
	if err != nil {
		t.Fatal(err)
	}
	b, err := demo.Start(ctx, "127.0.0.1:0", demo.Options{Name: "b"}, log)
	if err != nil {
		t.Fatal(err)
	}
	d := cfgData{Web: freePort(t), Prom: freePort(t), A: portOf(a.Addr()), B: portOf(b.Addr()), WeightB: 1}
	rt := proxy.New(log, proxy.Options{})
	h := metrics.Handler(rt, metrics.Options{})
	rt.SetMetrics(h)
	cfg := load(t, d)
	if err := rt.Apply(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Shutdown(context.Background()) })
	return &env{rt: rt, handler: h, data: d, cfg: cfg}
}

func scrape(t *testing.T, h http.Handler) map[string]*dto.MetricFamily {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(rec.Body)
	if err != nil {
		t.Fatalf("parse exposition: %v", err)
	}
	return fams
}

// value finds the series of a family whose labels include all of want.
func value(t *testing.T, fams map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	t.Helper()
	f, ok := fams[name]
	if !ok {
		t.Fatalf("family %s missing", name)
	}
	for _, m := range f.Metric {
		match := true
		for k, v := range want {
			found := false
			for _, lp := range m.Label {
				found = found || (lp.GetName() == k && lp.GetValue() == v)
			}
			match = match && found
		}
		if !match {
			continue
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		}
	}
	t.Fatalf("%s has no series with %v", name, want)
	return 0
}

func TestCountersAfterKnownTraffic(t *testing.T) {
	e := start(t)
	lb := e.cfg.LoadBalancers[0]
	listener := lb.Listeners[0]
	pool := lb.Pools[0]
	poolLabel := pool.ID + ":" + listener.ID
	c := &http.Client{}
	for range 100 {
		resp, err := c.Get(fmt.Sprintf("http://127.0.0.1:%d/", e.data.Web))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	l := map[string]string{"listener": listener.ID}
	// The last request's duration is recorded just after its response
	// reached the client: wait for it.
	f := scrape(t, e.handler)
	for deadline := time.Now().Add(5 * time.Second); value(t, f, "lbd_listener_request_duration_seconds", l) < 100 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
		f = scrape(t, e.handler)
	}
	checks := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"octavia_listener_http_requests_total", l, 100},
		{"octavia_listener_http_responses_total", map[string]string{"listener": listener.ID, "code": "2xx"}, 100},
		{"octavia_listener_http_responses_total", map[string]string{"listener": listener.ID, "code": "5xx"}, 0},
		{"octavia_listener_limit_sessions", l, 100},
		{"octavia_listener_status", map[string]string{"listener": listener.ID, "state": "UP"}, 1},
		{"octavia_listener_status", map[string]string{"listener": listener.ID, "state": "DOWN"}, 0},
		{"lbd_listener_request_duration_seconds", l, 100},
		{"octavia_pool_http_requests_total", map[string]string{"pool": poolLabel}, 100},
		{"octavia_pool_loadbalanced_total", map[string]string{"pool": poolLabel}, 100},
		{"octavia_pool_active_members", map[string]string{"pool": poolLabel}, 2},
		{"octavia_pool_status", map[string]string{"pool": poolLabel, "state": "UP"}, 1},
		{"octavia_member_http_responses_total", map[string]string{"pool": poolLabel, "member": pool.Members[0].ID, "code": "2xx"}, 50},
		{"octavia_member_http_responses_total", map[string]string{"pool": poolLabel, "member": pool.Members[1].ID, "code": "2xx"}, 50},
		{"octavia_member_status", map[string]string{"pool": poolLabel, "member": pool.Members[0].ID, "state": "UP"}, 1},
		{"octavia_member_weight", map[string]string{"pool": poolLabel, "member": pool.Members[1].ID}, 1},
		{"lbd_member_response_duration_seconds", map[string]string{"pool": poolLabel, "member": pool.Members[0].ID}, 50},
		{"octavia_loadbalancer_requests_total", nil, 100},
		{"lbd_config_reloads_total", map[string]string{"result": "success"}, 1},
		{"lbd_config_generation", nil, 1},
		{"lbd_event_loop_handoffs_total", map[string]string{"reason": "request"}, 0},
	}
	// One keep-alive connection: the event loops serve all but its first
	// requests, and report it.
	if got := value(t, f, "lbd_event_loop_requests_total", nil); got < 95 || got > 100 {
		t.Errorf("lbd_event_loop_requests_total = %v, want 95 to 100 of the 100 requests", got)
	}
	if got := value(t, f, "lbd_event_loops", nil); got < 1 {
		t.Errorf("lbd_event_loops = %v, want at least 1", got)
	}
	for _, c := range checks {
		if got := value(t, f, c.name, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	// The client kept its connection alive: one session for 100 requests.
	if got := value(t, f, "octavia_listener_sessions_total", l); got != 1 {
		t.Errorf("sessions_total = %v, want 1 keep-alive connection", got)
	}
	for _, fam := range []string{"go_goroutines", "process_resident_memory_bytes", "lbd_build_info", "octavia_loadbalancer_cpu", "octavia_loadbalancer_memory"} {
		if _, ok := f[fam]; !ok {
			t.Errorf("family %s missing", fam)
		}
	}
}

// TestInfoFamiliesNameObjects: each load balancer, listener, pool and
// member has an info series with its ID label (as Octavia's families label
// it) and its name, so a join shows names where Octavia's families have IDs.
func TestInfoFamiliesNameObjects(t *testing.T) {
	e := start(t)
	lb := e.cfg.LoadBalancers[0]
	web, pool := lb.Listeners[0], lb.Pools[0]
	poolLabel := pool.ID + ":" + web.ID
	f := scrape(t, e.handler)
	for _, c := range []struct {
		name   string
		labels map[string]string
	}{
		{"lbd_loadbalancer_info", map[string]string{"loadbalancer": lb.ID, "name": "lb", "vip_address": "127.0.0.1", "provider": "amphora"}},
		{"lbd_listener_info", map[string]string{"listener": web.ID, "name": "web", "loadbalancer": lb.ID, "protocol": "HTTP", "port": fmt.Sprint(e.data.Web)}},
		{"lbd_listener_info", map[string]string{"listener": lb.Listeners[1].ID, "name": "prom", "protocol": "PROMETHEUS"}},
		{"lbd_pool_info", map[string]string{"pool": poolLabel, "name": "pool", "loadbalancer": lb.ID, "algorithm": "ROUND_ROBIN", "protocol": "HTTP"}},
		{"lbd_member_info", map[string]string{"member": pool.Members[0].ID, "name": "a", "pool": poolLabel, "address": "127.0.0.1", "port": fmt.Sprint(e.data.A)}},
		{"lbd_member_info", map[string]string{"member": pool.Members[1].ID, "name": "b", "pool": poolLabel, "port": fmt.Sprint(e.data.B)}},
	} {
		if got := value(t, f, c.name, c.labels); got != 1 {
			t.Errorf("%s%v = %v, want 1", c.name, c.labels, got)
		}
	}
	bi := f["lbd_build_info"].Metric[0]
	labels := map[string]string{}
	for _, lp := range bi.Label {
		labels[lp.GetName()] = lp.GetValue()
	}
	if labels["version"] == "" || labels["revision"] == "" || !strings.HasPrefix(labels["goversion"], "go") {
		t.Errorf("lbd_build_info labels %v", labels)
	}
}

// TestDrainedMemberStatusFlips: weight 0 by a reload turns the member's
// status series from UP to DRAIN, and its weight gauge to 0.
func TestDrainedMemberStatusFlips(t *testing.T) {
	e := start(t)
	lb := e.cfg.LoadBalancers[0]
	poolLabel := lb.Pools[0].ID + ":" + lb.Listeners[0].ID
	b := map[string]string{"pool": poolLabel, "member": lb.Pools[0].Members[1].ID}
	with := func(state string) map[string]string {
		m := map[string]string{"state": state}
		for k, v := range b {
			m[k] = v
		}
		return m
	}
	f := scrape(t, e.handler)
	if value(t, f, "octavia_member_status", with("UP")) != 1 || value(t, f, "octavia_member_status", with("DRAIN")) != 0 {
		t.Fatal("member should start UP")
	}
	e.data.WeightB = 0
	if err := e.rt.Apply(context.Background(), load(t, e.data)); err != nil {
		t.Fatal(err)
	}
	f = scrape(t, e.handler)
	if value(t, f, "octavia_member_status", with("UP")) != 0 || value(t, f, "octavia_member_status", with("DRAIN")) != 1 {
		t.Error("drained member should be DRAIN")
	}
	if value(t, f, "octavia_member_weight", b) != 0 {
		t.Error("weight gauge should be 0")
	}
	if value(t, f, "octavia_pool_active_members", map[string]string{"pool": poolLabel}) != 1 {
		t.Error("one active member should remain")
	}
	if value(t, f, "lbd_config_generation", nil) != 2 {
		t.Error("generation should be 2 after one reload")
	}
}

// TestPrometheusListener: a PROMETHEUS listener serves the same exposition.
func TestPrometheusListener(t *testing.T) {
	e := start(t)
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", e.data.Prom))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.Contains(string(body), "octavia_listener_status{") {
		t.Fatalf("PROMETHEUS listener answered %d:\n%.300s", resp.StatusCode, body)
	}
}

// stallingWriter is a scraper that stops reading: its first Write blocks
// until release is closed.
type stallingWriter struct {
	*httptest.ResponseRecorder
	stalled chan struct{}
	release chan struct{}
	once    bool
}

func (w *stallingWriter) Write(p []byte) (int, error) {
	if !w.once {
		w.once = true
		close(w.stalled)
		<-w.release
	}
	return w.ResponseRecorder.Write(p)
}

// TestStalledScraperHoldsUpNoOther: while one scrape is stuck writing to a
// scraper that stopped reading, another scrape is answered in full.
func TestStalledScraperHoldsUpNoOther(t *testing.T) {
	e := start(t)
	stuck := &stallingWriter{ResponseRecorder: httptest.NewRecorder(), stalled: make(chan struct{}), release: make(chan struct{})}
	done := make(chan struct{})
	go func() {
		defer close(done)
		e.handler.ServeHTTP(stuck, httptest.NewRequest("GET", "/metrics", nil))
	}()
	<-stuck.stalled
	defer func() { close(stuck.release); <-done }()
	second := make(chan *httptest.ResponseRecorder)
	go func() {
		rec := httptest.NewRecorder()
		e.handler.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		second <- rec
	}()
	select {
	case rec := <-second:
		// Whole: lbd's families and, written last, the Go runtime's.
		if b := rec.Body.String(); !strings.Contains(b, "\noctavia_loadbalancer_listeners ") || !strings.Contains(b, "\ngo_goroutines ") {
			t.Errorf("the second scrape is not whole:\n%.500s", b)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a second scrape waited for the stalled one")
	}
}

// TestMemberHistogramBuckets: by default a member's latency histograms are
// their +Inf bucket, sum and count, and the buckets are its pool's, added
// up over its members; metrics.Options.MemberBuckets brings every
// member's buckets back.
func TestMemberHistogramBuckets(t *testing.T) {
	e := start(t)
	lb := e.cfg.LoadBalancers[0]
	pool := lb.Pools[0]
	poolLabel := pool.ID + ":" + lb.Listeners[0].ID
	c := &http.Client{}
	for range 10 {
		resp, err := c.Get(fmt.Sprintf("http://127.0.0.1:%d/", e.data.Web))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	poolOnly := map[string]string{"pool": poolLabel}
	f := scrape(t, e.handler)
	for deadline := time.Now().Add(5 * time.Second); value(t, f, "lbd_pool_response_duration_seconds", poolOnly) < 10 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
		f = scrape(t, e.handler)
	}
	finite := func(h *dto.Histogram) (n int) {
		for _, b := range h.Bucket {
			if !math.IsInf(b.GetUpperBound(), 1) {
				n++
			}
		}
		return n
	}
	series := func(f map[string]*dto.MetricFamily, name string, want map[string]string) []*dto.Histogram {
		var hs []*dto.Histogram
		for _, m := range f[name].GetMetric() {
			got := map[string]string{}
			for _, lp := range m.Label {
				got[lp.GetName()] = lp.GetValue()
			}
			if maps.Equal(got, want) {
				hs = append(hs, m.GetHistogram())
			}
		}
		if len(hs) != 1 {
			t.Fatalf("%s%v: %d series, want 1", name, want, len(hs))
		}
		return hs
	}
	for _, fam := range []string{"response", "connect"} {
		ph := series(f, "lbd_pool_"+fam+"_duration_seconds", poolOnly)[0]
		if n := finite(ph); n != len(stats.LatencyBuckets) {
			t.Errorf("lbd_pool_%s_duration_seconds: %d finite buckets, want %d", fam, n, len(stats.LatencyBuckets))
		}
		var count uint64
		var sum float64
		for _, m := range pool.Members {
			mh := series(f, "lbd_member_"+fam+"_duration_seconds", map[string]string{"pool": poolLabel, "member": m.ID})[0]
			if n := finite(mh); n != 0 {
				t.Errorf("member %s's %s histogram: %d finite buckets by default, want none", m.Name, fam, n)
			}
			count += mh.GetSampleCount()
			sum += mh.GetSampleSum()
		}
		if ph.GetSampleCount() != count || math.Abs(ph.GetSampleSum()-sum) > 1e-9 {
			t.Errorf("lbd_pool_%s_duration_seconds: count %d sum %v, want the members' %d and %v", fam, ph.GetSampleCount(), ph.GetSampleSum(), count, sum)
		}
		if fam == "response" && count != 10 {
			t.Errorf("members' response histograms count %d requests, want 10", count)
		}
	}
	all := scrape(t, metrics.Handler(e.rt, metrics.Options{MemberBuckets: true}))
	for _, m := range pool.Members {
		for _, fam := range []string{"response", "connect"} {
			mh := series(all, "lbd_member_"+fam+"_duration_seconds", map[string]string{"pool": poolLabel, "member": m.ID})[0]
			if n := finite(mh); n != len(stats.LatencyBuckets) {
				t.Errorf("with MemberBuckets, member %s's %s histogram has %d finite buckets, want %d", m.Name, fam, n, len(stats.LatencyBuckets))
			}
		}
	}
}
