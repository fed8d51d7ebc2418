package health

import (
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

func TestPassiveEjectionWithoutMonitor(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := startFixture(t, sequence("P"), Config{}, target(1), target(2))
		defer f.stop()
		obs := f.mon.Observer("m1")

		// A success in between breaks the streak.
		obs.ConnectFailure()
		obs.ConnectFailure()
		obs.Success()
		obs.ConnectFailure()
		obs.ConnectFailure()
		if ev := f.rec.list(); len(ev) != 0 {
			t.Fatalf("ejected without 3 consecutive failures: %+v", ev)
		}
		t0 := time.Now()
		obs.ConnectFailure() // third in a row
		ev := f.rec.list()
		if len(ev) != 1 || ev[0].up || ev[0].id != "m1" ||
			ev[0].reason != "passive: 3 consecutive connect failures, ejected for 10s" {
			t.Fatalf("reports = %+v, want m1 ejected at once", ev)
		}
		s := f.state("m1")
		if s.Up || !s.Ejected || s.Status != StatusError || s.EjectedUntil != t0.Add(10*time.Second) || s.Ejections != 1 {
			t.Fatalf("ejected member: %+v", s)
		}
		time.Sleep(10 * time.Second)
		synctest.Wait()
		ev = f.rec.list()
		if len(ev) != 2 || !ev[1].up || ev[1].at != t0.Add(10*time.Second) || ev[1].reason != "passive ejection of 10s ended" {
			t.Fatalf("reports = %+v, want readmission exactly 10s later", ev)
		}
		if s := f.state("m1"); !s.Up || s.Ejected || s.Status != StatusNoMonitor {
			t.Fatalf("readmitted member: %+v", s)
		}

		// Ejected again soon after: the back-off doubles.
		time.Sleep(time.Minute)
		for range 3 {
			obs.ConnectFailure()
		}
		t1 := time.Now()
		time.Sleep(19 * time.Second)
		synctest.Wait()
		if f.state("m1").Up {
			t.Fatal("second ejection ended before 20s")
		}
		time.Sleep(time.Second)
		synctest.Wait()
		ev = f.rec.list()
		if len(ev) != 4 || !ev[3].up || ev[3].at != t1.Add(20*time.Second) {
			t.Fatalf("reports = %+v, want readmission 20s after the second ejection", ev)
		}

		// After behaving for longer than MaxEjection, it starts over at 10s.
		time.Sleep(DefaultMaxEjection + time.Second)
		for range 3 {
			obs.ConnectFailure()
		}
		if s := f.state("m1"); time.Until(s.EjectedUntil) != 10*time.Second {
			t.Fatalf("ejection after a calm period lasts %s, want 10s", time.Until(s.EjectedUntil))
		}
		if s := f.state("m2"); !s.Up || s.Ejections != 0 {
			t.Fatalf("m2 affected by m1's failures: %+v", s)
		}
	})
}

func TestPassiveBackoffCap(t *testing.T) {
	p := Passive{Ejection: 10 * time.Second, MaxEjection: time.Minute}.resolve()
	want := []time.Duration{10 * time.Second, 20 * time.Second, 40 * time.Second, time.Minute, time.Minute}
	for level, w := range want {
		if got := p.backoff(level); got != w {
			t.Errorf("backoff(%d) = %s, want %s", level, got, w)
		}
	}
	if got := p.backoff(1000); got != time.Minute {
		t.Errorf("backoff(1000) = %s, want the cap", got)
	}
}

func TestPassiveEjectionWithMonitor(t *testing.T) {
	tests := []struct {
		name string
		seq  string // probes: at 1s, 2s, ... (delay 1s)
		// readmitted is how long after the ejection the member is back.
		readmitted time.Duration
	}{
		// Probes pass throughout: the 3rd pass after the ejection readmits
		// the member without waiting out the 10s back-off (-1: checked
		// below).
		{"checks passing", "P", -1},
		// Probes fail until t=14s, then pass: back at the 3rd pass after
		// the ejection ended.
		{"checks failing until after the ejection", "PPPPPFFFFFFFFFFFFFFPPPPP", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				cfg := tcpConfig(time.Second, time.Second, 3, 3)
				f := startFixture(t, sequence(tt.seq), cfg, target(1))
				defer f.stop()
				time.Sleep(5 * time.Second) // 5 passes
				synctest.Wait()
				obs := f.mon.Observer("m1")
				for range 3 {
					obs.ConnectFailure()
				}
				t0 := time.Now()
				ev := f.rec.list()
				if len(ev) != 1 || ev[0].up {
					t.Fatalf("reports = %+v, want one down", ev)
				}
				time.Sleep(30 * time.Second)
				synctest.Wait()
				ev = f.rec.list()
				if len(ev) != 2 || !ev[1].up {
					t.Fatalf("reports = %+v, want readmission", ev)
				}
				got := ev[1].at.Sub(t0)
				if tt.readmitted < 0 {
					// Probes run every second from some phase: the 3rd one
					// after the ejection comes between 2s and 3s later.
					if got <= 2*time.Second || got > 3*time.Second || ev[1].reason != "3 consecutive checks passed; passive ejection ended" {
						t.Fatalf("readmitted after %s (%q), want by the 3rd pass, within 3s", got, ev[1].reason)
					}
					return
				}
				if tt.readmitted != 0 && got != tt.readmitted {
					t.Fatalf("readmitted after %s, want %s", got, tt.readmitted)
				}
				if tt.readmitted == 0 {
					// Probes 20-22 (after the 14 failures that follow the 5
					// passes) bring it back, at the 22nd probe, with the
					// active reason.
					if ev[1].probes != 22 || ev[1].reason != "3 consecutive checks passed" {
						t.Fatalf("readmitted at probe %d (%q), want at probe 22 by the checks", ev[1].probes, ev[1].reason)
					}
				} else if !strings.HasSuffix(ev[1].reason, "checks passing") {
					t.Fatalf("readmission reason %q", ev[1].reason)
				}
			})
		})
	}
}

func TestPassiveServerErrors(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := Config{}
		f := startFixture(t, sequence("P"), cfg, target(1))
		defer f.stop()
		obs := f.mon.Observer("m1")
		// Off by default: a 5xx is an answer and ends a streak.
		obs.ConnectFailure()
		obs.ConnectFailure()
		obs.ServerError()
		obs.ConnectFailure()
		for range 10 {
			obs.ServerError()
		}
		if ev := f.rec.list(); len(ev) != 0 {
			t.Fatalf("5xx counted with ServerErrors off: %+v", ev)
		}
		cfg.Passive.ServerErrors = true
		if err := f.mon.Update(cfg, []Target{target(1)}); err != nil {
			t.Fatal(err)
		}
		obs.ServerError()
		obs.ConnectFailure()
		obs.ServerError()
		ev := f.rec.list()
		if len(ev) != 1 || ev[0].up || !strings.Contains(ev[0].reason, "connect failures or 5xx responses") {
			t.Fatalf("reports = %+v, want an ejection counting 5xx", ev)
		}
	})
}

func TestPassiveDisabledAndCap(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := Config{}
		f := startFixture(t, sequence("P"), cfg, target(1), target(2), target(3), target(4), target(5))
		defer f.stop()
		// 50% of 5 members: at most 2 ejected at once.
		for _, id := range []string{"m1", "m2", "m3"} {
			for range 3 {
				f.mon.Observer(id).ConnectFailure()
			}
		}
		if s := f.state("m3"); !s.Up || s.Ejected {
			t.Fatalf("third of five members ejected: %+v", s)
		}
		if !f.state("m1").Ejected || !f.state("m2").Ejected {
			t.Fatal("first two members not ejected")
		}
		// Disabling passive health readmits at once.
		cfg.Passive.Disabled = true
		if err := f.mon.Update(cfg, []Target{target(1), target(2), target(3), target(4), target(5)}); err != nil {
			t.Fatal(err)
		}
		for _, s := range f.mon.Status() {
			if !s.Up || s.Ejected {
				t.Fatalf("%s still out after passive health was disabled: %+v", s.ID, s)
			}
		}
		for range 10 {
			f.mon.Observer("m4").ConnectFailure()
		}
		if s := f.state("m4"); !s.Up {
			t.Fatal("ejected with passive health disabled")
		}
		// Unknown members get a nil Observer, which is safe to call.
		var o *Observer = f.mon.Observer("nope")
		if o != nil {
			t.Fatal("Observer for an unknown member is not nil")
		}
		o.ConnectFailure()
		o.ServerError()
		o.Success()
	})
}

func TestPassiveRemovedMemberStaysRemoved(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := startFixture(t, sequence("P"), Config{}, target(1), target(2))
		defer f.stop()
		obs := f.mon.Observer("m1")
		for range 3 {
			obs.ConnectFailure()
		}
		if err := f.mon.Update(Config{}, []Target{target(2)}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Minute)
		synctest.Wait()
		if ev := f.rec.list(); len(ev) != 1 {
			t.Fatalf("reports = %+v, want no readmission of a removed member", ev)
		}
		// Its slot is free again: m2 (the only member) may be ejected.
		for range 3 {
			f.mon.Observer("m2").ConnectFailure()
		}
		if f.state("m2").Up {
			t.Fatal("m2 not ejected: the removed member still holds an ejection slot")
		}
	})
}

func TestObserverAllocatesNothing(t *testing.T) {
	mon := NewMonitor(Options{})
	if err := mon.Update(Config{Passive: Passive{Failures: 1 << 30}}, []Target{target(1)}); err != nil {
		t.Fatal(err)
	}
	obs := mon.Observer("m1")
	if n := testing.AllocsPerRun(1000, obs.Success); n != 0 {
		t.Errorf("Success allocates %v times", n)
	}
	if n := testing.AllocsPerRun(1000, obs.ConnectFailure); n != 0 {
		t.Errorf("ConnectFailure below the threshold allocates %v times", n)
	}
	if n := testing.AllocsPerRun(1000, obs.ServerError); n != 0 {
		t.Errorf("ServerError allocates %v times", n)
	}
}

func BenchmarkObserverSuccess(b *testing.B) {
	mon := NewMonitor(Options{})
	if err := mon.Update(Config{}, []Target{target(1)}); err != nil {
		b.Fatal(err)
	}
	obs := mon.Observer("m1")
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			obs.Success()
		}
	})
}
