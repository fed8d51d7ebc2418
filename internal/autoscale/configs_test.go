package autoscale

import (
	"encoding/json"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

func promtool(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("LBD_SKIP_PROMETHEUS") == "1" {
			t.Skip("promtool not installed and LBD_SKIP_PROMETHEUS=1")
		}
		t.Fatal("promtool not found: install Debian's prometheus package (make test does)")
	}
	return path
}

// The alerting rules are valid, and each fires (or not) as
// testdata/alerts_test.yml says, in promtool's rule tests.
func TestAlertRules(t *testing.T) {
	pt := promtool(t)
	if out, err := exec.Command(pt, "check", "rules", "../../configs/autoscale-alerts.yml").CombinedOutput(); err != nil {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
	if out, err := exec.Command(pt, "test", "rules", "testdata/alerts_test.yml").CombinedOutput(); err != nil {
		t.Fatalf("promtool test rules: %v\n%s", err, out)
	}
}

// Every controller metric the alerts and the Grafana dashboard read is one
// the controller exports.
func TestShippedConfigsReadExportedMetrics(t *testing.T) {
	s := NewStats("g")
	p := Policy{Min: 1, Max: 3, Targets: []Target{{RequestsPerSecond, 10}}}
	s.policy(p)
	d, _ := Decide(p, History{}, Observation{At: time.Now(), Current: 1, Ready: 1, Load: Load{Values: map[Metric]float64{RequestsPerSecond: 5}}})
	s.decision(d, &Group{})
	s.action(Create)
	s.error("servers")
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(rec.Body.String()))
	if err != nil {
		t.Fatalf("the exposition: %v", err)
	}
	exported := map[string]bool{}
	for name := range fams {
		exported[name] = true
	}
	var exprs []string
	raw, err := os.ReadFile("../../configs/grafana-autoscale.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct{ Targets []struct{ Expr string } }
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("dashboard JSON: %v", err)
	}
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			exprs = append(exprs, tg.Expr)
		}
	}
	alerts, err := os.ReadFile("../../configs/autoscale-alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	exprs = append(exprs, string(alerts))
	n := 0
	for _, e := range exprs {
		for _, f := range strings.FieldsFunc(e, func(r rune) bool { return !(r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9') }) {
			if strings.HasPrefix(f, "lbctl_autoscale_") {
				n++
				if !exported[f] {
					t.Errorf("%s is read by a shipped config but not exported", f)
				}
			}
		}
	}
	if n < 10 {
		t.Errorf("found only %d controller metric names in the configs", n)
	}
}
