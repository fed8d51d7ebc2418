package health

import (
	"net/netip"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"lbd/internal/octavia"
)

func TestRiseFallExactCounts(t *testing.T) {
	tests := []struct {
		name       string
		seq        string
		rise, fall int
		want       []event // id, up, probes only
	}{
		{
			name: "confirmed member falls on the Fall-th failure and rises on the Rise-th success",
			seq:  "PFFFPPFFPPPFFFFP", rise: 3, fall: 4,
			// P: confirmed. FFF: 3 < 4. P resets. PFF: no. PPP (9-11): nothing (already up).
			// FFFF (12-15): down on the 15th probe; P (16+) repeats: up on the 18th.
			want: []event{{up: false, probes: 15}, {up: true, probes: 18}},
		},
		{
			name: "a new member goes down on its first failure, then needs Rise and Fall in full",
			seq:  "FPPFFPPFFF", rise: 2, fall: 3,
			// F: unconfirmed, down at once. PP: up on the 3rd. FF P: no. PFFF: down on the 10th.
			want: []event{{up: false, probes: 1}, {up: true, probes: 3}, {up: false, probes: 10}},
		},
		{
			name: "rise 1 fall 1",
			seq:  "PFPFP", rise: 1, fall: 1,
			want: []event{{up: false, probes: 2}, {up: true, probes: 3}, {up: false, probes: 4}, {up: true, probes: 5}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				const delay = 10 * time.Second
				f := startFixture(t, sequence(tt.seq), tcpConfig(delay, 5*time.Second, tt.rise, tt.fall), target(1))
				time.Sleep(20 * delay)
				synctest.Wait()
				f.stop()
				got := f.rec.list()
				if len(got) != len(tt.want) {
					t.Fatalf("got %d reports %+v, want %d", len(got), got, len(tt.want))
				}
				for i, w := range tt.want {
					if got[i].up != w.up || got[i].probes != w.probes || got[i].id != "m1" {
						t.Errorf("report %d = {id %s up %v after probe %d}, want {up %v after probe %d}",
							i, got[i].id, got[i].up, got[i].probes, w.up, w.probes)
					}
				}
			})
		})
	}
}

func TestReportReasonsAndState(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := startFixture(t, sequence("PFFPP"), tcpConfig(time.Second, time.Second, 2, 2), target(1))
		defer f.stop()
		if s := f.state("m1"); !s.Up || s.Checked || s.OperatingStatus != octavia.OperatingOnline {
			t.Fatalf("before the first probe: %+v, want up, unchecked, ONLINE", s)
		}
		time.Sleep(time.Second) // the first probe is within [0, 1s)
		synctest.Wait()
		s := f.state("m1")
		if !s.Checked || s.ConsecutivePassed != 1 || s.ChecksPassed != 1 || s.LastError != "" {
			t.Fatalf("after one passing probe: %+v", s)
		}
		time.Sleep(2 * time.Second)
		synctest.Wait()
		s = f.state("m1")
		if s.Up || s.OperatingStatus != octavia.OperatingError || s.ConsecutiveFailed != 2 || s.Downs != 1 ||
			s.LastError != "scripted failure 3" || s.LastChange != s.LastCheck {
			t.Fatalf("after two failures: %+v", s)
		}
		ev := f.rec.list()
		if len(ev) != 1 || ev[0].up || ev[0].reason != "scripted failure 3" {
			t.Fatalf("reports = %+v, want one down with the failing probe's error", ev)
		}
		time.Sleep(2 * time.Second)
		synctest.Wait()
		ev = f.rec.list()
		if len(ev) != 2 || !ev[1].up || ev[1].reason != "2 consecutive checks passed" {
			t.Fatalf("reports = %+v, want up after 2 passes", ev)
		}
		pc := f.mon.ProbeCounts()
		for _, c := range pc {
			want := ProbeCount{Type: c.Type}
			if c.Type == octavia.MonitorTCP {
				want.Passed, want.Failed = 3, 2
			}
			if c != want {
				t.Errorf("ProbeCounts %s = %+v, want %+v", c.Type, c, want)
			}
		}
	})
}

func TestProbeTimingAndStagger(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const delay = 7 * time.Second
		var targets []Target
		for i := range 100 {
			targets = append(targets, target(i))
		}
		t0 := time.Now()
		f := startFixture(t, sequence("P"), tcpConfig(delay, time.Second, 1, 1), targets...)
		time.Sleep(10*delay - time.Nanosecond)
		synctest.Wait()
		f.stop()
		offsets := map[time.Duration]bool{}
		for _, tg := range targets {
			starts := f.sc.starts(tg.Addr)
			if len(starts) != 10 {
				t.Fatalf("%s: %d probes in 10 intervals, want 10", tg.ID, len(starts))
			}
			off := starts[0].Sub(t0)
			if off < 0 || off >= delay {
				t.Errorf("%s: first probe at +%s, want within [0, %s)", tg.ID, off, delay)
			}
			offsets[off] = true
			for i := 1; i < len(starts); i++ {
				if d := starts[i].Sub(starts[i-1]); d != delay {
					t.Errorf("%s: probe %d came %s after the previous one, want %s", tg.ID, i+1, d, delay)
				}
			}
		}
		// 100 uniform draws in 7s at nanosecond resolution: a collision
		// would mean the offsets are not random.
		if len(offsets) < 100 {
			t.Errorf("only %d distinct first-probe offsets among 100 members", len(offsets))
		}
		if len(f.rec.list()) != 0 {
			t.Errorf("reports for always-passing members: %+v", f.rec.list())
		}
	})
}

func TestSlowProbesNeverOverlap(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const delay = 10 * time.Second
		slow := func(netip.AddrPort, int) (error, time.Duration) { return nil, 25 * time.Second }
		// timeout 30s > delay: Octavia does not forbid it.
		f := startFixture(t, slow, tcpConfig(delay, 30*time.Second, 1, 1), target(1))
		time.Sleep(200 * time.Second)
		synctest.Wait()
		f.stop()
		if f.sc.peak != 1 {
			t.Fatalf("%d probes of one member in flight at once, want 1", f.sc.peak)
		}
		starts := f.sc.starts(target(1).Addr)
		if len(starts) < 5 {
			t.Fatalf("only %d probes", len(starts))
		}
		for i := 1; i < len(starts); i++ {
			// A 25s probe covers the slots at +10s and +20s; the next one
			// is the slot at +30s.
			if d := starts[i].Sub(starts[i-1]); d != 3*delay {
				t.Errorf("probe %d started %s after the previous one, want %s", i+1, d, 3*delay)
			}
		}
	})
}

func TestProbeDeadline(t *testing.T) {
	tests := []struct {
		name                 string
		delay, timeout, conn time.Duration
		want                 time.Duration
	}{
		{"timeout after min(connect, delay)", 10 * time.Second, 3 * time.Second, 5 * time.Second, 8 * time.Second},
		{"connect capped by delay", 2 * time.Second, 3 * time.Second, 5 * time.Second, 5 * time.Second},
		{"timeout 0: delay bounds the probe", 4 * time.Second, 0, 5 * time.Second, 4 * time.Second},
		{"connect default 5s", 30 * time.Second, time.Second, 0, 6 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				hang := func(netip.AddrPort, int) (error, time.Duration) { return nil, time.Hour }
				cfg := tcpConfig(tt.delay, tt.timeout, 1, 1)
				cfg.ConnectTimeout = tt.conn
				f := startFixture(t, hang, cfg, target(1))
				time.Sleep(tt.delay + tt.want + time.Second)
				synctest.Wait()
				f.stop()
				f.sc.mu.Lock()
				defer f.sc.mu.Unlock()
				if len(f.sc.calls) == 0 {
					t.Fatal("no probe completed")
				}
				c := f.sc.calls[0]
				if d := c.end.Sub(c.start); d != tt.want || c.err == nil {
					t.Fatalf("probe cut after %s (err %v), want %s", d, c.err, tt.want)
				}
			})
		})
	}
}

func TestZeroDelayProbesEverySecond(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := startFixture(t, sequence("P"), tcpConfig(0, 0, 1, 1), target(1))
		time.Sleep(10 * time.Second)
		synctest.Wait()
		f.stop()
		starts := f.sc.starts(target(1).Addr)
		if len(starts) != 10 {
			t.Fatalf("%d probes in 10s with delay 0, want 10", len(starts))
		}
		for i := 1; i < len(starts); i++ {
			if d := starts[i].Sub(starts[i-1]); d != ZeroDelayInterval {
				t.Errorf("interval %s, want %s", d, ZeroDelayInterval)
			}
		}
	})
}

func TestMonitorAddressOverride(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tg := target(1)
		tg.MonitorAddr = netip.MustParseAddr("127.0.9.9")
		tg.MonitorPort = 9999
		f := startFixture(t, sequence("P"), tcpConfig(time.Second, time.Second, 1, 1), tg)
		time.Sleep(time.Second)
		synctest.Wait()
		f.stop()
		want := netip.MustParseAddrPort("127.0.9.9:9999")
		if n := f.sc.count(want); n != 1 {
			t.Fatalf("%d probes to %s, want 1", n, want)
		}
		if n := f.sc.count(tg.Addr); n != 0 {
			t.Fatalf("%d probes went to the traffic address", n)
		}
		if got := f.state("m1").ProbeAddr; got != want {
			t.Fatalf("ProbeAddr = %s, want %s", got, want)
		}
	})
}

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
		if !s.Up || s.OperatingStatus != octavia.OperatingNoMonitor {
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
		for id, want := range map[string]octavia.OperatingStatus{
			"m1": octavia.OperatingOnline, "m2": octavia.OperatingOffline, "m3": octavia.OperatingDraining,
		} {
			if got := f.state(id).OperatingStatus; got != want {
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
		if got := f.state("m1").OperatingStatus; got != octavia.OperatingNoMonitor {
			t.Errorf("m1 without monitor: %s, want NO_MONITOR", got)
		}
	})
}

func TestUpdateRejectsBadInput(t *testing.T) {
	mon := NewMonitor(Options{})
	good := tcpConfig(time.Second, time.Second, 1, 1)
	tests := []struct {
		name    string
		cfg     Config
		targets []Target
		want    string
	}{
		{"rise 0", tcpConfig(time.Second, time.Second, 0, 1), nil, "max_retries 0"},
		{"fall 11", tcpConfig(time.Second, time.Second, 1, 11), nil, "max_retries_down 11"},
		{"unsupported type", Config{Type: octavia.MonitorSCTP, Rise: 1, Fall: 1}, nil, `type "SCTP"`},
		{"bad http version", Config{Type: octavia.MonitorHTTP, Rise: 1, Fall: 1, HTTPVersion: "2"}, nil, `http_version "2"`},
		{"passive percent", Config{Passive: Passive{MaxEjectedPercent: 101}}, nil, "max_ejected_percent 101"},
		{"duplicate id", good, []Target{target(1), target(1)}, "member m1: duplicate id"},
		{"empty id", good, []Target{{Addr: target(1).Addr}}, "member 0: empty id"},
		{"no address", good, []Target{{ID: "x"}}, "member x: invalid address"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := mon.Update(tt.cfg, tt.targets)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Update error = %v, want it to mention %q", err, tt.want)
			}
		})
	}
	if len(mon.Status()) != 0 {
		t.Fatal("a failed Update changed the members")
	}
}

func TestRunTwice(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := startFixture(t, sequence("P"), tcpConfig(time.Second, time.Second, 1, 1), target(1))
		synctest.Wait()
		if err := f.mon.Run(t.Context()); err != ErrRunning {
			t.Fatalf("second Run = %v, want ErrRunning", err)
		}
		f.stop()
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
				t.Fatalf("%s: %d probes in 3 intervals of reloads, want 3", tg.ID, len(starts))
			}
			if off := starts[0].Sub(t0); off >= delay {
				t.Fatalf("%s: first probe at +%s, want within the first interval", tg.ID, off)
			}
		}
	})
}
