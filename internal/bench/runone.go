package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"lbd/internal/balancer"
	"lbd/internal/loadgen"
	"lbd/internal/octavia"
)

// runOne benchmarks one algorithm on a fresh test bed.
func runOne(ctx context.Context, s *Scenario, alg octavia.Algorithm, opts Options, label string) (*RunResult, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	b, err := startBed(ctx, s, alg, opts.Log)
	if err != nil {
		return nil, err
	}
	defer b.close()

	var remap *RemapResult
	if alg == octavia.AlgorithmSourceIP {
		// Before the load, on a pool nothing has happened to yet.
		if remap, err = probeRemap(ctx, b); err != nil {
			return nil, err
		}
	}

	load0 := loadAvg()
	rec := newRecorder(s, s.Clients, s.Events)
	start := time.Now()

	// Sample lbd's per-member in-flight counts and health while the load
	// runs: peaks for the report, health changes for the failure scenario.
	samp := newSampler(b.members(), start)
	var wg sync.WaitGroup
	sampCtx, stopSampling := context.WithCancel(ctx)
	wg.Add(1)
	go func() { defer wg.Done(); samp.run(sampCtx) }()
	if opts.Progress != nil {
		wg.Add(1)
		go func() { defer wg.Done(); progress(sampCtx, opts.Progress, label, s, rec, start) }()
	}

	evErr := make(chan error, len(s.Events))
	var timers []*time.Timer
	for i, e := range s.Events {
		timers = append(timers, time.AfterFunc(time.Until(start.Add(e.At.In(s.Duration))), func() {
			if err := b.event(ctx, e); err != nil {
				evErr <- fmt.Errorf("event %d (%s %s): %w", i, e.Action, e.Member, err)
				return
			}
			rec.events[i].applied.Store(int64(time.Since(start)))
		}))
	}

	sent := s.load(b.target()).Run(ctx, start, s.Duration, rec)
	for _, t := range timers {
		t.Stop()
	}
	stopSampling()
	wg.Wait()
	if opts.Progress != nil {
		fmt.Fprint(opts.Progress, "\r\033[K")
	}
	select {
	case err := <-evErr:
		return nil, err
	default:
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	res := rec.result(s, string(alg), sent)
	res.Remap = remap
	res.LoadAvg = [2]float64{load0, loadAvg()}
	for i := range res.Members {
		res.Members[i].PeakInFlight = samp.peak[i]
		res.Members[i].BackendPeakInFlight = b.backends[i].PeakInFlight()
	}
	for _, h := range samp.changes {
		res.Health = append(res.Health, HealthChange{AtS: h.at.Seconds(), Member: s.Members[h.member].Name, Healthy: h.healthy})
	}
	return res, nil
}

// event carries out one scenario event.
func (b *bed) event(ctx context.Context, e Event) error {
	i := b.s.member(e.Member)
	m := b.s.Members[i]
	switch e.Action {
	case ActionDrain:
		return b.change(ctx, func(ps *poolState) { ps.weight[i] = 0 })
	case ActionUndrain:
		return b.change(ctx, func(ps *poolState) { ps.weight[i] = m.Weight })
	case ActionFail:
		b.backends[i].SetHealthy(false)
		b.backends[i].SetErrorRate(1)
	case ActionRecover:
		b.backends[i].SetErrorRate(m.ErrorRate)
		b.backends[i].SetHealthy(true)
	}
	return nil
}

// sampler polls lbd's member states every millisecond.
type sampler struct {
	states  []*balancer.State
	start   time.Time
	peak    []int64
	healthy []bool
	changes []healthChange
}

type healthChange struct {
	at      time.Duration
	member  int
	healthy bool
}

func newSampler(states []*balancer.State, start time.Time) *sampler {
	sp := &sampler{states: states, start: start, peak: make([]int64, len(states)), healthy: make([]bool, len(states))}
	for i, st := range states {
		sp.healthy[i] = st == nil || st.Healthy()
	}
	return sp
}

func (sp *sampler) run(ctx context.Context) {
	t := time.NewTicker(time.Millisecond)
	defer t.Stop()
	for {
		sp.sample()
		select {
		case <-ctx.Done():
			sp.sample()
			return
		case <-t.C:
		}
	}
}

func (sp *sampler) sample() {
	for i, st := range sp.states {
		if st == nil {
			continue
		}
		sp.peak[i] = max(sp.peak[i], st.Active())
		if h := st.Healthy(); h != sp.healthy[i] {
			sp.healthy[i] = h
			sp.changes = append(sp.changes, healthChange{at: time.Since(sp.start), member: i, healthy: h})
		}
	}
}

// loadAvg is the 1-minute load average, 0 where /proc/loadavg is missing.
func loadAvg() float64 {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f, _, _ := strings.Cut(string(data), " ")
	v, _ := strconv.ParseFloat(f, 64)
	return v
}

// progress rewrites one status line on w until ctx is done.
func progress(ctx context.Context, w io.Writer, label string, s *Scenario, rec *recorder, start time.Time) {
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	var lastDone uint64
	last := start
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			done := rec.done.Load()
			rate := float64(done-lastDone) / now.Sub(last).Seconds()
			lastDone, last = done, now
			el := min(now.Sub(start), s.Duration)
			frac := float64(el) / float64(s.Duration)
			const width = 20
			bar := make([]byte, width)
			for i := range bar {
				bar[i] = '.'
				if float64(i) < frac*width {
					bar[i] = '#'
				}
			}
			fmt.Fprintf(w, "\r\033[K%s [%s] %4.1fs/%s  %d done  %.0f req/s  %d errors",
				label, bar, el.Seconds(), s.Duration, done, rate, rec.errors())
		}
	}
}

// loader is a load generator: loadgen.Open or loadgen.Closed.
type loader interface {
	Run(ctx context.Context, start time.Time, window time.Duration, obs loadgen.Observer) (sent uint64)
}

// load is the scenario's load aimed at target: open loop at Rate, or
// closed loop with Concurrency requests in flight, from Clients addresses.
func (s *Scenario) load(target string) loader {
	t := loadgen.Target{Addr: target, Path: s.Path, Clients: s.Clients, Timeout: s.Timeout}
	if s.Rate > 0 {
		return loadgen.Open{Target: t, Rate: s.Rate, ConnsPerClient: s.ConnectionsPerClient}
	}
	return loadgen.Closed{Target: t, Workers: s.Concurrency}
}

// memberNames are the members' names, which their backends send as
// X-Backend.
func (s *Scenario) memberNames() []string {
	names := make([]string, len(s.Members))
	for i, m := range s.Members {
		names[i] = m.Name
	}
	return names
}
