package metrics_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// tool finds a binary from Debian's prometheus package, which make test
// installs; only LBD_SKIP_PROMETHEUS=1 lets these tests skip.
func tool(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("LBD_SKIP_PROMETHEUS") == "1" {
			t.Skipf("%s not installed and LBD_SKIP_PROMETHEUS=1", name)
		}
		t.Fatalf("%s not found: install Debian's prometheus package (make test does)", name)
	}
	return path
}

func sendRequests(t *testing.T, port, n int) {
	t.Helper()
	c := &http.Client{}
	for range n {
		resp, err := c.Get(fmt.Sprintf("http://127.0.0.1:%d/", port))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}

// TestPromtoolCheckMetrics: promtool finds nothing to complain about in
// lbd's exposition.
func TestPromtoolCheckMetrics(t *testing.T) {
	promtool := tool(t, "promtool")
	e := start(t)
	sendRequests(t, e.data.Web, 10)
	srv := httpServer(t, e.handler)
	resp, err := http.Get(srv + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = bytes.NewReader(body)
	out, err := cmd.CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}
}

// TestRealPrometheusScrapes: a real Prometheus server scrapes lbd and its
// query API returns the listener's, the pool's and a member's series with
// the values the traffic produced.
func TestRealPrometheusScrapes(t *testing.T) {
	bin := tool(t, "prometheus")
	e := start(t)
	sendRequests(t, e.data.Web, 100)
	target := httpServer(t, e.handler)

	dir := t.TempDir()
	promPort := freePort(t)
	cfg := fmt.Sprintf(`global: {scrape_interval: 1s, evaluation_interval: 1s}
scrape_configs:
  - job_name: lbd
    static_configs: [{targets: ["%s"]}]
`, strings.TrimPrefix(target, "http://"))
	cfgPath := filepath.Join(dir, "prometheus.yml")
	os.WriteFile(cfgPath, []byte(cfg), 0o644)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var logs bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, "--config.file="+cfgPath, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		fmt.Sprintf("--web.listen-address=127.0.0.1:%d", promPort), "--log.level=warn")
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); cmd.Wait() }()

	lb := e.cfg.LoadBalancers[0]
	listener, pool := lb.Listeners[0], lb.Pools[0]
	poolLabel := pool.ID + ":" + listener.ID
	queries := map[string]float64{
		fmt.Sprintf(`octavia_listener_http_requests_total{listener=%q}`, listener.ID):                                   100,
		fmt.Sprintf(`octavia_pool_loadbalanced_total{pool=%q}`, poolLabel):                                              100,
		fmt.Sprintf(`octavia_member_http_responses_total{pool=%q,member=%q,code="2xx"}`, poolLabel, pool.Members[0].ID): 50,
		fmt.Sprintf(`octavia_member_status{pool=%q,member=%q,state="UP"}`, poolLabel, pool.Members[1].ID):               1,
		fmt.Sprintf(`sum(lbd_listener_request_duration_seconds_bucket{listener=%q,le="+Inf"})`, listener.ID):            100,
		`octavia_loadbalancer_listeners`: 2,
		// The info families give names to Octavia's ID labels.
		`sum(octavia_member_status{state="UP"} * on (pool, member) group_left (name) lbd_member_info{name="a"})`:    1,
		`sum(octavia_listener_http_requests_total * on (listener) group_left (name) lbd_listener_info{name="web"})`: 100,
	}
	api := fmt.Sprintf("http://127.0.0.1:%d/api/v1/query?query=", promPort)
	deadline := time.Now().Add(60 * time.Second)
	for q, want := range queries {
		for {
			got, err := promQuery(api + url.QueryEscape(q))
			if err == nil && got == want {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("query %s: got %v (%v), want %v\nprometheus logs:\n%s", q, got, err, want, logs.String())
			}
			time.Sleep(200 * time.Millisecond) // Prometheus scrapes every second
		}
	}
	// The dashboard's panels that show names get them from the info
	// families: each query answers series labelled with the names.
	names := map[string]bool{"web": true, "prom": true, "pool": true, "a": true, "b": true}
	for _, p := range dashboard(t).Panels {
		for _, tg := range p.Targets {
			if !strings.Contains(tg.Expr, "group_left (name)") {
				continue
			}
			q := strings.ReplaceAll(tg.Expr, "$instance", ".*")
			for {
				series, err := promSeries(api + url.QueryEscape(q))
				ok := err == nil && len(series) > 0
				for _, s := range series {
					ok = ok && names[s["name"]]
				}
				if ok {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("panel %q: %s: %v, %v; want series named %v", p.Title, q, series, err, names)
				}
				time.Sleep(200 * time.Millisecond)
			}
		}
	}
}

// promSeries runs an instant query and returns the labels of each series
// in the answer.
func promSeries(u string) ([]map[string]string, error) {
	resp, err := http.Get(u)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var r struct {
		Status string
		Error  string
		Data   struct {
			Result []struct {
				Metric map[string]string
			}
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return nil, err
	}
	if r.Status != "success" {
		return nil, fmt.Errorf("%s: %s", r.Status, r.Error)
	}
	var out []map[string]string
	for _, s := range r.Data.Result {
		out = append(out, s.Metric)
	}
	return out, nil
}

type dashboardPanels struct {
	Panels []struct {
		Title   string
		Targets []struct{ Expr string }
	}
}

func dashboard(t *testing.T) dashboardPanels {
	t.Helper()
	raw, err := os.ReadFile("../../configs/grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash dashboardPanels
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("dashboard JSON: %v", err)
	}
	return dash
}

func promQuery(u string) (float64, error) {
	resp, err := http.Get(u)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var r struct {
		Status string
		Data   struct {
			Result []struct {
				Value [2]any
			}
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return 0, err
	}
	if r.Status != "success" || len(r.Data.Result) != 1 {
		return 0, fmt.Errorf("status %s, %d series", r.Status, len(r.Data.Result))
	}
	var v float64
	_, err = fmt.Sscan(r.Data.Result[0].Value[1].(string), &v)
	return v, err
}

// httpServer serves h on a loopback port and returns its base URL.
func httpServer(t *testing.T, h http.Handler) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", h)
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String()
}

// TestShippedConfigs: the scrape config is one promtool accepts, and every
// family the Grafana dashboard queries is one lbd exports.
func TestShippedConfigs(t *testing.T) {
	promtool := tool(t, "promtool")
	if out, err := exec.Command(promtool, "check", "config", "../../configs/prometheus.yml").CombinedOutput(); err != nil {
		t.Errorf("promtool check config configs/prometheus.yml: %v\n%s", err, out)
	}
	if out, err := exec.Command(promtool, "check", "rules", "../../configs/lbd-alerts.yml").CombinedOutput(); err != nil {
		t.Errorf("promtool check rules configs/lbd-alerts.yml: %v\n%s", err, out)
	}
	dash := dashboard(t)
	e := start(t)
	sendRequests(t, e.data.Web, 1)
	fams := scrape(t, e.handler)
	exported := map[string]bool{}
	for name, f := range fams {
		exported[name] = true
		if f.GetType().String() == "HISTOGRAM" {
			exported[name+"_bucket"], exported[name+"_sum"], exported[name+"_count"] = true, true, true
		}
	}
	// Families that appear only after health probes or passive ejections,
	// with a TERMINATED_HTTPS listener (TestTLSFamilies) or an HTTP/2 error.
	for _, name := range []string{"lbd_health_probes_total", "lbd_member_passive_ejections_total",
		"lbd_tls_handshakes_total", "lbd_tls_resumed_handshakes_total", "lbd_tls_alpn_negotiated_total",
		"lbd_tls_handshake_failures_total", "lbd_tls_certificate_not_after_seconds", "lbd_http2_errors_total"} {
		exported[name] = true
	}
	n := 0
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			for _, name := range metricNames(tg.Expr) {
				n++
				if !exported[name] {
					t.Errorf("panel %q queries %s, which lbd does not export", p.Title, name)
				}
			}
		}
	}
	if n < 10 {
		t.Fatalf("found only %d metric names in the dashboard", n)
	}
}

// metricNames picks the metric names out of a PromQL expression: the
// identifiers that start with octavia_ or lbd_.
func metricNames(expr string) []string {
	var out []string
	for _, f := range strings.FieldsFunc(expr, func(r rune) bool {
		return !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9')
	}) {
		if strings.HasPrefix(f, "octavia_") || strings.HasPrefix(f, "lbd_") {
			out = append(out, f)
		}
	}
	return out
}
