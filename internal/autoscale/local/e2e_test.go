package local_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"lbd/internal/autoscale"
	"lbd/internal/autoscale/autoscaletest"
	"lbd/internal/autoscale/local"
	"lbd/internal/octavia"
	"lbd/internal/octavia/cloud"
	"lbd/internal/octavia/reconcile"
)

// The whole loop on loopback: a real lbd (its binary), a real Prometheus
// scraping it every 500 ms, lbctl backend processes started and stopped by
// the local provider, the controller in this process, and an open-loop
// load that steps from 1× to 4× and back. The windows are short so that
// the run takes about a minute.
const e2eConfig = `
loadbalancers:
  - name: lb-e2e
    vip_address: 127.0.0.1
    listeners:
      - name: web
        protocol: HTTP
        protocol_port: %d
        default_pool:
          name: web-pool
          protocol: HTTP
          lb_algorithm: ROUND_ROBIN
          healthmonitor: {type: HTTP, delay: 1, timeout: 1, max_retries: 1, max_retries_down: 2, url_path: /health}
openstack:
  vip_subnet: unused
  servers:
    name: e2e%%d
    image: unused
    flavor: unused
    network: unused
    members: [{pool: web-pool, protocol_port: 80}]
  autoscaling:
    min: 1
    max: 4
    prometheus: %s
    interval: 500ms
    window: 3s
    metrics: {requests_per_second: 50}
    scale_out: {stabilization: 0s, cooldown: 1s, max_step: 2}
    scale_in: {stabilization: 4s, cooldown: 1s, max_step: 1}
    drain_timeout: 8s
    heal_after: 3s
`

type loop struct {
	t        *testing.T
	spec     *cloud.Spec
	lc       *reconcile.Client
	provider *local.Provider
	logs     *autoscaletest.Buffer
	source   *autoscale.PromSource
	lock     string
	// first is each member as state first saw it.
	first map[string]autoscale.Member
}

// controller starts a controller, as `lbctl autoscale --provider local`
// builds it but with the file's warm-up (a provider whose servers need
// one: the warm-up runs against a real lbd here; the local provider's own
// rule, joining at the weight, is TestMembersJoinAtTheirWeight's), until
// the returned stop is called.
func (l *loop) controller(name string) (c *autoscale.Controller, stop func()) {
	as := l.spec.Autoscaling
	c = &autoscale.Controller{Group: as.Group, Policy: as.Policy, Memberships: as.Memberships, Pattern: as.Pattern,
		Provider: l.provider, Source: l.source, Locker: &autoscale.FileLock{Path: l.lock, Poll: 50 * time.Millisecond},
		Members: &autoscale.OctaviaPool{Client: l.lc, LoadBalancer: l.spec.LB.Name, MetricsPool: as.Policy.Pool, Tag: autoscale.Tag(as.Group)},
		Log:     slog.New(slog.NewTextHandler(l.logs, nil)).With("controller", name),
		Stats:   autoscale.NewStats(as.Group), Recorder: autoscale.NewRecorder(time.Now())}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); c.Run(ctx) }()
	return c, func() { cancel(); <-done }
}

// state is the group as lbd and /proc have it: the backends and the
// members ONLINE.
type state struct {
	pids   []string
	online int
	names  map[string]string // by PID
}

func (l *loop) state() state {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var st state
	st.names = map[string]string{}
	servers, err := l.provider.Servers(ctx)
	if err != nil {
		l.t.Fatal(err)
	}
	for _, s := range servers {
		st.pids = append(st.pids, s.ID)
		st.names[s.ID] = fmt.Sprintf("%s:%d", s.Address, s.Port)
	}
	view, err := (&autoscale.OctaviaPool{Client: l.lc, LoadBalancer: l.spec.LB.Name, MetricsPool: "web-pool", Tag: autoscale.Tag(l.spec.Autoscaling.Group)}).Read(ctx)
	if err != nil {
		l.t.Fatal(err)
	}
	for _, m := range view.Members {
		if _, seen := l.first[m.ID]; !seen {
			l.first[m.ID] = m
		}
		if m.Status == "ONLINE" && m.Weight > 0 {
			st.online++
		}
	}
	return st
}

func (l *loop) waitFor(what string, within time.Duration, ok func(state) bool) (state, time.Duration) {
	l.t.Helper()
	start := time.Now()
	for {
		st := l.state()
		if ok(st) {
			return st, time.Since(start)
		}
		if time.Since(start) > within {
			l.t.Fatalf("%s: not within %s (backends %v, %d ONLINE)\ncontroller logs:\n%s", what, within, st.pids, st.online, tail(l.logs.String(), 60))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func TestLocalLoopEndToEnd(t *testing.T) {
	lbdBin, lbctlBin := autoscaletest.Build(t, "lbd"), autoscaletest.Build(t, "lbctl")
	lbd := autoscaletest.StartLBD(t, lbdBin)
	prom := autoscaletest.StartPrometheus(t, 500*time.Millisecond, lbd.Admin)
	port := autoscaletest.FreePort(t)
	cfg, err := octavia.Parse("e2e.yaml", fmt.Appendf(nil, e2eConfig, port, prom.URL))
	if err != nil {
		t.Fatal(err)
	}
	spec, err := cloud.NewSpec(cfg, "e2e.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// A group name of this run's own: backends of other runs are not ours.
	spec.Autoscaling.Group += fmt.Sprintf("-%d", port)
	lc := reconcile.NewDirect(lbd.API, "")
	ctx := context.Background()
	if _, err := lc.Apply(ctx, cfg, reconcile.Options{VIPSubnetID: "00000000-0000-0000-0000-000000000000"}); err != nil {
		t.Fatal(err)
	}
	src, err := autoscale.NewPromSource(prom.URL, "")
	if err != nil {
		t.Fatal(err)
	}
	l := &loop{t: t, spec: spec, lc: lc, logs: &autoscaletest.Buffer{}, source: src, lock: t.TempDir() + "/lock", first: map[string]autoscale.Member{},
		provider: &local.Provider{Exe: lbctlBin, Group: spec.Autoscaling.Group, Args: []string{"--latency", "30ms"}, LogDir: t.TempDir()}}
	t.Cleanup(func() {
		if err := l.provider.Close(context.Background()); err != nil {
			t.Errorf("stop the backends: %v", err)
		}
		if t.Failed() {
			t.Logf("lbd logs:\n%s\nprometheus logs:\n%s", tail(lbd.Logs.String(), 30), tail(prom.Logs.String(), 30))
		}
	})

	// Start: below min, one backend at once; it counts once ONLINE.
	c1, stop1 := l.controller("first")
	l.waitFor("the first backend ONLINE", 15*time.Second, func(s state) bool { return len(s.pids) == 1 && s.online == 1 })
	load := autoscaletest.StartLoad(t, fmt.Sprintf("127.0.0.1:%d", port), 45)
	time.Sleep(3 * time.Second) // 1× (45/s): one backend is enough
	if s := l.state(); len(s.pids) != 1 {
		t.Fatalf("at 1× (45/s for a target of 50/s each): %d backends, want 1", len(s.pids))
	}

	// 4× (180/s): out to 4 (3.6 × 50/s), two at a time; 3 would be 1.2 × the target, outside the tolerance.
	load.SetRate(180)
	_, firstNew := l.waitFor("a second backend ONLINE after the step to 4×", 15*time.Second, func(s state) bool { return s.online >= 2 })
	four, settle := l.waitFor("4 backends ONLINE at 4×", 20*time.Second, func(s state) bool { return s.online == 4 && len(s.pids) == 4 })
	t.Logf("1× → 4×: first new member ONLINE after %s, all 4 after %s", firstNew.Round(100*time.Millisecond), (firstNew + settle).Round(100*time.Millisecond))
	// Each member came in warming: weight 0 until its first health check
	// passed (Membership.Warmup is 3 s here, so the polls above saw it).
	if len(l.first) < 4 {
		t.Errorf("%d members seen up to 4×, want 4", len(l.first))
	}
	for id, m := range l.first {
		if !m.Warming || m.Weight != 0 {
			t.Errorf("member %s (%s:%d) first seen with weight %d, warming %v: want it added at weight 0, warming", id, m.Address, m.Port, m.Weight, m.Warming)
		}
	}
	if n := strings.Count(l.logs.String(), "action=admit "); n < 4 {
		t.Errorf("%d admit actions for 4 members", n)
	}
	time.Sleep(2 * time.Second)
	if s := l.state(); len(s.pids) != 4 {
		t.Fatalf("at 4×, 2 s after settling: %d backends, want 4 (max 4)", len(s.pids))
	}

	// A backend killed: its member goes, a new backend takes its place.
	victim := four.pids[0]
	if err := kill(victim); err != nil {
		t.Fatal(err)
	}
	l.waitFor("the killed backend replaced", 15*time.Second, func(s state) bool {
		return len(s.pids) == 4 && s.online == 4 && !contains(s.pids, victim)
	})

	// A backend whose health check fails (member ERROR) past heal_after:
	// replaced too.
	s := l.state()
	sick := s.pids[0]
	resp, err := http.Post("http://"+s.names[sick]+"/health/down", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	l.waitFor("the backend in ERROR replaced", 20*time.Second, func(s state) bool {
		return len(s.pids) == 4 && s.online == 4 && !contains(s.pids, sick)
	})
	if !strings.Contains(l.logs.String(), "action=heal") {
		t.Errorf("no heal action logged:\n%s", tail(l.logs.String(), 40))
	}

	// A controller that restarts finds the 4 backends and makes none.
	stop1()
	before := l.state()
	c2, stop2 := l.controller("second")
	defer func() { stop2() }()
	// The second holds the group's lock once it decides (only the lock's
	// holder does); before that the third, started now, could take it.
	for start := time.Now(); ; time.Sleep(50 * time.Millisecond) {
		if points, _ := c2.Recorder.Snapshot(); len(points) > 0 {
			break
		}
		if time.Since(start) > 15*time.Second {
			t.Fatalf("the restarted controller made no decision within 15 s\ncontroller logs:\n%s", tail(l.logs.String(), 60))
		}
	}
	// Two controllers on one group: the third waits for the lock, and
	// does nothing for as long as it waits (3 s of nothing to see).
	c3, stop3 := l.controller("third")
	time.Sleep(3 * time.Second)
	stop3()
	after := l.state()
	if strings.Join(after.pids, ",") != strings.Join(before.pids, ",") {
		t.Errorf("across a restart the backends went from %v to %v", before.pids, after.pids)
	}
	points2, events2 := c2.Recorder.Snapshot()
	for _, ev := range events2 {
		t.Errorf("restarted controller acted: %+v", ev)
	}
	if len(c3.Recorder.Points) > 0 || len(c3.Recorder.Events) > 0 {
		t.Errorf("a controller without the lock decided or acted: %d decisions, %+v", len(c3.Recorder.Points), c3.Recorder.Events)
	}
	if len(c1.Recorder.Points) == 0 || len(points2) == 0 {
		t.Errorf("decisions: first %d, second %d", len(c1.Recorder.Points), len(points2))
	}

	// Prometheus down, load at 1×: the count holds at 4 (never in on
	// missing data), well past the scale-in window and cooldown.
	prom.Stop()
	load.SetRate(45)
	time.Sleep(8 * time.Second)
	if s := l.state(); len(s.pids) != 4 {
		t.Fatalf("Prometheus down for 8 s at 1×: %d backends, want 4 held", len(s.pids))
	}
	if n := strings.Count(l.logs.String(), "reason=no_data"); n < 3 {
		t.Errorf("%d no_data decisions logged while Prometheus was down", n)
	}

	// Prometheus back: in to 1, draining each backend first; no request
	// fails.
	prom.Start()
	from := load.Since()
	l.waitFor("back to 1 backend at 1×", 40*time.Second, func(s state) bool { return len(s.pids) == 1 && s.online == 1 })
	time.Sleep(time.Second) // requests due up to now are answered or failed
	to := load.Since()
	load.Stop()
	if failed := load.FailedBetween(from, to); len(failed) > 0 {
		t.Errorf("%d requests failed during the scale-in (%s to %s): first %+v", len(failed), from.Round(time.Second), to.Round(time.Second), failed[0])
	}
	// Each of the 3 left after a drain (weight 0) showed no connection
	// left, not at the drain timeout. (lbd retries a GET that a member cut
	// on another one, so the load alone would not see a missing drain.)
	logs := l.logs.String()
	drains, done := strings.Count(logs, "action=drain "), strings.Count(logs, `why="drained: no connection left`)
	if drains < 3 || done < 3 || strings.Contains(logs, "drain timeout") {
		t.Errorf("4 → 1: %d drains, %d ended with no connection left, timeouts: %v", drains, done, strings.Contains(logs, "drain timeout"))
	}
	t.Logf("scale-in 4 → 1 in %s with %d requests and none failed", (to - from).Round(100*time.Millisecond), countBetween(load, from, to))
}

func countBetween(l *autoscaletest.Load, from, to time.Duration) int {
	n := 0
	for _, s := range l.Timeline.Seconds() {
		if s.At >= from-time.Second && s.At < to {
			n += s.Requests
		}
	}
	return n
}

func kill(pid string) error {
	var n int
	if _, err := fmt.Sscan(pid, &n); err != nil {
		return err
	}
	return syscall.Kill(n, syscall.SIGKILL)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestMembersJoinAtTheirWeight: a member the controller adds comes in
// warming (weight 0, WarmingTag) when its membership has a warm-up, and at
// its weight when it has none, as the local provider's memberships do
// (its backends accept connections before they are ACTIVE).
func TestMembersJoinAtTheirWeight(t *testing.T) {
	lbd := autoscaletest.StartLBD(t, autoscaletest.Build(t, "lbd"))
	cfg, err := octavia.Parse("e2e.yaml", fmt.Appendf(nil, e2eConfig, autoscaletest.FreePort(t), "http://127.0.0.1:9"))
	if err != nil {
		t.Fatal(err)
	}
	spec, err := cloud.NewSpec(cfg, "e2e.yaml")
	if err != nil {
		t.Fatal(err)
	}
	lc := reconcile.NewDirect(lbd.API, "")
	ctx := context.Background()
	if _, err := lc.Apply(ctx, cfg, reconcile.Options{VIPSubnetID: "00000000-0000-0000-0000-000000000000"}); err != nil {
		t.Fatal(err)
	}
	as := spec.Autoscaling
	pool := &autoscale.OctaviaPool{Client: lc, LoadBalancer: spec.LB.Name, MetricsPool: as.Policy.Pool, Tag: autoscale.Tag(as.Group)}
	file := as.Memberships[0]
	file.Weight = 3
	if file.Warmup == 0 {
		t.Fatal("the file's monitor gives no warm-up")
	}
	lp := &local.Provider{Group: as.Group}
	for i, mb := range []autoscale.Membership{file, lp.Memberships([]autoscale.Membership{file})[0]} {
		view, err := pool.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		s := autoscale.Server{ID: fmt.Sprint(i), Name: fmt.Sprintf("s%d", i), Address: "127.0.0.1", Port: autoscaletest.FreePort(t), Status: autoscale.StatusActive}
		if err := pool.Add(ctx, view, s, mb); err != nil {
			t.Fatal(err)
		}
	}
	view, err := pool.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, m := range view.Members {
		got[m.Name] = fmt.Sprintf("weight %d warming %v", m.Weight, m.Warming)
	}
	want := map[string]string{"s0": "weight 0 warming true", "s1": "weight 3 warming false"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("members: %v, want %v (s0 with the file's warm-up, s1 with the local provider's memberships)", got, want)
	}
}
