package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"lbd/internal/controlplane"
	"lbd/internal/octavia"
)

// nullDataPlane accepts every configuration and serves nothing: the fuzz
// target is about what the API lets through to the data plane, not about
// binding sockets.
type nullDataPlane struct{ applied *octavia.Config }

func (d *nullDataPlane) Apply(_ context.Context, cfg *octavia.Config) error {
	d.applied = cfg
	return nil
}
func (*nullDataPlane) OperatingStatus(string) (octavia.OperatingStatus, bool) { return "", false }
func (*nullDataPlane) ListenerStats(string) (octavia.Stats, bool)             { return octavia.Stats{}, false }

// bodyRoutes are the requests that carry a body, one per resource and
// verb. $LB, $LISTENER, $POOL, $POOL2, $MEMBER and $HM in the path and in
// the body are replaced with the fixture's IDs, so the fuzzer can reach the
// validation behind the lookups.
var bodyRoutes = []struct{ method, path string }{
	{"POST", "/v2/lbaas/loadbalancers"},
	{"PUT", "/v2/lbaas/loadbalancers/$LB"},
	{"POST", "/v2/lbaas/listeners"},
	{"PUT", "/v2/lbaas/listeners/$LISTENER"},
	{"POST", "/v2/lbaas/pools"},
	{"PUT", "/v2/lbaas/pools/$POOL"},
	{"POST", "/v2/lbaas/pools/$POOL/members"},
	{"PUT", "/v2/lbaas/pools/$POOL/members/$MEMBER"},
	{"PUT", "/v2/lbaas/pools/$POOL/members"},
	{"POST", "/v2/lbaas/healthmonitors"},
	{"PUT", "/v2/lbaas/healthmonitors/$HM"},
}

// apiFixture is a control plane holding one load balancer with a listener,
// a pool with a member and a monitor, and a second pool without a monitor.
type apiFixture struct {
	h   http.Handler
	cp  *controlplane.ControlPlane
	ids map[string]string
}

func newAPIFixture(t *testing.T) *apiFixture {
	cp, err := controlplane.New(controlplane.Options{}, &nullDataPlane{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if err := cp.SetFileConfig(context.Background(), &octavia.Config{}); err != nil {
		t.Fatal(err)
	}
	f := &apiFixture{h: cp.Handler(), cp: cp, ids: map[string]string{}}
	code, m := f.do(t, "POST", "/v2/lbaas/loadbalancers", `{"loadbalancer": {"name": "lb", "vip_subnet_id": "8ced0346-1b20-4993-b175-66a23fc579f3",
		"listeners": [{"name": "l", "protocol": "HTTP", "protocol_port": 80, "default_pool": {"name": "p", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
			"healthmonitor": {"type": "HTTP", "delay": 5, "timeout": 5, "max_retries": 3},
			"members": [{"address": "127.0.0.11", "protocol_port": 8081}]}}],
		"pools": [{"name": "p2", "protocol": "TCP", "lb_algorithm": "SOURCE_IP"}]}}`)
	if code != http.StatusCreated {
		t.Fatalf("fixture: %d %v", code, m)
	}
	lb := m["loadbalancer"].(map[string]any)
	f.ids["$LB"] = lb["id"].(string)
	f.ids["$LISTENER"] = lb["listeners"].([]any)[0].(map[string]any)["id"].(string)
	for _, p := range lb["pools"].([]any) {
		p := p.(map[string]any)
		if p["name"] == "p" {
			f.ids["$POOL"] = p["id"].(string)
			f.ids["$HM"] = p["healthmonitor"].(map[string]any)["id"].(string)
			f.ids["$MEMBER"] = p["members"].([]any)[0].(map[string]any)["id"].(string)
		} else {
			f.ids["$POOL2"] = p["id"].(string)
		}
	}
	return f
}

func (f *apiFixture) expand(s string) string {
	// $POOL2 before $POOL, which is its prefix.
	for _, k := range []string{"$LB", "$LISTENER", "$POOL2", "$POOL", "$MEMBER", "$HM"} {
		s = strings.ReplaceAll(s, k, f.ids[k])
	}
	return s
}

func (f *apiFixture) do(t *testing.T, method, path, body string) (int, map[string]any) {
	t.Helper()
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, httptest.NewRequest(method, f.expand(path), strings.NewReader(f.expand(body))))
	var m map[string]any
	if rec.Body.Len() > 0 {
		if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
			t.Fatalf("%s %s: answer is not a JSON object (%v): %q", method, path, err, rec.Body.String())
		}
	}
	return rec.Code, m
}

// FuzzRequestBodies: no request body makes the API panic or answer 500;
// every refusal is a 4xx with Octavia's fault body; whatever is accepted
// leaves every load balancer of the desired state valid by the same rules
// the config file is held to, so the data plane is never handed something
// the validator would refuse.
func FuzzRequestBodies(f *testing.F) {
	seeds := []struct {
		route int
		body  string
	}{
		{0, `{"loadbalancer": {"name": "x", "vip_subnet_id": "8ced0346-1b20-4993-b175-66a23fc579f3"}}`},
		{0, `{"loadbalancer": {"vip_subnet_id": "8ced0346-1b20-4993-b175-66a23fc579f3", "listeners": [{"protocol": "TCP", "protocol_port": 81, "default_pool": {"name": "q", "protocol": "TCP", "lb_algorithm": "LEAST_CONNECTIONS", "members": [{"address": "::1", "protocol_port": 1}]}}]}}`},
		{0, `{"loadbalancer": {"vip_subnet_id": "8ced0346-1b20-4993-b175-66a23fc579f3", "pools": [{"name": "a", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN", "healthmonitor": {"type": "PING", "delay": 1, "timeout": 1, "max_retries": 1}}], "listeners": [{"protocol": "HTTP", "protocol_port": 82, "default_pool": {"name": "a"}}]}}`},
		{0, `{"loadbalancer": {"vip_subnet_id": 7}}`},
		{0, `{"loadbalancer": []}`},
		{1, `{"loadbalancer": {"name": "renamed", "admin_state_up": false, "tags": ["a", "b"]}}`},
		{1, `{"loadbalancer": {"description": null}}`},
		{2, `{"listener": {"loadbalancer_id": "$LB", "protocol": "HTTP", "protocol_port": 8080, "connection_limit": 10, "insert_headers": {"X-Forwarded-For": "true"}, "allowed_cidrs": ["127.0.0.0/8"]}}`},
		{2, `{"listener": {"loadbalancer_id": "$LB", "protocol": "TCP", "protocol_port": 80, "default_pool_id": "$POOL2"}}`},
		{2, `{"listener": {"loadbalancer_id": "$LB", "protocol": "HTTP", "protocol_port": 65536}}`},
		{3, `{"listener": {"timeout_client_data": 1000, "default_pool_id": null}}`},
		{3, `{"listener": {"connection_limit": "many"}}`},
		{4, `{"pool": {"loadbalancer_id": "$LB", "protocol": "HTTP", "lb_algorithm": "SOURCE_IP", "name": "n"}}`},
		{4, `{"pool": {"listener_id": "$LISTENER", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"}}`},
		{5, `{"pool": {"lb_algorithm": "LEAST_CONNECTIONS", "session_persistence": {"type": "HTTP_COOKIE"}}}`},
		{6, `{"member": {"address": "127.0.0.12", "protocol_port": 8082, "weight": 0, "backup": true, "monitor_port": 9}}`},
		{6, `{"member": {"address": "not-an-ip", "protocol_port": 8082}}`},
		{7, `{"member": {"weight": 257, "admin_state_up": null}}`},
		{8, `{"members": [{"address": "127.0.0.11", "protocol_port": 8081}, {"address": "127.0.0.13", "protocol_port": 8083}]}`},
		{8, `{"members": {}}`},
		{9, `{"healthmonitor": {"pool_id": "$POOL2", "type": "TCP", "delay": 3, "timeout": 2, "max_retries": 2}}`},
		{9, `{"healthmonitor": {"pool_id": "$POOL", "type": "HTTP", "delay": 3, "timeout": 4, "max_retries": 11, "expected_codes": "200-"}}`},
		{10, `{"healthmonitor": {"expected_codes": "200, 202", "url_path": "/health", "http_version": 1.1, "domain_name": "example.com"}}`},
		{10, `{"healthmonitor": {"delay": -1}}`},
		{10, `{`},
		{10, `{"healthmonitor": {"delay": 1e400}}`},
	}
	for _, s := range seeds {
		f.Add(uint8(s.route), []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, route uint8, body []byte) {
		fx := newAPIFixture(t)
		r := bodyRoutes[int(route)%len(bodyRoutes)]
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(r.method, fx.expand(r.path), bytes.NewReader([]byte(fx.expand(string(body)))))
		req.Header.Set("Content-Type", "application/json")
		fx.h.ServeHTTP(rec, req)
		code := rec.Code
		switch {
		case code >= 200 && code < 300:
			checkDesiredState(t, fx.cp, r, body)
			return
		case code == http.StatusBadRequest, code == http.StatusNotFound, code == http.StatusConflict, code == http.StatusRequestEntityTooLarge:
		default:
			t.Fatalf("%s %s %q: status %d: %s", r.method, r.path, body, code, rec.Body.String())
		}
		checkFault(t, rec, r, body)
	})
}

// checkFault: an error answer is WSME's fault body, a client fault with a
// message.
func checkFault(t *testing.T, rec *httptest.ResponseRecorder, r struct{ method, path string }, body []byte) {
	t.Helper()
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("%s %s %q: %d with Content-Type %q", r.method, r.path, body, rec.Code, ct)
	}
	var fault map[string]any
	dec := json.NewDecoder(bytes.NewReader(rec.Body.Bytes()))
	if err := dec.Decode(&fault); err != nil {
		t.Fatalf("%s %s %q: fault body is not JSON: %v: %q", r.method, r.path, body, err, rec.Body.String())
	}
	fs, _ := fault["faultstring"].(string)
	di, hasDI := fault["debuginfo"]
	if fault["faultcode"] != "Client" || fs == "" || !hasDI || di != nil || len(fault) != 3 {
		t.Fatalf("%s %s %q: %d with a fault body not shaped as Octavia's: %s", r.method, r.path, body, rec.Code, rec.Body.String())
	}
	if _, err := dec.Token(); err != io.EOF {
		t.Fatalf("%s %s: trailing data after the fault body: %q", r.method, r.path, rec.Body.String())
	}
}

// checkDesiredState: after an accepted change every load balancer passes
// the config validator, with defaults filled in as the data plane sees it.
func checkDesiredState(t *testing.T, cp *controlplane.ControlPlane, r struct{ method, path string }, body []byte) {
	t.Helper()
	cfg := cp.Config()
	for i, lb := range cfg.LoadBalancers {
		if err := lb.Validate(fmt.Sprintf("loadbalancers[%d]", i)); err != nil {
			t.Fatalf("%s %s %q was accepted, and left an invalid load balancer: %v", r.method, r.path, body, err)
		}
	}
}
