package controlplane_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"lbd/internal/controlplane"
	"lbd/internal/octavia"
	"lbd/internal/octavia/auth"
)

// fakeDP is a DataPlane for API-level tests: it records what it is given,
// can refuse, and can hold an Apply until released so a test can look at
// the state while a change is in flight.
type fakeDP struct {
	mu      sync.Mutex
	applied []*octavia.Config
	fail    error
	hold    chan struct{} // when set, Apply signals entered and waits on it
	entered chan struct{}
	stats   map[string]octavia.Stats
	// online, when set, makes every object ONLINE, as a data plane serving
	// it without trouble reports.
	online bool
}

func (f *fakeDP) Apply(ctx context.Context, cfg *octavia.Config) error {
	f.mu.Lock()
	hold, entered, fail := f.hold, f.entered, f.fail
	f.mu.Unlock()
	if hold != nil {
		entered <- struct{}{}
		select {
		case <-hold:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if fail != nil {
		return fail
	}
	data, err := json.Marshal(cfg) // keep a deep copy, as the data plane would own it
	if err != nil {
		return err
	}
	var c octavia.Config
	if err := json.Unmarshal(data, &c); err != nil {
		return err
	}
	f.mu.Lock()
	f.applied = append(f.applied, &c)
	f.mu.Unlock()
	return nil
}

func (f *fakeDP) OperatingStatus(string) (octavia.OperatingStatus, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.online {
		return octavia.OperatingOnline, true
	}
	return "", false
}

func (f *fakeDP) ListenerStats(id string) (octavia.Stats, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.stats[id]
	return s, ok
}

func (f *fakeDP) last() *octavia.Config {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.applied) == 0 {
		return nil
	}
	return f.applied[len(f.applied)-1]
}

func (f *fakeDP) applies() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.applied)
}

var errRefused = errors.New("listen tcp 127.0.0.1:80: bind: address already in use")

type env struct {
	t   *testing.T
	cp  *controlplane.ControlPlane
	dp  *fakeDP
	srv *httptest.Server
	dir string
	// token is sent as X-Auth-Token when set.
	token string
	// base overrides srv's URL.
	base string
}

// newEnv starts a control plane on dir (a fresh temporary directory when
// empty) behind an open API, seeded with file (may be nil).
func newEnv(t *testing.T, dir string, file *octavia.Config) *env {
	return newEnvAuth(t, dir, file, auth.Open{})
}

// newEnvAuth is newEnv with an authenticator of the test's choosing.
func newEnvAuth(t *testing.T, dir string, file *octavia.Config, authn auth.Authenticator) *env {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	dp := &fakeDP{stats: map[string]octavia.Stats{}}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	cp, err := controlplane.New(controlplane.Options{StateDir: dir, VIPAddress: "127.0.0.1", Auth: authn}, dp, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cp.Close() })
	if file == nil {
		file = &octavia.Config{}
	}
	if err := cp.SetFileConfig(context.Background(), file); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(cp.Handler())
	t.Cleanup(srv.Close)
	return &env{t: t, cp: cp, dp: dp, srv: srv, dir: dir}
}

// do sends a request and decodes the JSON answer (nil for an empty body).
func (e *env) do(method, path string, body any) (int, map[string]any) {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(data)
	}
	base := e.base
	if base == "" {
		base = e.srv.URL
	}
	req, err := http.NewRequest(method, base+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if e.token != "" {
		req.Header.Set("X-Auth-Token", e.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return resp.StatusCode, nil
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		e.t.Fatalf("%s %s: answer is not a JSON object: %v: %s", method, path, err, data)
	}
	return resp.StatusCode, m
}

// must sends a request that must answer want, and returns the object in
// the answer's envelope (or the whole answer when envelope is "").
func (e *env) must(want int, method, path string, body any, envelope string) map[string]any {
	e.t.Helper()
	code, m := e.do(method, path, body)
	if code != want {
		e.t.Fatalf("%s %s: status %d, want %d: %v", method, path, code, want, m)
	}
	if envelope == "" {
		return m
	}
	obj, ok := m[envelope].(map[string]any)
	if !ok {
		e.t.Fatalf("%s %s: no %q object in %v", method, path, envelope, m)
	}
	return obj
}

// fault checks an error answer: status, WSME's body keys, and that the
// faultstring contains want.
func (e *env) fault(wantCode int, want, method, path string, body any) {
	e.t.Helper()
	code, m := e.do(method, path, body)
	if code != wantCode {
		e.t.Fatalf("%s %s: status %d, want %d: %v", method, path, code, wantCode, m)
	}
	fs, _ := m["faultstring"].(string)
	if _, ok := m["faultcode"]; !ok || !strings.Contains(fs, want) {
		e.t.Fatalf("%s %s: fault %v, want faultcode and a faultstring containing %q", method, path, m, want)
	}
	if _, ok := m["debuginfo"]; !ok {
		e.t.Fatalf("%s %s: fault %v has no debuginfo", method, path, m)
	}
}

const subnet = "8ced0346-1b20-4993-b175-66a23fc579f3"

func lbBody(name string) map[string]any {
	return map[string]any{"loadbalancer": map[string]any{"name": name, "vip_subnet_id": subnet}}
}

// fullLB is the tutorial's load balancer in one call.
func fullLB(name string, port int) map[string]any {
	return map[string]any{"loadbalancer": map[string]any{
		"name": name, "vip_subnet_id": subnet,
		"listeners": []any{map[string]any{
			"name": "listener1", "protocol": "HTTP", "protocol_port": port,
			"default_pool": map[string]any{
				"name": "pool1", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
				"healthmonitor": map[string]any{"type": "HTTP", "delay": 5, "timeout": 10, "max_retries": 4},
				"members": []any{
					map[string]any{"address": "127.0.0.11", "protocol_port": 8081},
					map[string]any{"address": "127.0.0.12", "protocol_port": 8082},
				},
			},
		}},
	}}
}

func str(m map[string]any, k string) string {
	s, _ := m[k].(string)
	return s
}
