package health

import (
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

func TestUpdateKeepsState(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const delay = 10 * time.Second
		cfg := tcpConfig(delay, time.Second, 3, 2)
		f := startFixture(t, sequence("PFF"), cfg, target(1), target(2))
		time.Sleep(3 * delay)
		synctest.Wait()
		before := f.state("m1")
		if before.Up || before.ConsecutiveFailed != 1 && before.ConsecutiveFailed != 2 {
			// probes at offset, +10, +20: P F F → down after the third.
			t.Fatalf("m1 before update: %+v, want down", before)
		}
		nReports := len(f.rec.list())
		starts := f.sc.starts(target(1).Addr)
		last := starts[len(starts)-1]

		// Reload: a new member, a removed one, a new delay and passive
		// settings; m1 is unchanged.
		cfg.Delay = 20 * time.Second
		cfg.Passive.Failures = 5
		if err := f.mon.Update(cfg, []Target{target(1), target(3)}); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		after := f.state("m1")
		if after.Up || after.ConsecutiveFailed != before.ConsecutiveFailed || after.ChecksFailed != before.ChecksFailed ||
			after.LastChange != before.LastChange || !after.Checked {
			t.Fatalf("m1 after update: %+v, want the state before it: %+v", after, before)
		}
		if got := len(f.rec.list()); got != nReports {
			t.Fatalf("update caused %d reports", got-nReports)
		}
		if _, ok := f.mon.Member("m2"); ok {
			t.Fatal("removed member m2 still reported")
		}
		if s := f.state("m3"); !s.Up || s.Checked {
			t.Fatalf("new member m3: %+v, want up and unchecked", s)
		}
		m2probes := f.sc.count(target(2).Addr)
		time.Sleep(5 * delay)
		synctest.Wait()
		f.stop()
		if n := f.sc.count(target(2).Addr); n != m2probes {
			t.Errorf("removed member probed %d more times", n-m2probes)
		}
		// m1 keeps its phase: the next probe is last + the new delay, not
		// an immediate re-probe.
		starts = f.sc.starts(target(1).Addr)
		var next time.Time
		for _, s := range starts {
			if s.After(last) {
				next = s
				break
			}
		}
		if d := next.Sub(last); d != 20*time.Second {
			t.Errorf("first probe after the update came %s after the last one, want 20s", d)
		}
		if n := f.sc.count(target(3).Addr); n < 2 {
			t.Errorf("new member m3 probed %d times in 50s", n)
		}
	})
}

func TestDisabledMonitorStopsProbing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const delay = 5 * time.Second
		cfg := tcpConfig(delay, time.Second, 2, 1)
		f := startFixture(t, sequence("F"), cfg, target(1))
		defer f.stop()
		time.Sleep(delay)
		synctest.Wait()
		if f.state("m1").Up {
			t.Fatal("member still up after a failed first probe")
		}
		cfg.Disabled = true
		if err := f.mon.Update(cfg, []Target{target(1)}); err != nil {
			t.Fatal(err)
		}
		ev := f.rec.list()
		if len(ev) != 2 || !ev[1].up || !strings.Contains(ev[1].reason, "disabled") {
			t.Fatalf("reports = %+v, want the member back up when the monitor is disabled", ev)
		}
		s := f.state("m1")
		if !s.Up || s.Status != StatusNoMonitor {
			t.Fatalf("state with disabled monitor: %+v, want up, NO_MONITOR", s)
		}
		n := f.sc.count(target(1).Addr)
		time.Sleep(10 * delay)
		synctest.Wait()
		if m := f.sc.count(target(1).Addr); m != n {
			t.Fatalf("disabled monitor probed %d times", m-n)
		}
		// Enabled again: checks restart from a new member's state.
		cfg.Disabled = false
		if err := f.mon.Update(cfg, []Target{target(1)}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(delay)
		synctest.Wait()
		if m := f.sc.count(target(1).Addr); m != n+1 {
			t.Fatalf("re-enabled monitor: %d probes in one interval, want 1", m-n)
		}
		if f.state("m1").Up {
			t.Fatal("re-enabled monitor: member up after a failed first probe")
		}
	})
}

func TestNoMonitorAndDisabledMember(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		off := target(2)
		off.Enabled = false
		drain := target(3)
		drain.Weight = 0
		f := startFixture(t, sequence("P"), tcpConfig(time.Second, time.Second, 1, 1), target(1), off, drain)
		time.Sleep(10 * time.Second)
		synctest.Wait()
		if n := f.sc.count(off.Addr); n != 0 {
			t.Errorf("disabled member probed %d times", n)
		}
		if n := f.sc.count(drain.Addr); n != 10 {
			t.Errorf("draining member probed %d times in 10 intervals, want 10", n)
		}
		for id, want := range map[string]Status{
			"m1": StatusOnline, "m2": StatusOffline, "m3": StatusDraining,
		} {
			if got := f.state(id).Status; got != want {
				t.Errorf("%s: %s, want %s", id, got, want)
			}
		}
		// No monitor at all: nothing probed, NO_MONITOR.
		if err := f.mon.Update(Config{}, []Target{target(1), off}); err != nil {
			t.Fatal(err)
		}
		n := f.sc.count(target(1).Addr)
		time.Sleep(10 * time.Second)
		synctest.Wait()
		f.stop()
		if m := f.sc.count(target(1).Addr); m != n {
			t.Errorf("pool without monitor probed %d times", m-n)
		}
		if got := f.state("m1").Status; got != StatusNoMonitor {
			t.Errorf("m1 without monitor: %s, want NO_MONITOR", got)
		}
	})
}

func TestFrequentUpdatesDoNotPostponeProbes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const delay = 10 * time.Second
		cfg := tcpConfig(delay, time.Second, 1, 1)
		var targets []Target
		for i := range 20 {
			targets = append(targets, target(i))
		}
		t0 := time.Now()
		f := startFixture(t, sequence("P"), cfg, targets...)
		// A reload every 100ms, each changing the config and so waking
		// every member's loop. Were the staggered first probe drawn again
		// on each wake, each member would probe first after an
		// exponentially distributed wait averaging one delay, and all 20
		// within the first interval only with probability 0.63^20.
		for i := range 300 {
			time.Sleep(100 * time.Millisecond)
			cfg.Passive.Failures = 3 + i%2
			if err := f.mon.Update(cfg, targets); err != nil {
				t.Fatal(err)
			}
		}
		synctest.Wait()
		f.stop()
		for _, tg := range targets {
			starts := f.sc.starts(tg.Addr)
			if len(starts) != 3 {
				t.Fatalf("%s: %d probes in 3 intervals of reloads, want 3 %v", tg.ID, len(starts), starts)
			}
			if off := starts[0].Sub(t0); off >= delay {
				t.Fatalf("%s: first probe at +%s, want within the first interval", tg.ID, off)
			}
		}
	})
}
