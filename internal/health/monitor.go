package health

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Options are a Monitor's fixed collaborators.
type Options struct {
	// PoolID is logged with every line.
	PoolID string
	// Log receives one Info line per member transition; nil discards.
	Log *slog.Logger
	// Report is called on every transition of a member's verdict, and only
	// then, with a short reason: the data plane passes it on to
	// balancer.Pool.SetHealthy(id, up). It is called from the Monitor's
	// prober (Run's goroutine), from a passive-health caller (the data plane itself) or
	// from Update, with that member's lock held so one member's transitions
	// arrive in order. It must be quick and must not call the Monitor. A
	// new member is up without a call, as balancer.NewState is healthy.
	Report func(memberID string, up bool, reason string)
	// Checker, when set, replaces the checker built from Config.Type (which
	// must still be set for probes to run). For tests and custom checks.
	Checker Checker
}

// runConfig is a Config compiled for the probe loops; immutable.
type runConfig struct {
	Config
	active   bool
	interval time.Duration // between probe starts
	budget   time.Duration // bound of one whole probe
	checker  Checker       // nil unless active
	passive  *passiveRun
}

// Monitor runs one pool's health checks: one prober goroutine that runs
// every member's probes on their staggered schedules (see prober), plus the
// passive-health state fed by the data plane. Create it with NewMonitor, configure it with Update
// (before or after Run), and call Run once.
type Monitor struct {
	log      *slog.Logger
	report   func(string, bool, string)
	override Checker
	counts   probeCounts

	cfg     atomic.Pointer[runConfig]
	total   atomic.Int32 // members, for the ejection cap
	ejected atomic.Int32 // members passively ejected now

	mu      sync.Mutex
	members map[string]*member
	order   []*member // Update's order, for Status
	running bool
	stopped bool          // Run returned
	dirty   []*member     // members added, changed or removed since the prober last looked
	kick    chan struct{} // Update → Run: dirty is not empty; capacity 1
}

// NewMonitor returns a Monitor with no members and no checks.
func NewMonitor(o Options) *Monitor {
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m := &Monitor{
		log:      log.With("pool_id", o.PoolID),
		report:   o.Report,
		override: o.Checker,
		members:  map[string]*member{},
		kick:     make(chan struct{}, 1),
	}
	m.cfg.Store(&runConfig{passive: Passive{}.resolve()})
	return m
}

// Update reconfigures the monitor in place. Members are matched by ID: one
// that stays keeps its counters and verdict (no reset, no burst of probes;
// its schedule keeps its phase), unless its probe target moved or its checks
// were off, in which case it restarts as new. New members start up and are
// probed from a random point within the first interval; removed members
// stop. On error (an invalid config, or a PING monitor that cannot open an
// ICMP socket) nothing changes.
//
// Update may call Report synchronously (for example, a monitor being
// disabled brings its down members back up), so the caller should have
// updated its balancer's members first.
func (m *Monitor) Update(cfg Config, targets []Target) error {
	if err := cfg.validate(); err != nil {
		return err
	}
	// next is filled below; its keys check the IDs first (one map for
	// both: a pool may have 10,000 members).
	next := make(map[string]*member, len(targets))
	for i, t := range targets {
		_, dup := next[t.ID]
		switch {
		case t.ID == "":
			return fmt.Errorf("member %d: empty id", i)
		case dup:
			return fmt.Errorf("member %s: duplicate id", t.ID)
		case !t.Addr.IsValid():
			return fmt.Errorf("member %s: invalid address", t.ID)
		}
		next[t.ID] = nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	old := m.cfg.Load()
	rc := old
	if old.Config != cfg {
		var err error
		if rc, err = m.compile(cfg); err != nil {
			return err
		}
		m.cfg.Store(rc)
	}
	changed := rc != old
	order := make([]*member, 0, len(targets))
	for _, t := range targets {
		mem := m.members[t.ID]
		if mem == nil {
			mem = m.newMember(t, rc)
			m.touch(mem)
		} else if mem.reconfigure(t, rc, changed) {
			m.touch(mem)
		}
		next[t.ID] = mem
		order = append(order, mem)
	}
	for id, mem := range m.members {
		if next[id] == nil {
			mem.remove()
			m.touch(mem)
		}
	}
	m.members, m.order = next, order
	m.total.Store(int32(len(order)))
	select {
	case m.kick <- struct{}{}:
	default:
	}
	return nil
}

func (m *Monitor) compile(cfg Config) (*runConfig, error) {
	rc := &runConfig{Config: cfg, active: cfg.active(), interval: cfg.interval(), passive: cfg.Passive.resolve()}
	_, rc.budget = cfg.timeouts()
	if !rc.active {
		return rc, nil
	}
	if m.override != nil {
		rc.checker = m.override
		return rc, nil
	}
	c, err := cfg.newChecker()
	if err != nil {
		return nil, fmt.Errorf("health monitor %s: %w", cfg.Type, err)
	}
	rc.checker = c
	return rc, nil
}

// ErrRunning is returned by a second call of Run.
var ErrRunning = errors.New("health monitor already running")

// Run probes until ctx ends, taking in the members Update adds, changes and
// removes, and returns once every probe has stopped. Cancelling ctx is how a
// pool's monitor is retired. Passive ejections in progress are cut short.
func (m *Monitor) Run(ctx context.Context) error { return m.run(ctx, nil) }

// run is Run; setup, when set, prepares the prober (tests).
func (m *Monitor) run(ctx context.Context, setup func(*prober)) error {
	m.mu.Lock()
	if m.running {
		m.mu.Unlock()
		return ErrRunning
	}
	m.running = true
	m.dirty = append(m.dirty[:0], m.order...)
	m.mu.Unlock()
	p := newProber(ctx, m)
	if setup != nil {
		setup(p)
	}
	p.run()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.stopped, m.dirty = true, nil
	for _, mem := range m.order {
		mem.remove()
	}
	return nil
}

// touch tells the prober that mem was added, changed or removed; m.mu held.
func (m *Monitor) touch(mem *member) {
	if !m.stopped {
		m.dirty = append(m.dirty, mem)
	}
}

// takeDirty returns the members Update touched since the last call.
func (m *Monitor) takeDirty() []*member {
	m.mu.Lock()
	defer m.mu.Unlock()
	d := m.dirty
	m.dirty = nil
	return d
}

// Observer returns the passive-health handle of the member with that ID, or
// nil (which ignores every call) when there is none.
func (m *Monitor) Observer(memberID string) *Observer {
	m.mu.Lock()
	defer m.mu.Unlock()
	if mem := m.members[memberID]; mem != nil {
		return &mem.obs
	}
	return nil
}
