package health

import (
	"context"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// member is one member's health: the rise/fall state machine of the active
// checks, the passive ejection state, and what was last reported. All of it
// is guarded by mu, except the atomics, which the data plane and the metrics
// read without it. report is called with mu held, so one member's
// transitions reach it in order.
type member struct {
	mon *Monitor
	id  string
	obs Observer

	slot slot // its place in the prober's schedule; the prober's alone

	streak atomic.Int32 // passive: consecutive counted failures

	passed, failed, downs, ejections atomic.Uint64

	mu         sync.Mutex
	t          Target
	hasMonitor bool   // the pool's monitor is active
	monitored  bool   // probes run: the monitor is active and the member enabled
	epoch      uint64 // bumped whenever the checks restart; stale results are dropped
	restagger  bool   // the prober must pick a new random start
	removed    bool

	activeUp     bool // the active checks' verdict (true when there are none)
	confirmed    bool // a probe passed since the checks (re)started
	rises, falls int  // consecutive passing / failing probes

	ejected      bool
	ejectedUntil time.Time
	ejectedFor   time.Duration
	ejectLevel   int
	ejectEpoch   uint64
	ejectTimer   *time.Timer
	lastEjectEnd time.Time

	up         bool // the verdict last reported: activeUp && !ejected
	checked    bool
	lastCheck  time.Time
	lastDur    time.Duration
	lastErr    string
	lastChange time.Time
}

// newMember returns a member in its initial state: up, its checks not yet
// confirmed (see the package doc).
func (m *Monitor) newMember(t Target, rc *runConfig) *member {
	mem := &member{
		mon: m, id: t.ID, t: t, slot: slot{idx: -1, fd: -1, http: httpState{ri: -1}},
		hasMonitor: rc.active, monitored: rc.active && t.Enabled, restagger: true,
		activeUp: true, up: true, lastChange: time.Now(),
	}
	mem.obs.m = mem
	return mem
}

// reconfigure applies an Update. A member keeps its counters and verdict
// unless its checks restart: when they start (monitor enabled, member
// enabled) or their target moves, it begins again as a new member would.
// It reports whether the prober must plan the member's probes again.
func (mem *member) reconfigure(t Target, rc *runConfig, cfgChanged bool) bool {
	mem.mu.Lock()
	defer mem.mu.Unlock()
	old, wasMonitored := mem.t, mem.monitored
	mem.t = t
	mem.hasMonitor = rc.active
	mem.monitored = rc.active && t.Enabled
	reason := ""
	switch {
	case !mem.monitored && wasMonitored:
		mem.restartLocked()
		reason = "member disabled"
		if !rc.active {
			reason = "health monitor removed or disabled"
		}
	case mem.monitored && !wasMonitored:
		mem.restartLocked()
		reason = "checks started"
	case mem.monitored && old.ProbeAddr() != t.ProbeAddr():
		mem.restartLocked()
		reason = "check target changed"
	}
	if rc.passive.disabled {
		mem.endEjectionLocked()
		if reason == "" {
			reason = "passive health disabled"
		}
	}
	mem.settleLocked(reason)
	return cfgChanged || old != t
}

// restartLocked puts the active state back to a new member's.
func (mem *member) restartLocked() {
	mem.activeUp, mem.confirmed, mem.rises, mem.falls, mem.checked = true, false, 0, 0, false
	mem.epoch++
	mem.restagger = true
}

// remove stops everything the member has running.
func (mem *member) remove() {
	mem.mu.Lock()
	defer mem.mu.Unlock()
	mem.removed = true
	mem.endEjectionLocked()
}

// record feeds one probe result into the rise/fall state machine. The
// result of a probe of a removed member is dropped uncounted: the probe was
// cut short.
func (mem *member) record(rc *runConfig, epoch uint64, err error, start time.Time, dur time.Duration) {
	mem.mu.Lock()
	defer mem.mu.Unlock()
	if mem.removed {
		return
	}
	mem.mon.counts.add(rc.Type, err == nil, dur)
	if !mem.monitored || epoch != mem.epoch {
		return // the checks restarted while this probe ran
	}
	mem.checked, mem.lastCheck, mem.lastDur = true, start, dur
	reason := ""
	if err == nil {
		mem.passed.Add(1)
		mem.lastErr = ""
		mem.rises++
		mem.falls = 0
		mem.confirmed = true
		if !mem.activeUp && mem.rises >= rc.Rise {
			mem.activeUp = true
			reason = strconv.Itoa(mem.rises) + " consecutive checks passed"
			if mem.ejected {
				// The active checks are the authority where a pool has
				// them: max_retries passes since the ejection readmit the
				// member without waiting out the back-off.
				mem.endEjectionLocked()
				reason += "; passive ejection ended"
			}
		}
	} else {
		mem.failed.Add(1)
		mem.lastErr = err.Error()
		mem.falls++
		mem.rises = 0
		// HAProxy's default init-state "up": until a probe has passed, the
		// first failure takes the member down.
		need := rc.Fall
		if !mem.confirmed {
			need = 1
		}
		if mem.activeUp && mem.falls >= need {
			mem.activeUp = false
			reason = mem.lastErr
		}
	}
	mem.settleLocked(reason)
}

// settleLocked reports the member's verdict if it changed.
func (mem *member) settleLocked(reason string) {
	up := mem.activeUp && !mem.ejected
	if up == mem.up {
		return
	}
	from := mem.statusLocked()
	mem.up = up
	mem.lastChange = time.Now()
	if !up {
		mem.downs.Add(1)
	}
	msg := "member is up"
	if !up {
		msg = "member is down"
	}
	mem.mon.log.LogAttrs(context.Background(), slog.LevelInfo, msg,
		slog.String("member_id", mem.id), slog.String("member", mem.t.Name), slog.String("addr", mem.t.ProbeAddr().String()),
		slog.String("from", from.String()), slog.String("to", mem.statusLocked().String()),
		slog.String("reason", reason))
	if mem.mon.report != nil {
		mem.mon.report(mem.id, up, reason)
	}
}

func (mem *member) statusLocked() Status {
	return MemberStatus(MemberFacts{Enabled: mem.t.Enabled, Weight: mem.t.Weight, Monitored: mem.hasMonitor, Healthy: mem.up})
}
