// Package autoscaletest runs, for the autoscaler's end-to-end tests, the
// real parts around it: lbd and lbctl built from this repository, lbd as a
// process, a real Prometheus (Debian's) scraping it on loopback, and an
// open-loop load whose rate a test turns up and down. Only tests import it.
//
// It must not import the data plane, the control plane or lbd's metrics:
// it sees lbd from the outside, as a user does.
package autoscaletest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"lbd/internal/loadgen"
)

// root is the repository's top.
func root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..")
}

// Build builds ./cmd/NAME into a temporary directory and returns the
// binary's path.
func Build(t testing.TB, name string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), name)
	cmd := exec.Command("go", "build", "-o", out, "./cmd/"+name)
	cmd.Dir = root()
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/%s: %v\n%s", name, err, msg)
	}
	return out
}

// FreePort returns a free TCP port on 127.0.0.1.
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// DieWithTest makes a child process get SIGKILL if the test process dies
// without its cleanups (a timeout's panic): an lbd left behind would keep
// probing its members.
func DieWithTest() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

// Buffer is a log sink safe for concurrent writers.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// LBD is a running lbd process with an empty config: load balancers come
// through its API.
type LBD struct {
	API   string // http://127.0.0.1:PORT
	Admin string // host:port of /metrics
	Logs  *Buffer
	cmd   *exec.Cmd
}

// StartLBD runs the lbd binary with its API and admin server on free
// loopback ports until the test ends; extra flags are appended.
func StartLBD(t testing.TB, bin string, extra ...string) *LBD {
	t.Helper()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "lbd.yaml")
	if err := os.WriteFile(cfg, []byte("loadbalancers: []\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	l := &LBD{API: fmt.Sprintf("http://127.0.0.1:%d", FreePort(t)), Admin: fmt.Sprintf("127.0.0.1:%d", FreePort(t)), Logs: &Buffer{}}
	args := append([]string{"--config", cfg, "--state-dir", filepath.Join(dir, "state"), "--api-addr", strings.TrimPrefix(l.API, "http://"),
		"--admin-addr", l.Admin, "--log-level", "warn"}, extra...)
	l.cmd = exec.Command(bin, args...)
	l.cmd.Stdout, l.cmd.Stderr = l.Logs, l.Logs
	l.cmd.SysProcAttr = DieWithTest()
	if err := l.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.cmd.Process.Signal(syscall.SIGTERM); l.cmd.Wait() })
	WaitHTTP(t, l.API+"/", 15*time.Second, func() string { return l.Logs.String() })
	return l
}

// WaitHTTP waits until url answers 200.
func WaitHTTP(t testing.TB, url string, within time.Duration, logs func() string) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never answered 200 (%v)\n%s", url, err, logs())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Prometheus is a real Prometheus server on loopback, scraping its targets
// every Interval; Stop and Start stop and start it again on the same port
// and data.
type Prometheus struct {
	URL      string
	Logs     *Buffer
	bin, dir string
	port     int
	cmd      *exec.Cmd
	t        testing.TB
}

// StartPrometheus starts Debian's prometheus binary (make test installs
// it; LBD_SKIP_PROMETHEUS=1 skips the test without it) scraping targets
// (host:port of /metrics) every interval.
func StartPrometheus(t testing.TB, interval time.Duration, targets ...string) *Prometheus {
	t.Helper()
	bin, err := exec.LookPath("prometheus")
	if err != nil {
		if os.Getenv("LBD_SKIP_PROMETHEUS") == "1" {
			t.Skip("prometheus not installed and LBD_SKIP_PROMETHEUS=1")
		}
		t.Fatal("prometheus not found: install Debian's prometheus package (make test does)")
	}
	p := &Prometheus{bin: bin, dir: t.TempDir(), port: FreePort(t), Logs: &Buffer{}, t: t}
	p.URL = fmt.Sprintf("http://127.0.0.1:%d", p.port)
	quoted := make([]string, len(targets))
	for i, tg := range targets {
		quoted[i] = fmt.Sprintf("%q", tg)
	}
	cfg := fmt.Sprintf("global: {scrape_interval: %s, evaluation_interval: %s}\nscrape_configs:\n  - job_name: lbd\n    static_configs: [{targets: [%s]}]\n",
		interval, interval, strings.Join(quoted, ", "))
	if err := os.WriteFile(filepath.Join(p.dir, "prometheus.yml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	p.Start()
	t.Cleanup(p.Stop)
	return p
}

// Start starts Prometheus (again) and waits until it is ready.
func (p *Prometheus) Start() {
	p.t.Helper()
	p.cmd = exec.Command(p.bin, "--config.file="+filepath.Join(p.dir, "prometheus.yml"), "--storage.tsdb.path="+filepath.Join(p.dir, "data"),
		fmt.Sprintf("--web.listen-address=127.0.0.1:%d", p.port), "--log.level=warn")
	p.cmd.Stdout, p.cmd.Stderr = p.Logs, p.Logs
	p.cmd.SysProcAttr = DieWithTest()
	if err := p.cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	WaitHTTP(p.t, p.URL+"/-/ready", 30*time.Second, p.Logs.String)
}

// Stop stops Prometheus; a stopped one stays stopped.
func (p *Prometheus) Stop() {
	if p.cmd == nil {
		return
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	p.cmd.Wait()
	p.cmd = nil
}

// Load is an open-loop load whose rate can change while it runs, in
// chunks of Chunk, with every outcome in a Timeline (times from Start).
type Load struct {
	Timeline loadgen.Timeline
	Start    time.Time
	rate     atomic.Uint64 // requests per second ×1000
	cancel   context.CancelFunc
	done     chan struct{}
}

// StartLoad sends GET / to addr at rate until the test ends or Stop.
func StartLoad(t testing.TB, addr string, rate float64) *Load {
	ctx, cancel := context.WithCancel(context.Background())
	l := &Load{Start: time.Now(), cancel: cancel, done: make(chan struct{})}
	l.SetRate(rate)
	gen := loadgen.Open{Target: loadgen.Target{Addr: addr, Clients: 4, Timeout: 10 * time.Second}, ConnsPerClient: 32}
	go func() {
		defer close(l.done)
		for ctx.Err() == nil {
			gen.Steps(ctx, l.Start, []loadgen.Step{{Rate: l.Rate(), For: 500 * time.Millisecond}}, &l.Timeline)
		}
	}()
	t.Cleanup(l.Stop)
	return l
}

// SetRate changes the rate from the next chunk on.
func (l *Load) SetRate(r float64) { l.rate.Store(uint64(r * 1000)) }

// Rate is the current rate.
func (l *Load) Rate() float64 { return float64(l.rate.Load()) / 1000 }

// Since is the time into the load.
func (l *Load) Since() time.Duration { return time.Since(l.Start) }

// Stop stops the load and waits for the answers in flight.
func (l *Load) Stop() {
	l.cancel()
	<-l.done
}

// FailedBetween returns the failures of requests due between from and to
// (times into the load).
func (l *Load) FailedBetween(from, to time.Duration) []loadgen.Outcome {
	var out []loadgen.Outcome
	for _, f := range l.Timeline.Failures() {
		if f.Due >= from && f.Due < to {
			out = append(out, f)
		}
	}
	return out
}
