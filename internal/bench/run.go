package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"runtime"
	"sync"
	"time"

	"lbd/internal/demo"
	"lbd/internal/octavia"
)

// DataPlane names how lbd runs during a benchmark.
const DataPlane = "lbd as a child process (the daemon itself, reloaded by SIGHUP), sampled over its admin server's /debug/members"

// Options tune Run.
type Options struct {
	// Log receives the backends' logs. Required.
	Log *slog.Logger
	// LBD is the lbd binary to run (see FindLBD). Required.
	LBD string
	// LBDLog, when set, gets lbd's own log (warnings and errors); lbd's
	// last lines are part of the error when it fails either way.
	LBDLog io.Writer
	// Progress, when set, gets a one-line progress indicator rewritten in
	// place (carriage returns): give it a terminal.
	Progress io.Writer
}

// Run benchmarks each of the scenario's algorithms in turn and returns
// the report. Every run gets fresh backends and a fresh data plane.
func Run(ctx context.Context, s *Scenario, opts Options) (*Report, error) {
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("scenario %s: %w", s.Name, err)
	}
	rep := newReport(s)
	for i, alg := range s.Algorithms {
		runtime.GC() // do not bill the previous run's garbage to this one
		res, err := runOne(ctx, s, alg, opts, fmt.Sprintf("[%d/%d] %s", i+1, len(s.Algorithms), alg))
		if err != nil {
			return nil, fmt.Errorf("run %s: %w", alg, err)
		}
		rep.Runs = append(rep.Runs, res)
	}
	return rep, nil
}

func newReport(s *Scenario) *Report {
	rep := &Report{
		Scenario:    s.Name,
		Description: s.Description,
		Mode:        "open-loop",
		Rate:        s.Rate,
		Concurrency: s.Concurrency,
		Clients:     s.Clients,
		DurationS:   s.Duration.Seconds(),
		DataPlane:   DataPlane,
		Host: Host{
			CPUs:      runtime.NumCPU(),
			GoVersion: runtime.Version(),
			Started:   time.Now().UTC().Format(time.RFC3339),
		},
	}
	if s.Concurrency > 0 {
		rep.Mode = "closed-loop"
	}
	if h := s.HealthMonitor; h != nil {
		rep.HealthMonitor = fmt.Sprintf("%s every %ds, timeout %ds, up after %d, down after %d",
			h.Type, octavia.IntOr(h.Delay, 0), octavia.IntOr(h.Timeout, 0), h.MaxRetries, octavia.IntOr(h.MaxRetriesDown, 3))
	}
	for _, m := range s.Members {
		rep.Members = append(rep.Members, MemberSpec{
			Name: m.Name, Weight: m.Weight, LatencyMS: ms(int64(m.Latency)), Distribution: m.Distribution,
			SpreadMS: ms(int64(m.Spread)), ErrorRate: m.ErrorRate, MaxInFlight: m.MaxInFlight,
		})
	}
	for _, e := range s.Events {
		rep.Events = append(rep.Events, EventSpec{AtS: e.At.In(s.Duration).Seconds(), Member: e.Member, Action: e.Action})
	}
	return rep
}

// bed is one run's test bed: the backends and lbd in front of them.
type bed struct {
	s        *Scenario
	alg      octavia.Algorithm
	backends []*demo.Backend
	ports    []int
	port     int
	dir      string
	lbd      *lbdProc
	samp     *sampler
	mu       sync.Mutex // serializes reloads
	state    *poolState
}

func startBed(ctx context.Context, s *Scenario, alg octavia.Algorithm, opts Options) (*bed, error) {
	if opts.LBD == "" {
		return nil, errors.New("no lbd binary (Options.LBD)")
	}
	b := &bed{s: s, alg: alg, state: newPoolState(s)}
	for _, m := range s.Members {
		be, err := demo.Start(ctx, "127.0.0.1:0", demo.Options{
			Name: m.Name, Latency: m.Latency, Distribution: m.Distribution, Spread: m.Spread,
			ErrorRate: m.ErrorRate, MaxInFlight: m.MaxInFlight,
		}, opts.Log)
		if err != nil {
			b.close()
			return nil, err
		}
		b.backends = append(b.backends, be)
		ap, err := netip.ParseAddrPort(be.Addr())
		if err != nil {
			b.close()
			return nil, fmt.Errorf("backend %s address: %w", m.Name, err)
		}
		b.ports = append(b.ports, int(ap.Port()))
	}
	var err error
	if b.dir, err = os.MkdirTemp("", "lbctl-bench-"); err != nil {
		b.close()
		return nil, fmt.Errorf("lbd's config directory: %w", err)
	}
	// The listener's and admin server's ports are found by binding :0 and
	// letting go; another process may take one in between (lbd then exits
	// at start), so try a few.
	for range 5 {
		if err = b.startLBD(ctx, opts); err == nil {
			return b, nil
		}
		if ctx.Err() != nil {
			break
		}
	}
	b.close()
	return nil, err
}

// startLBD starts lbd on fresh ports and waits until it serves the pool.
func (b *bed) startLBD(ctx context.Context, opts Options) error {
	var admin int
	var err error
	if b.port, err = freePort(); err != nil {
		return err
	}
	if admin, err = freePort(); err != nil {
		return err
	}
	cfg, err := b.s.fileConfig(b.alg, b.port, b.ports, b.state)
	if err != nil {
		return err
	}
	if b.lbd, err = startLBD(ctx, opts.LBD, b.dir, cfg, admin, opts.LBDLog); err != nil {
		return err
	}
	b.samp = newSampler(b.lbd, b.s)
	if err = b.await(ctx, b.state); err != nil {
		b.lbd.stop()
		b.lbd = nil
	}
	return err
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// await waits until lbd serves the pool in state ps: the members present
// and absent, with their weights, as ps has them.
func (b *bed) await(ctx context.Context, ps *poolState) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	t := time.NewTicker(2 * time.Millisecond)
	defer t.Stop()
	for {
		ms, err := b.samp.sample(ctx)
		if err == nil && b.serves(ms, ps) {
			return nil
		}
		select {
		case <-ctx.Done():
			if err == nil {
				err = errors.New("lbd did not take the configuration")
			}
			return fmt.Errorf("waiting for lbd on 127.0.0.1:%d: %w", b.port, b.lbd.exited(err))
		case <-b.lbd.done:
			return fmt.Errorf("lbd on 127.0.0.1:%d: %w", b.port, b.lbd.exited(errors.New("it stopped")))
		case <-t.C:
		}
	}
}

// serves reports whether lbd's members are those of ps.
func (b *bed) serves(ms []memberLoad, ps *poolState) bool {
	want := 0
	for i, sm := range b.s.Members {
		if ps.absent[i] {
			continue
		}
		want++
		found := false
		for _, m := range ms {
			if m.ID == memberID(sm.Name) {
				found = m.Weight == ps.weight[i]
			}
		}
		if !found {
			return false
		}
	}
	return len(ms) == want
}

// change applies f to a copy of the pool state by a live reload (SIGHUP)
// and returns once lbd serves it.
func (b *bed) change(ctx context.Context, f func(*poolState)) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	ps := b.state.clone()
	f(ps)
	cfg, err := b.s.fileConfig(b.alg, b.port, b.ports, ps)
	if err != nil {
		return err
	}
	if err := b.lbd.reload(cfg); err != nil {
		return err
	}
	if err := b.await(ctx, ps); err != nil {
		return err
	}
	b.state = ps
	return nil
}

func (b *bed) target() string { return fmt.Sprintf("127.0.0.1:%d", b.port) }

func (b *bed) close() {
	if b.lbd != nil {
		b.lbd.stop()
	}
	for _, be := range b.backends {
		be.Close()
	}
	if b.dir != "" {
		os.RemoveAll(b.dir)
	}
}
