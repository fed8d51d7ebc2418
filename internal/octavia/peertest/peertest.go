// Package peertest starts, for tests, the real OpenStack services of
// shared/peers (Keystone, Neutron, Octavia with its worker, Nova with a fake
// hypervisor, Glance, Placement) on loopback, through
// scripts/openstack-peer.sh. Only tests import it.
//
// It must not import any lbd package.
package peertest

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// SkipEnv is the variable that, set to 1, skips the tests needing the peer.
const SkipEnv = "LBD_SKIP_OPENSTACK"

// Cloud is the peer's cloud in its clouds.yaml: every service from the
// catalog.
const Cloud = "peer"

// State is the peer's state directory.
func State() string {
	if s := os.Getenv("OPENSTACK_PEER_STATE"); s != "" {
		return s
	}
	return "/tmp/openstack-peer"
}

var skipReason string

// Main starts the peer unless SkipEnv is set (it is idempotent and quick
// when the peer runs), points OS_CLIENT_CONFIG_FILE at its clouds.yaml and
// runs the tests. The peer is left running for the next package; stop it
// with `scripts/openstack-peer.sh down`.
func Main(m *testing.M) {
	if os.Getenv(SkipEnv) == "1" {
		skipReason = SkipEnv + "=1: tests against the real OpenStack peer are skipped"
		os.Exit(m.Run())
	}
	start := time.Now()
	cmd := exec.Command(script(), "up")
	var log strings.Builder
	cmd.Stdout, cmd.Stderr = &log, &log
	fmt.Fprintln(os.Stderr, "peertest: starting the OpenStack peer (scripts/openstack-peer.sh up; the first time installs packages, ~5 min)")
	if err := cmd.Run(); err != nil {
		fmt.Fprintf(os.Stderr, "peertest: scripts/openstack-peer.sh up: %v\n%s\npeertest: set %s=1 to skip the tests that need it\n", err, log.String(), SkipEnv)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "peertest: OpenStack peer ready in %s\n", time.Since(start).Round(time.Second))
	os.Setenv("OS_CLIENT_CONFIG_FILE", filepath.Join(State(), "clouds.yaml"))
	os.Unsetenv("OS_CLOUD")
	os.Exit(m.Run())
}

// Need skips the test when the peer was not started. Otherwise it waits
// for, and holds until the test ends, an exclusive lock shared by every test
// process: the peer's services keep their state in SQLite, which fails
// concurrent writers ("database is locked", even inside Octavia's worker,
// leaving a load balancer in ERROR), so tests take turns.
func Need(t testing.TB) {
	t.Helper()
	if skipReason != "" {
		t.Skip(skipReason)
	}
	f, err := os.OpenFile(State()+".tests.lock", os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatalf("peer test lock: %v", err)
	}
	start := time.Now()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		t.Fatalf("peer test lock: %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Logf("waited %s for other tests using the peer", d.Round(time.Second))
	}
	t.Cleanup(func() { f.Close() }) // closing releases the lock
}

// script is scripts/openstack-peer.sh of this repository.
func script() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..", "scripts", "openstack-peer.sh")
}

// Suffix returns a name suffix unique to this test run, so that tests sharing
// the peer (other packages, other runs) never touch each other's resources.
func Suffix() string {
	b := make([]byte, 3)
	rand.Read(b)
	return "-t" + hex.EncodeToString(b)
}

// Recorder is an http.RoundTripper wrapper that records every request, so a
// test can assert which calls were made (or that none changed anything).
type Recorder struct {
	mu    sync.Mutex
	calls []Call
}

// Call is one recorded request and its answer.
type Call struct {
	Method, Path string
	Status       int
}

func (c Call) String() string { return fmt.Sprintf("%s %s → %d", c.Method, c.Path, c.Status) }

// Wrap returns rt with recording.
func (r *Recorder) Wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripper(func(req *http.Request) (*http.Response, error) {
		resp, err := rt.RoundTrip(req)
		c := Call{Method: req.Method, Path: req.URL.Path}
		if resp != nil {
			c.Status = resp.StatusCode
		}
		r.mu.Lock()
		r.calls = append(r.calls, c)
		r.mu.Unlock()
		return resp, err
	})
}

// Reset forgets what was recorded.
func (r *Recorder) Reset() {
	r.mu.Lock()
	r.calls = nil
	r.mu.Unlock()
}

// Calls returns what was recorded.
func (r *Recorder) Calls() []Call {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Call(nil), r.calls...)
}

// Mutations returns the recorded calls that may change something: every
// method but GET and HEAD, except logging in to Keystone.
func (r *Recorder) Mutations() []Call {
	var out []Call
	for _, c := range r.Calls() {
		if c.Method == http.MethodGet || c.Method == http.MethodHead || strings.HasSuffix(c.Path, "/auth/tokens") {
			continue
		}
		out = append(out, c)
	}
	return out
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

// KeystoneURL is the peer's Keystone v3 endpoint.
const KeystoneURL = "http://127.0.0.1:5000/v3"

// AdminToken logs in to the peer's Keystone as its admin (project admin)
// and returns the token.
func AdminToken(t testing.TB) string {
	t.Helper()
	body := `{"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": "admin",
		"domain": {"name": "Default"}, "password": "secret"}}}, "scope": {"project": {"name": "admin",
		"domain": {"name": "Default"}}}}}`
	resp, err := http.Post(KeystoneURL+"/auth/tokens", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatalf("peer login: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("peer login: %s", resp.Status)
	}
	return resp.Header.Get("X-Subject-Token")
}
