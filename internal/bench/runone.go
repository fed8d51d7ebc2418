package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"lbd/internal/loadgen"
	"lbd/internal/octavia"
)

// runOne benchmarks one algorithm on a fresh test bed.
func runOne(ctx context.Context, s *Scenario, alg octavia.Algorithm, opts Options, label string) (*RunResult, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	b, err := startBed(ctx, s, alg, opts)
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

	// Sample lbd's per-member in-flight peaks and health while the load
	// runs: peaks for the report, health changes for the failure scenario.
	samp := b.samp
	if err := samp.begin(ctx, start); err != nil {
		return nil, err
	}
	var wg sync.WaitGroup
	sampCtx, stopSampling := context.WithCancel(ctx)
	sampErr := make(chan error, 1)
	wg.Add(1)
	go func() { defer wg.Done(); sampErr <- samp.run(sampCtx) }()
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
	if err := <-sampErr; err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	res := rec.result(s, string(alg), sent)
	res.Remap = remap
	res.LoadAvg = [2]float64{load0, loadAvg()}
	samp.mu.Lock()
	defer samp.mu.Unlock()
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

// sampleEvery is how often the sampler reads lbd's /debug/members. The
// peaks are exact at any interval (lbd keeps the highest count since the
// last read); health changes carry lbd's own time. The interval only
// bounds how late a health change is seen, and costs lbd a small JSON
// answer per read.
const sampleEvery = 20 * time.Millisecond

// sampler reads lbd's members: the peak in-flight count of each scenario
// member and the changes of its health. It is the only reader of
// /debug/members, whose peaks reset on read: reload waits go through it
// too, and every read counts toward the peaks.
type sampler struct {
	lbd *lbdProc
	ids []string // member IDs, by scenario index

	mu      sync.Mutex
	start   time.Time
	peak    []int64
	healthy []bool
	seen    []bool // healthy[i] has been read
	changes []healthChange
}

type healthChange struct {
	at      time.Duration
	member  int
	healthy bool
}

func newSampler(lbd *lbdProc, s *Scenario) *sampler {
	sp := &sampler{lbd: lbd, peak: make([]int64, len(s.Members)), healthy: make([]bool, len(s.Members)), seen: make([]bool, len(s.Members))}
	for _, m := range s.Members {
		sp.ids = append(sp.ids, memberID(m.Name))
	}
	return sp
}

// begin starts the measured window at start: peaks count from the
// requests in flight now, health changes from the health now.
func (sp *sampler) begin(ctx context.Context, start time.Time) error {
	if _, err := sp.sample(ctx); err != nil {
		return err
	}
	sp.mu.Lock()
	defer sp.mu.Unlock()
	sp.start = start
	clear(sp.peak)
	sp.changes = nil
	return nil
}

// run samples every sampleEvery until ctx is done, then once more.
func (sp *sampler) run(ctx context.Context) error {
	t := time.NewTicker(sampleEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			_, err := sp.sample(context.WithoutCancel(ctx))
			return err
		case <-t.C:
			if _, err := sp.sample(ctx); err != nil && ctx.Err() == nil {
				return err
			}
		}
	}
}

// sample reads lbd's members once and folds them in.
func (sp *sampler) sample(ctx context.Context) ([]memberLoad, error) {
	ms, err := sp.lbd.members(ctx)
	if err != nil {
		return nil, err
	}
	sp.mu.Lock()
	defer sp.mu.Unlock()
	for _, m := range ms {
		i := slices.Index(sp.ids, m.ID)
		if i < 0 {
			continue
		}
		sp.peak[i] = max(sp.peak[i], m.PeakInFlight)
		if !sp.seen[i] {
			sp.seen[i], sp.healthy[i] = true, m.Healthy
			continue
		}
		if m.Healthy != sp.healthy[i] {
			sp.healthy[i] = m.Healthy
			at := time.Since(sp.start)
			if m.HealthChangedAt != nil && !sp.start.IsZero() {
				at = m.HealthChangedAt.Sub(sp.start)
			}
			sp.changes = append(sp.changes, healthChange{at: at, member: i, healthy: m.Healthy})
		}
	}
	return ms, nil
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
