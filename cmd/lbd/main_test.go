package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"lbd/internal/demo"
)

var (
	buildOnce sync.Once
	lbdBin    string
	buildErr  error
)

// binary builds lbd once for the tests that run it as a process; with
// LBD_TEST_BINARY set they run that binary instead (make soak's figures
// before and after a change).
func binary(t *testing.T) string {
	t.Helper()
	if bin := os.Getenv("LBD_TEST_BINARY"); bin != "" {
		return bin
	}
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "lbd-test-bin")
		if err != nil {
			buildErr = err
			return
		}
		lbdBin = filepath.Join(dir, "lbd")
		out, err := exec.Command("go", "build", "-o", lbdBin, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return lbdBin
}

// isolated adds to lbd's arguments what keeps a test's lbd to itself: its
// own state directory, no API and an admin server on a free port, unless
// the arguments set them; and no access log, which would fill the test's
// copy of stderr, unless the arguments name one.
func isolated(t *testing.T, args ...string) []string {
	has := func(flag string) bool {
		for _, a := range args {
			if a == flag || strings.HasPrefix(a, flag+"=") {
				return true
			}
		}
		return false
	}
	if !has("--state-dir") {
		args = append(args, "--state-dir", filepath.Join(t.TempDir(), "state"))
	}
	if !has("--api-addr") {
		args = append(args, "--api-addr", "")
	}
	if !has("--admin-addr") {
		args = append(args, "--admin-addr", "127.0.0.1:0")
	}
	if !has("--connection-logging") && !has("--access-log") {
		args = append(args, "--connection-logging=false")
	}
	return args
}

// handedOut holds the ports freePort has given in this test binary: the
// kernel may give a port just closed again, and one test's two ports were
// once the same (its listener's and lbd's admin server's).
var handedOut sync.Map

// freePort is a loopback port free now, never one it gave before.
func freePort(t testing.TB) int {
	for {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		if _, given := handedOut.LoadOrStore(port, true); !given {
			return port
		}
	}
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func writeConfig(t *testing.T, path string, port int, backend string) {
	_, bport, _ := net.SplitHostPort(backend)
	cfg := fmt.Sprintf(`loadbalancers:
  - name: lb1
    vip_address: 127.0.0.1
    listeners:
      - name: listener1
        protocol: HTTP
        protocol_port: %d
        default_pool:
          name: pool1
          protocol: HTTP
          lb_algorithm: ROUND_ROBIN
          members: [{address: 127.0.0.1, protocol_port: %s}]
`, port, bport)
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
}

func waitServing(t *testing.T, url string) {
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s never answered", url)
}

// TestSIGTERMDrainsInFlight: a slow request in flight when SIGTERM arrives
// completes, then lbd exits 0.
func TestSIGTERMDrainsInFlight(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	slow, err := demo.Start(ctx, "127.0.0.1:0", demo.Options{Name: "slow", Latency: time.Second}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "lbd.yaml")
	port := freePort(t)
	writeConfig(t, cfgPath, port, slow.Addr())
	var logs syncBuffer
	cmd := exec.Command(binary(t), isolated(t, "--config", cfgPath)...)
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	waitServing(t, url+"health") // the health endpoint answers at once, "/" takes a second

	type result struct {
		body string
		err  error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := http.Get(url)
		if err != nil {
			done <- result{err: err}
			return
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		done <- result{string(b), err}
	}()
	deadline := time.Now().Add(10 * time.Second)
	for slow.PeakInFlight() == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.err != nil || !strings.Contains(r.body, "Hello World! from slow") {
		t.Fatalf("in-flight request during SIGTERM: %q, %v\nlogs:\n%s", r.body, r.err, logs.String())
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("lbd exited with %v after SIGTERM\nlogs:\n%s", err, logs.String())
	}
	if !strings.Contains(logs.String(), `"msg":"lbd stopped"`) {
		t.Errorf("no stop log line:\n%s", logs.String())
	}
}

// TestBadConfigExitsNonZero: lbd refuses to start on an invalid file and
// prints every problem.
func TestBadConfigExitsNonZero(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(path, []byte("loadbalancers:\n  - listeners:\n      - {protocol: HTTP, protocol_port: 99999}\n"), 0o644)
	out, err := exec.Command(binary(t), isolated(t, "--config", path)...).CombinedOutput()
	if err == nil {
		t.Fatalf("lbd started with a bad config:\n%s", out)
	}
	for _, want := range []string{"bad.yaml:3", "protocol_port: 99999: must be between 1 and 65535"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// TestSIGHUPReload: a valid edit is applied live; an invalid one is refused
// with a log line while the running config keeps serving.
func TestSIGHUPReload(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a, _ := demo.Start(ctx, "127.0.0.1:0", demo.Options{Name: "a"}, slog.New(slog.DiscardHandler))
	b, _ := demo.Start(ctx, "127.0.0.1:0", demo.Options{Name: "b"}, slog.New(slog.DiscardHandler))
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "lbd.yaml")
	port := freePort(t)
	writeConfig(t, cfgPath, port, a.Addr())
	var logs syncBuffer
	cmd := exec.Command(binary(t), isolated(t, "--config", cfgPath)...)
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() }()
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	waitServing(t, url)
	answer := func() string {
		resp, err := http.Get(url)
		if err != nil {
			return err.Error()
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return string(body)
	}
	if got := answer(); !strings.Contains(got, "from a") {
		t.Fatalf("before reload: %q", got)
	}
	writeConfig(t, cfgPath, port, b.Addr())
	cmd.Process.Signal(syscall.SIGHUP)
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(answer(), "from b") {
		if time.Now().After(deadline) {
			t.Fatalf("reload not applied; logs:\n%s", logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	os.WriteFile(cfgPath, []byte("loadbalancers: [{listeners: [{protocol: FTP}]}]\n"), 0o644)
	cmd.Process.Signal(syscall.SIGHUP)
	for !strings.Contains(logs.String(), "reload refused") {
		if time.Now().After(deadline) {
			t.Fatalf("bad reload not reported; logs:\n%s", logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := answer(); !strings.Contains(got, "from b") {
		t.Fatalf("after a refused reload lbd answered %q", got)
	}
}
