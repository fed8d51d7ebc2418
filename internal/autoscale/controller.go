package autoscale

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"
)

// Controller keeps one group's server count matched to its load: every
// Policy.Interval it looks at the servers and members, reads the load,
// decides (Decide) and acts on the plan (Plan); while work is under way
// (servers booting, members draining) it looks every Poll in between to
// carry the plan on. It acts only while it holds the group's lock.
type Controller struct {
	Group       string
	Policy      Policy
	Memberships []Membership
	// Pattern names new servers: openstack.servers.name ("Server%d").
	Pattern  string
	Provider Provider
	Members  Members
	Source   Source
	Locker   Locker
	Log      *slog.Logger
	Stats    *Stats    // nil: none
	Recorder *Recorder // nil: none
	// Poll is how often it looks while work is under way; default the
	// smaller of Interval and 2s.
	Poll time.Duration
	// Now is the clock; nil is time.Now.
	Now func() time.Time

	hist        History
	errorSince  map[string]time.Time
	drainedSeen map[string]time.Time
	deleted     map[string]time.Time // servers this controller deleted, by ID
	desired     int
	decidedAt   time.Time
	warmAt      time.Time // the last look's Group.WarmAt
}

func (c *Controller) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

func (c *Controller) log() *slog.Logger {
	if c.Log != nil {
		return c.Log
	}
	return slog.New(slog.DiscardHandler)
}

func (c *Controller) poll() time.Duration {
	if c.Poll > 0 {
		return c.Poll
	}
	return min(c.Policy.Interval, 2*time.Second)
}

// Run takes the lock, then decides and acts until ctx ends. When the lock
// is lost it stops acting and waits for it again. It returns nil when ctx
// ends.
func (c *Controller) Run(ctx context.Context) error {
	c.Stats.policy(c.Policy)
	for ctx.Err() == nil {
		c.Stats.locked(false)
		c.log().Info("waiting for the group's lock", "group", c.Group, "lock", c.Locker.String())
		lease, err := c.Locker.Lock(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			c.Stats.error("lock")
			c.log().Error("lock", "err", err)
			if sleep(ctx, c.poll()) != nil {
				return nil
			}
			continue
		}
		c.Stats.locked(true)
		c.log().Info("holding the group's lock: acting", "group", c.Group, "lock", c.Locker.String())
		c.hist = History{} // what an earlier holder did is in the cloud; the windows start anew
		c.loop(ctx, lease)
		c.Stats.locked(false)
		uctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := lease.Unlock(uctx); err != nil {
			c.log().Warn("unlock", "err", err)
		}
		cancel()
	}
	return nil
}

// loop steps until ctx ends or the lease is lost.
func (c *Controller) loop(ctx context.Context, lease Lease) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-lease.Lost():
			c.log().Error("lost the group's lock: another controller may act now; stopping until it is back", "lock", c.Locker.String())
			cancel()
		case <-ctx.Done():
		}
	}()
	for ctx.Err() == nil {
		decide := c.decidedAt.IsZero() || c.now().Sub(c.decidedAt) >= c.Policy.Interval
		busy, err := c.Step(ctx, decide)
		if err != nil && ctx.Err() == nil {
			c.log().Warn("step", "err", err)
		}
		wait := c.Policy.Interval - c.now().Sub(c.decidedAt)
		if busy || err != nil {
			wait = min(wait, c.poll())
		}
		if !c.warmAt.IsZero() {
			// A warming member may have its weight then: look at once.
			wait = min(wait, c.warmAt.Sub(c.now())+10*time.Millisecond)
		}
		if sleep(ctx, max(wait, 10*time.Millisecond)) != nil {
			return
		}
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// observation is one look at the cloud and the load.
type observation struct {
	view  *PoolView
	group *Group
	load  Measurement
}

// observe lists the servers and members, reads the load and classifies.
func (c *Controller) observe(ctx context.Context) (*observation, error) {
	servers, err := c.Provider.Servers(ctx)
	if err != nil {
		c.Stats.error("servers")
		return nil, fmt.Errorf("list the group's servers: %w", err)
	}
	view, err := c.Members.Read(ctx)
	if err != nil {
		c.Stats.error("members")
		return nil, fmt.Errorf("read the pool's members: %w", err)
	}
	now := c.now()
	c.track(view.Members, now)
	// A server this controller deleted may still list as ACTIVE for a
	// moment (Nova's task_state deleting): it is deleting.
	for i, s := range servers {
		if at, ok := c.deleted[s.ID]; ok && now.Sub(at) < 10*time.Minute && s.Status != StatusError {
			servers[i].Status = StatusDeleting
		}
	}
	var addrs []string
	for _, s := range servers {
		if s.Address != "" && s.Status == StatusActive {
			addrs = append(addrs, s.Address)
		}
	}
	q := Query{PoolID: view.MetricsPoolID, ListenerID: view.ListenerID, Addresses: addrs, Window: c.Policy.Window,
		Metrics: []Metric{RequestsPerSecond, ActiveConnections, P95Latency}}
	if _, ok := c.Policy.Target(CPUPercent); ok {
		q.Metrics = append(q.Metrics, CPUPercent)
	}
	load := c.Source.Measure(ctx, q)
	if load.Err != nil {
		c.Stats.error("metrics")
	}
	g := Classify(c.Policy, c.Memberships, Observed{Servers: servers, Members: view.Members, Sessions: load.Sessions,
		ErrorSince: c.errorSince, DrainedSeen: c.drainedSeen}, now)
	return &observation{view: view, group: g, load: load}, nil
}

// track remembers when each member was first seen in ERROR and drained.
func (c *Controller) track(ms []Member, now time.Time) {
	if c.errorSince == nil {
		c.errorSince, c.drainedSeen, c.deleted = map[string]time.Time{}, map[string]time.Time{}, map[string]time.Time{}
	}
	seen := map[string]bool{}
	for _, m := range ms {
		seen[m.ID] = true
		if m.Status == "ERROR" {
			if _, ok := c.errorSince[m.ID]; !ok {
				c.errorSince[m.ID] = now
			}
		} else {
			delete(c.errorSince, m.ID)
		}
		if m.Weight == 0 && !m.Warming {
			if _, ok := c.drainedSeen[m.ID]; !ok {
				c.drainedSeen[m.ID] = now
			}
		} else {
			delete(c.drainedSeen, m.ID)
		}
	}
	for id := range c.errorSince {
		if !seen[id] {
			delete(c.errorSince, id)
		}
	}
	for id := range c.drainedSeen {
		if !seen[id] {
			delete(c.drainedSeen, id)
		}
	}
	for id, at := range c.deleted {
		if now.Sub(at) > 10*time.Minute {
			delete(c.deleted, id)
		}
	}
}

// decideNow makes a decision from an observation, logs it and records it.
func (c *Controller) decideNow(o *observation) Decision {
	targets := map[Metric]bool{}
	for _, t := range c.Policy.Targets {
		targets[t.Metric] = true
	}
	// Only the targets' values decide; the others are for the record.
	l := Load{Values: map[Metric]float64{}, Missing: map[Metric]string{}}
	for m, v := range o.load.Load.Values {
		if targets[m] {
			l.Values[m] = v
		}
	}
	for m, why := range o.load.Load.Missing {
		if targets[m] {
			l.Missing[m] = why
		}
	}
	var d Decision
	d, c.hist = Decide(c.Policy, c.hist, Observation{At: c.now(), Current: o.group.Current, Ready: o.group.Ready, Newest: o.group.Newest, Load: l})
	c.desired, c.decidedAt = d.Desired, d.At
	attrs := []any{"group", c.Group, "reason", string(d.Reason), "current", d.Current, "ready", d.Ready, "desired", d.Desired, "raw", d.Raw}
	for _, pr := range d.Proposals {
		if pr.Missing != "" {
			attrs = append(attrs, string(pr.Metric), "missing: "+pr.Missing)
		} else {
			attrs = append(attrs, string(pr.Metric), pr.Value, string(pr.Metric)+"_proposal", pr.Count)
		}
	}
	attrs = append(attrs, "detail", d.Detail)
	level := slog.LevelInfo
	if d.Reason == ReasonNoData || d.Reason == ReasonPartialData {
		level = slog.LevelWarn
	}
	c.log().Log(context.Background(), level, "decision", attrs...)
	c.Stats.decision(d, o.group)
	c.Recorder.decision(d, o.load.Load)
	return d
}

// Step looks once, decides when decide is set (else keeps the last
// decision's count), and carries out the plan. It reports whether work is
// under way (servers booting, warming or draining), so that the loop looks
// again soon.
func (c *Controller) Step(ctx context.Context, decide bool) (busy bool, err error) {
	c.warmAt = time.Time{}
	o, err := c.observe(ctx)
	if err != nil {
		return false, err
	}
	if decide || c.decidedAt.IsZero() {
		c.decideNow(o)
	}
	c.warmAt = o.group.WarmAt
	actions := o.group.Plan(c.Policy, c.desired, c.Pattern, c.now())
	var errs []error
	for _, a := range actions {
		err := c.act(ctx, o.view, a)
		c.Recorder.action(c.now(), a, err)
		if err != nil {
			c.Stats.error(string(a.Kind))
			c.log().Error("action failed", "group", c.Group, "action", string(a.Kind), "server", a.Server.Name, "err", err)
			errs = append(errs, err)
			if ctx.Err() != nil {
				break
			}
			continue
		}
		c.Stats.action(a.Kind)
	}
	for _, e := range o.group.Entries {
		busy = busy || e.Phase == Booting || e.Phase == Warming || e.Phase == Draining || e.Phase == Deleting
	}
	return busy || len(actions) > 0, errors.Join(errs...)
}

// act carries out one action, logging it.
func (c *Controller) act(ctx context.Context, v *PoolView, a Action) error {
	c.log().Info("action", "group", c.Group, "action", string(a.Kind), "server", a.Server.Name, "id", a.Server.ID, "why", a.Why)
	switch a.Kind {
	case RemoveOrphan:
		return c.Members.Remove(ctx, v, a.Members[0])
	case Heal, FinishDrain, DeleteServer:
		for _, m := range a.Members {
			if err := c.Members.Remove(ctx, v, m); err != nil {
				return err
			}
		}
		if err := c.Provider.Delete(ctx, a.Server); err != nil {
			return err
		}
		c.deleted[a.Server.ID] = c.now()
		return nil
	case Drain:
		for _, m := range a.Members {
			if err := c.Members.SetWeight(ctx, v, m, 0); err != nil {
				return err
			}
		}
		return nil
	case Undrain, Admit:
		for _, m := range a.Members {
			if err := c.Members.SetWeight(ctx, v, m, c.membership(m.Pool).Weight); err != nil {
				return err
			}
		}
		return nil
	case Create:
		s, err := c.Provider.Create(ctx, a.Server.Name)
		if err != nil {
			return err
		}
		c.log().Info("server created", "group", c.Group, "server", s.Name, "id", s.ID, "status", s.Status)
		if s.Status != StatusActive || s.Address == "" {
			return nil // its members come once it is ACTIVE
		}
		for _, mb := range c.Memberships {
			c.log().Info("action", "group", c.Group, "action", string(AddMember), "server", s.Name, "id", s.ID, "why", "the server is ACTIVE")
			if err := c.Members.Add(ctx, v, s, mb); err != nil {
				return err
			}
			c.Stats.action(AddMember)
		}
		return nil
	case AddMember:
		return c.Members.Add(ctx, v, a.Server, a.Membership)
	}
	return fmt.Errorf("unknown action %q", a.Kind)
}

func (c *Controller) membership(pool string) Membership {
	for _, mb := range c.Memberships {
		if mb.Pool == pool {
			return mb
		}
	}
	return Membership{Pool: pool, Weight: 1}
}

// DryRun looks once and prints, without changing anything or taking the
// lock, the group as it is, the decision it would make now and the plan.
// A controller that just started waits one scale-in window before scaling
// in; DryRun says so rather than showing the hold.
func (c *Controller) DryRun(ctx context.Context, w io.Writer) error {
	o, err := c.observe(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "group %s: %d current (%d ready), min %d, max %d\n", c.Group, o.group.Current, o.group.Ready, c.Policy.Min, c.Policy.Max)
	for _, e := range o.group.Entries {
		line := fmt.Sprintf("  %-20s %-9s %-8s %s", e.Server.Name, e.Phase, e.Server.Status, e.Server.Address)
		var ms []string
		for _, m := range e.Members {
			w := fmt.Sprintf("%s %s w%d", m.Pool, m.Status, m.Weight)
			if m.Warming {
				w += " warming"
			}
			ms = append(ms, w)
		}
		if len(ms) > 0 {
			line += "  [" + strings.Join(ms, ", ") + "]"
		}
		if e.Why != "" {
			line += "  " + e.Why
		}
		fmt.Fprintln(w, strings.TrimRight(line, " "))
	}
	for _, m := range o.group.Orphans {
		fmt.Fprintf(w, "  member %s %s:%d of pool %s: its server is gone\n", m.ID, m.Address, m.Port, m.Pool)
	}
	// An old history: the decision as a controller running for long would
	// make it.
	h := History{seeded: true}
	targets := Load{Values: map[Metric]float64{}, Missing: o.load.Load.Missing}
	for _, t := range c.Policy.Targets {
		if v, ok := o.load.Load.Values[t.Metric]; ok {
			targets.Values[t.Metric] = v
		}
	}
	d, _ := Decide(c.Policy, h, Observation{At: c.now(), Current: o.group.Current, Ready: o.group.Ready, Load: targets})
	fmt.Fprintf(w, "decision: %s (%s)\n", d.Detail, d.Reason)
	if d.Reason == ReasonScaleIn {
		fmt.Fprintf(w, "  (a controller that starts now scales in only after the scale-in window, %s, if the load stays low)\n", c.Policy.In.Stabilization)
	}
	actions := o.group.Plan(c.Policy, d.Desired, c.Pattern, c.now())
	if len(actions) == 0 {
		fmt.Fprintln(w, "would do nothing")
	}
	for _, a := range actions {
		fmt.Fprintf(w, "would %s\n", a)
	}
	return nil
}

// RemoveAll removes every member of the group, then every server: the
// group's end (the local demo's). It takes the lock first, so that no
// running controller makes them again; a controller holding it makes this
// wait until ctx ends.
func (c *Controller) RemoveAll(ctx context.Context) error {
	lease, err := c.Locker.Lock(ctx)
	if err != nil {
		return fmt.Errorf("%s: %w (is a controller of the group running? stop it first)", c.Locker, err)
	}
	defer lease.Unlock(context.WithoutCancel(ctx))
	view, err := c.Members.Read(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, m := range view.Members {
		c.log().Info("action", "group", c.Group, "action", "remove_member", "member", m.ID, "address", fmt.Sprintf("%s:%d", m.Address, m.Port))
		errs = append(errs, c.Members.Remove(ctx, view, m))
	}
	servers, err := c.Provider.Servers(ctx)
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	for _, s := range servers {
		c.log().Info("action", "group", c.Group, "action", string(DeleteServer), "server", s.Name, "id", s.ID)
		errs = append(errs, c.Provider.Delete(ctx, s))
	}
	return errors.Join(errs...)
}
