// Package demo is the web server lbd's tests, `make run` and the benchmarks
// put behind the load balancer: it answers like the tutorial's httpd
// ("Hello World!" and which server answered) with optional latency, error
// rate, capacity limit and a health endpoint that can be switched off.
//
// It must not import any lbd package: it stands in for the members lbd
// forwards to and sees lbd only from the outside.
package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Options shape a demo backend's behaviour.
type Options struct {
	Name string // reported in every answer
	// Latency is added to every answer to "/" (its median for the
	// distributions that have one).
	Latency time.Duration
	// Distribution of the added latency: "fixed" (default), "uniform"
	// (Latency ± Spread), "exponential" (mean Latency), "lognormal"
	// (median Latency, sigma Spread/Latency).
	Distribution string
	Spread       time.Duration
	// ErrorRate is the fraction of answers to "/" that are 500.
	ErrorRate float64
	// MaxInFlight, when positive, makes requests beyond it wait for a slot,
	// like a server with a fixed worker count.
	MaxInFlight int
	// HealthPath answers 200, or 503 after a POST to HealthPath+"/down"
	// (and 200 again after HealthPath+"/up"). Default "/health".
	HealthPath string
}

// Backend is a running demo web server.
type Backend struct {
	opts      Options
	srv       *http.Server
	ln        net.Listener
	healthy   atomic.Bool
	served    atomic.Uint64
	inFlight  atomic.Int64
	peak      atomic.Int64
	slots     chan struct{}
	errRate   atomic.Uint64 // math.Float64bits of the current error rate
	stopWatch func() bool   // stops closing on ctx's end
	rngMu     sync.Mutex
	rng       *rand.Rand
}

// Start listens on addr and serves until ctx is done or Close is called.
func Start(ctx context.Context, addr string, opts Options, log *slog.Logger) (*Backend, error) {
	if opts.HealthPath == "" {
		opts.HealthPath = "/health"
	}
	if opts.Distribution == "" {
		opts.Distribution = "fixed"
	}
	switch opts.Distribution {
	case "fixed", "uniform", "exponential", "lognormal":
	default:
		return nil, fmt.Errorf("latency distribution %q: must be fixed, uniform, exponential or lognormal", opts.Distribution)
	}
	if opts.ErrorRate < 0 || opts.ErrorRate > 1 {
		return nil, fmt.Errorf("error rate %v: must be between 0 and 1", opts.ErrorRate)
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("demo backend %s: %w", opts.Name, err)
	}
	b := &Backend{opts: opts, ln: ln, rng: rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))}
	if opts.MaxInFlight > 0 {
		b.slots = make(chan struct{}, opts.MaxInFlight)
	}
	b.healthy.Store(true)
	b.errRate.Store(math.Float64bits(opts.ErrorRate))
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+opts.HealthPath, b.health)
	mux.HandleFunc("HEAD "+opts.HealthPath, b.health)
	mux.HandleFunc("POST "+opts.HealthPath+"/down", func(w http.ResponseWriter, r *http.Request) { b.healthy.Store(false) })
	mux.HandleFunc("POST "+opts.HealthPath+"/up", func(w http.ResponseWriter, r *http.Request) { b.healthy.Store(true) })
	mux.HandleFunc("/echo", b.echo)
	mux.HandleFunc("/headers", b.headers)
	mux.HandleFunc("/bytes/{n}", b.bytes)
	mux.HandleFunc("/ws", b.websocket)
	mux.HandleFunc("/", b.hello)
	b.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug)}
	go b.srv.Serve(ln)
	// No goroutine waits for ctx: a backend closed first leaves nothing behind.
	b.stopWatch = context.AfterFunc(ctx, func() { b.srv.Close() })
	return b, nil
}

// Addr is where the backend listens.
func (b *Backend) Addr() string { return b.ln.Addr().String() }

// Served counts the answers to "/" so far.
func (b *Backend) Served() uint64 { return b.served.Load() }

// PeakInFlight is the most requests to "/" handled at once.
func (b *Backend) PeakInFlight() int64 { return b.peak.Load() }

// SetHealthy switches the health endpoint's answer.
func (b *Backend) SetHealthy(up bool) { b.healthy.Store(up) }

// SetErrorRate changes the fraction of answers to "/" that are 500, as a
// server that starts failing (or recovers) mid-run would. Values are clamped
// to [0, 1].
func (b *Backend) SetErrorRate(r float64) {
	b.errRate.Store(math.Float64bits(min(max(r, 0), 1)))
}

// Close stops the backend at once, cutting open connections.
func (b *Backend) Close() error {
	b.stopWatch()
	return b.srv.Close()
}

func (b *Backend) health(w http.ResponseWriter, r *http.Request) {
	if !b.healthy.Load() {
		http.Error(w, "unhealthy", http.StatusServiceUnavailable)
		return
	}
	io.WriteString(w, "OK\n")
}

func (b *Backend) hello(w http.ResponseWriter, r *http.Request) {
	if b.slots != nil {
		select {
		case b.slots <- struct{}{}:
			defer func() { <-b.slots }()
		case <-r.Context().Done():
			return
		}
	}
	n := b.inFlight.Add(1)
	defer b.inFlight.Add(-1)
	for p := b.peak.Load(); n > p && !b.peak.CompareAndSwap(p, n); p = b.peak.Load() {
	}
	if d := b.latency(); d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	b.served.Add(1)
	w.Header().Set("X-Backend", b.opts.Name)
	if r := math.Float64frombits(b.errRate.Load()); r > 0 && b.random() < r {
		http.Error(w, "Internal Server Error from "+b.opts.Name, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	io.WriteString(w, "Hello World! from "+b.opts.Name+"\n")
}

func (b *Backend) random() float64 {
	b.rngMu.Lock()
	defer b.rngMu.Unlock()
	return b.rng.Float64()
}

func (b *Backend) latency() time.Duration {
	o := b.opts
	if o.Latency <= 0 {
		return 0
	}
	switch o.Distribution {
	case "uniform":
		return o.Latency - o.Spread + time.Duration(b.random()*float64(2*o.Spread))
	case "exponential":
		return time.Duration(-math.Log(1-b.random()) * float64(o.Latency))
	case "lognormal":
		sigma := float64(o.Spread) / float64(o.Latency)
		b.rngMu.Lock()
		z := b.rng.NormFloat64()
		b.rngMu.Unlock()
		return time.Duration(float64(o.Latency) * math.Exp(sigma*z))
	}
	return o.Latency
}

// echo returns the request body unchanged, streaming it back as it arrives.
func (b *Backend) echo(w http.ResponseWriter, r *http.Request) {
	http.NewResponseController(w).EnableFullDuplex()
	w.Header().Set("X-Backend", b.opts.Name)
	if r.ContentLength >= 0 {
		w.Header().Set("Content-Length", strconv.FormatInt(r.ContentLength, 10))
	}
	io.Copy(w, r.Body)
}

// headers lists the request's method, target and fields as received.
func (b *Backend) headers(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Backend", b.opts.Name)
	fmt.Fprintf(w, "%s %s %s\nHost: %s\n", r.Method, r.RequestURI, r.Proto, r.Host)
	if err := r.Header.Write(w); err != nil {
		return
	}
}

// bytes answers n bytes of a repeating pattern.
func (b *Backend) bytes(w http.ResponseWriter, r *http.Request) {
	n, err := strconv.ParseInt(r.PathValue("n"), 10, 64)
	if err != nil || n < 0 || n > 1<<32 {
		http.Error(w, "bad length", http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Length", strconv.FormatInt(n, 10))
	buf := make([]byte, 32<<10)
	for i := range buf {
		buf[i] = byte('a' + i%26)
	}
	for n > 0 {
		k := min(n, int64(len(buf)))
		if _, err := w.Write(buf[:k]); err != nil {
			return
		}
		n -= k
	}
}

var errNotWebSocket = errors.New("not a websocket upgrade")
