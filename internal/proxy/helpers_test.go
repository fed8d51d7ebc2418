package proxy

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"text/template"
	"time"

	"lbd/internal/demo"
	"lbd/internal/octavia"
	"lbd/internal/proxy/evloop"
)

func testLogger(t testing.TB) *slog.Logger {
	level := slog.LevelWarn
	if os.Getenv("LBD_TEST_DEBUG") != "" {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: level}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func startBackend(t testing.TB, name string, opts demo.Options) *demo.Backend {
	t.Helper()
	opts.Name = name
	ctx, cancel := context.WithCancel(context.Background())
	b, err := demo.Start(ctx, "127.0.0.1:0", opts, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); b.Close() })
	return b
}

func port(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}

// config renders a YAML config template and loads it as lbd would.
func config(t testing.TB, tmpl string, data any) *octavia.Config {
	t.Helper()
	var buf bytes.Buffer
	if err := template.Must(template.New("cfg").Funcs(template.FuncMap{"port": port}).Parse(tmpl)).Execute(&buf, data); err != nil {
		t.Fatal(err)
	}
	cfg, err := octavia.Parse("test.yaml", buf.Bytes())
	if err != nil {
		t.Fatalf("config: %v\n%s", err, buf.String())
	}
	return cfg
}

// goroutinesOnly reports whether the tests run without the event loops
// (LBD_TEST_EVENT_LOOP=off; make test runs this package both ways), so that
// every HTTP case passes through both engines.
func goroutinesOnly() bool { return os.Getenv("LBD_TEST_EVENT_LOOP") == "off" }

// needEventLoop skips a test about the event loop when it is off.
func needEventLoop(t *testing.T) {
	if goroutinesOnly() {
		t.Skip("LBD_TEST_EVENT_LOOP=off")
	}
}

func startRuntime(t testing.TB, cfg *octavia.Config) *Runtime {
	t.Helper()
	opts := Options{DrainTimeout: 5 * time.Second, NoEventLoop: goroutinesOnly()}
	if !opts.NoEventLoop {
		loopThread(t, &opts)
	}
	rt := New(testLogger(t), opts)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		rt.Shutdown(ctx)
	})
	if err := rt.Apply(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	return rt
}

// loopThread gives the runtime opts configure one event loop on a thread
// of its own, as lbd runs its loops, and adds a P for it until the test
// ends (after the runtime's shutdown, if that is cleaned up later).
func loopThread(t testing.TB, opts *Options) {
	n := runtime.GOMAXPROCS(0)
	runtime.GOMAXPROCS(n + 1)
	t.Cleanup(func() { runtime.GOMAXPROCS(n) })
	opts.EventLoops, opts.LoopThreads, opts.LoopLinger = 1, true, evloop.DefaultLinger
}

// get fetches url and returns status and body.
func get(t *testing.T, c *http.Client, url string) (int, string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s body: %v", url, err)
	}
	return resp.StatusCode, string(b)
}

// clientFrom returns an HTTP client whose connections come from the given
// loopback source address.
func clientFrom(src string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	return &http.Client{Transport: &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: 16}, Timeout: 10 * time.Second}
}

// rawRequest sends raw bytes on a new connection and returns everything the
// proxy answers until it closes the connection or a second passes quietly.
func rawRequest(t *testing.T, addr, req string) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	b, _ := io.ReadAll(c)
	return string(b)
}

func backendName(body string) string {
	return strings.TrimSpace(strings.TrimPrefix(body, "Hello World! from "))
}

func mustf(t *testing.T, ok bool, format string, args ...any) {
	t.Helper()
	if !ok {
		t.Fatalf(format, args...)
	}
}

var _ = fmt.Sprintf

// rawMember starts a TCP server on loopback that runs handle on each
// connection it accepts, then closes it. It returns the address and the
// number of connections accepted so far; it stops when the test ends.
func rawMember(t testing.TB, handle func(net.Conn)) (string, *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var n atomic.Int64
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			n.Add(1)
			go func() {
				defer c.Close()
				handle(c)
			}()
		}
	}()
	return ln.Addr().String(), &n
}
