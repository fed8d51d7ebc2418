package health

import (
	"math"
	"net/netip"
	"strings"
	"testing"
	"testing/synctest"
	"time"
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
		if s := f.state("m1"); !s.Up || s.Checked || s.Status != StatusOnline {
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
		if s.Up || s.Status != StatusError || s.ConsecutiveFailed != 2 || s.Downs != 1 ||
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
			if c.Type == TypeTCP {
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
		// The tenth probes start at the grid point at or after their slot,
		// at most t0+10*delay; an eleventh would need a first slot of
		// exactly t0.
		time.Sleep(10 * delay)
		synctest.Wait()
		f.stop()
		offsets := map[time.Duration]bool{}
		for _, tg := range targets {
			starts := f.sc.starts(tg.Addr)
			if len(starts) != 10 {
				t.Fatalf("%s: %d probes in 10 intervals, want 10", tg.ID, len(starts))
			}
			// The first slot is in [0, delay); the probe starts at the
			// prober's next grid point (t0 is on the grid).
			off := starts[0].Sub(t0)
			if off < 0 || off > delay || off%batchTick != 0 {
				t.Errorf("%s: first probe at +%s, want a multiple of %s within [0, %s]", tg.ID, off, batchTick, delay)
			}
			offsets[off] = true
			for i := 1; i < len(starts); i++ {
				if d := starts[i].Sub(starts[i-1]); d != delay {
					t.Errorf("%s: probe %d came %s after the previous one, want %s", tg.ID, i+1, d, delay)
				}
			}
		}
		// 100 uniform draws among the grid's 700 points in 7s (batchTick
		// 10ms) hit 93 distinct ones on average (standard deviation about
		// 2.5); not random, they would hit a few.
		bins := float64(delay / batchTick)
		if want := 0.85 * bins * (1 - math.Pow(1-1/bins, 100)); float64(len(offsets)) < want {
			t.Errorf("only %d distinct first-probe offsets among 100 members, want at least %.0f", len(offsets), want)
		}
		if len(f.rec.list()) != 0 {
			t.Errorf("reports for always-passing members: %+v", f.rec.list())
		}
	})
}

func TestSlowProbesNeverOverlap(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const delay = 10 * time.Second
		slow := func(netip.AddrPort, int) (time.Duration, error) { return 25 * time.Second, nil }
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
				hang := func(netip.AddrPort, int) (time.Duration, error) { return time.Hour, nil }
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

func TestUpdateRejectsBadInput(t *testing.T) {
	mon := NewMonitor(Options{})
	good := tcpConfig(time.Second, time.Second, 1, 1)
	tests := []struct {
		name    string
		cfg     Config
		targets []Target
		want    string
	}{
		{"unknown type", Config{Type: 99, Rise: 1, Fall: 1}, nil, "type Type(99)"},
		{"bad http version", Config{Type: TypeHTTP, Rise: 1, Fall: 1, HTTPVersion: "2"}, nil, `http_version "2"`},
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
