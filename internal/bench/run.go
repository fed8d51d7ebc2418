package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"time"

	"lbd/internal/balancer"
	"lbd/internal/demo"
	"lbd/internal/octavia"
	"lbd/internal/proxy"
)

// DataPlane names how lbd runs during a benchmark.
const DataPlane = "in-process proxy.Runtime (the same code as the lbd daemon, without a process boundary)"

// Options tune Run.
type Options struct {
	// Log receives the data plane's and the backends' logs. Required.
	Log *slog.Logger
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
	rt       *proxy.Runtime
	mu       sync.Mutex // serializes reloads
	state    *poolState
}

func startBed(ctx context.Context, s *Scenario, alg octavia.Algorithm, log *slog.Logger) (*bed, error) {
	b := &bed{s: s, alg: alg, state: newPoolState(s)}
	for _, m := range s.Members {
		be, err := demo.Start(ctx, "127.0.0.1:0", demo.Options{
			Name: m.Name, Latency: m.Latency, Distribution: m.Distribution, Spread: m.Spread,
			ErrorRate: m.ErrorRate, MaxInFlight: m.MaxInFlight,
		}, log)
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
	b.rt = proxy.New(log, proxy.Options{DrainTimeout: 2 * time.Second})
	// The listener's port is found by binding :0 and letting go; another
	// process may take it in between, so try a few.
	var err error
	for range 5 {
		if b.port, err = freePort(); err != nil {
			break
		}
		if err = b.apply(ctx, b.state); err == nil {
			return b, nil
		}
	}
	b.close()
	return nil, err
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// apply makes lbd serve the pool in state ps.
func (b *bed) apply(ctx context.Context, ps *poolState) error {
	cfg, err := b.s.compiledConfig(b.alg, b.port, b.ports, ps)
	if err != nil {
		return err
	}
	return b.rt.Apply(ctx, cfg)
}

// change applies f to a copy of the pool state by a live reload.
func (b *bed) change(ctx context.Context, f func(*poolState)) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	ps := b.state.clone()
	f(ps)
	if err := b.apply(ctx, ps); err != nil {
		return err
	}
	b.state = ps
	return nil
}

func (b *bed) target() string { return fmt.Sprintf("127.0.0.1:%d", b.port) }

// members returns lbd's live state of each scenario member, by index.
func (b *bed) members() []*balancer.State {
	out := make([]*balancer.State, len(b.s.Members))
	cfg := b.rt.Config()
	if len(cfg.LoadBalancers) == 0 || len(cfg.LoadBalancers[0].Pools) == 0 {
		return out
	}
	for _, m := range b.rt.PoolMembers(cfg.LoadBalancers[0].Pools[0].ID) {
		for i, sm := range b.s.Members {
			if memberID(sm.Name) == m.ID {
				out[i] = m.State
			}
		}
	}
	return out
}

func (b *bed) close() {
	if b.rt != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		b.rt.Shutdown(ctx)
		cancel()
	}
	for _, be := range b.backends {
		be.Close()
	}
}
