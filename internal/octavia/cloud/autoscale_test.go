package cloud

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"lbd/internal/autoscale"
	"lbd/internal/autoscale/autoscaletest"
	"lbd/internal/octavia/peertest"
	"lbd/internal/octavia/reconcile"
)

// netns is a network namespace of the test's own, joined to the host by a
// veth pair that carries the servers' subnet (10.0.2.0/24): the host side
// has the subnet's gateway address, the namespace side each server's fixed
// IP as the test plays cloud-init. Nova's fake driver runs nothing, so
// this is where the servers' web servers run. Nothing is sent to the
// subnet before `ip route get` shows that it goes into this veth.
type netns struct {
	t          *testing.T
	name       string
	host, peer string // veth ends
}

func ipCmd(args ...string) (string, error) {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// newNetns creates the namespace and the veth with gateway/prefix on the
// host side; it skips the test when the kernel refuses namespaces. The
// namespace and the veth are removed when the test ends, however it ends.
func newNetns(t *testing.T, gateway string, prefix int) *netns {
	t.Helper()
	b := make([]byte, 3)
	rand.Read(b)
	id := hex.EncodeToString(b)
	n := &netns{t: t, name: "lbd-as-" + id, host: "as" + id + "h", peer: "as" + id + "n"}
	if out, err := ipCmd("netns", "add", n.name); err != nil {
		if strings.Contains(out, "Operation not permitted") || strings.Contains(out, "Permission denied") {
			t.Skipf("the kernel refuses a network namespace (%v): this test plays cloud-init in one; run it as root", err)
		}
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Deleting the namespace deletes its veth end, and with it the
		// host's; the explicit delete is for a failure in between.
		if _, err := ipCmd("netns", "del", n.name); err != nil {
			t.Errorf("remove the namespace: %v", err)
		}
		ipCmd("link", "del", n.host)
		if out, _ := ipCmd("link", "show", n.host); strings.Contains(out, n.host+"@") {
			t.Errorf("veth %s still exists", n.host)
		}
	})
	for _, args := range [][]string{
		{"link", "add", n.host, "type", "veth", "peer", "name", n.peer, "netns", n.name},
		{"addr", "add", fmt.Sprintf("%s/%d", gateway, prefix), "dev", n.host},
		{"link", "set", n.host, "up"},
		{"-n", n.name, "link", "set", "lo", "up"},
		{"-n", n.name, "link", "set", n.peer, "up"},
		// The servers' addresses share the veth and the subnet: the
		// first is the primary, the others secondaries, which Linux
		// deletes with the primary unless it promotes one.
		{"netns", "exec", n.name, "sh", "-c", "echo 1 >/proc/sys/net/ipv4/conf/all/promote_secondaries"},
	} {
		if _, err := ipCmd(args...); err != nil {
			t.Fatal(err)
		}
	}
	return n
}

// routesHere reports whether the host sends to ip through this namespace's
// veth; the test refuses to go on otherwise.
func (n *netns) routesHere(ip string) error {
	out, err := ipCmd("route", "get", ip)
	if err != nil {
		return err
	}
	if !strings.Contains(out, " dev "+n.host+" ") {
		return fmt.Errorf("refusing to send anything to %s: the host routes it elsewhere, not into the test's veth %s: %s", ip, n.host, strings.TrimSpace(out))
	}
	return nil
}

// cloudInit watches the group's servers and does what cloud-init would on
// each: once a server is ACTIVE, its fixed IP goes on the namespace's
// veth and a web server (lbctl backend) listens on it, port 80; when the
// server is deleted both go.
type cloudInit struct {
	n     *netns
	bin   string
	group *Group
	mu    sync.Mutex
	web   map[string]*exec.Cmd // by server ID; nil: its web server was killed
	addr  map[string]string
	order []string // server IDs, as their addresses came up
	err   error
	// Log gets a line when a server's address comes up or goes (for
	// the run's record).
	Log autoscaletest.Buffer
}

func (c *cloudInit) logf(format string, args ...any) {
	fmt.Fprintf(&c.Log, "%s "+format+"\n", append([]any{time.Now().UTC().Format("15:04:05.000")}, args...)...)
}

func (c *cloudInit) run(ctx context.Context) {
	for ctx.Err() == nil {
		servers, err := c.group.Servers(ctx)
		if err == nil {
			c.sync(servers)
		}
		if c.failed() != nil {
			return
		}
		select {
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (c *cloudInit) failed() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

func (c *cloudInit) sync(servers []autoscale.Server) {
	c.mu.Lock()
	defer c.mu.Unlock()
	live := map[string]bool{}
	for _, s := range servers {
		if s.Status != autoscale.StatusActive || s.Address == "" {
			continue
		}
		live[s.ID] = true
		if _, seen := c.web[s.ID]; seen {
			continue
		}
		if err := c.n.routesHere(s.Address); err != nil {
			c.err = err
			return
		}
		if _, err := ipCmd("-n", c.n.name, "addr", "add", s.Address+"/24", "dev", c.n.peer); err != nil {
			c.err = err
			return
		}
		cmd := exec.Command("ip", "netns", "exec", c.n.name, c.bin, "backend", "--listen", s.Address+":80", "--name", s.Name)
		cmd.SysProcAttr = autoscaletest.DieWithTest()
		if err := cmd.Start(); err != nil {
			c.err = err
			return
		}
		c.web[s.ID], c.addr[s.ID] = cmd, s.Address
		c.order = append(c.order, s.ID)
		c.logf("%s %s: address up, web server started", s.Name, s.Address)
	}
	for id := range c.web {
		if !live[id] {
			c.stop(id)
			ipCmd("-n", c.n.name, "addr", "del", c.addr[id]+"/24", "dev", c.n.peer)
			c.logf("%s %s: deleted, address and web server gone", id, c.addr[id])
			delete(c.web, id)
			delete(c.addr, id)
		}
	}
}

func (c *cloudInit) stop(id string) {
	if cmd := c.web[id]; cmd != nil {
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		c.web[id] = nil
	}
}

// primary is the server among ids whose address came up first: the
// veth's primary address.
func (c *cloudInit) primary(ids []string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, id := range c.order {
		if _, live := c.addr[id]; live && slices.Contains(ids, id) {
			return id
		}
	}
	return ids[0]
}

// kill kills a server's web server (the server stays ACTIVE, its member
// goes to ERROR).
func (c *cloudInit) kill(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stop(id)
	c.logf("%s %s: web server killed", id, c.addr[id])
}

func (c *cloudInit) stopAll() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for id := range c.web {
		c.stop(id)
	}
}

// The peer's version of the local loop: Nova (fake driver) makes the
// servers, the Neutron lease is the lock, lbd (reached through cloud
// peer-lbd, as Octavia) carries the members, health-checking and proxying
// into the test's namespace, and a real Prometheus scrapes lbd.
func TestAutoscaleOnThePeer(t *testing.T) {
	peertest.Need(t)
	n := newNetns(t, "10.0.2.1", 24)
	for _, ip := range []string{"10.0.2.2", "10.0.2.128", "10.0.2.254"} {
		if err := n.routesHere(ip); err != nil {
			t.Fatal(err)
		}
	}
	lbdBin, lbctlBin := autoscaletest.Build(t, "lbd"), autoscaletest.Build(t, "lbctl")
	report := os.Getenv("LBD_AUTOSCALE_REPORT")
	logDir := t.TempDir()
	if report != "" {
		if err := os.MkdirAll(report, 0o755); err != nil {
			t.Fatal(err)
		}
		logDir = report
	}
	// Every request with its member and timings (%Tc: the connect to the
	// member), to read a latency peak against the members' additions in
	// controller.log and cloudinit.log.
	accessLog := filepath.Join(logDir, "access.log")
	lbd := autoscaletest.StartLBD(t, lbdBin, "--access-log", "file:"+accessLog, "--access-log-format", accessFormat)
	prom := autoscaletest.StartPrometheus(t, 500*time.Millisecond, lbd.Admin)

	raw, err := os.ReadFile("../../../configs/tutorial-autoscale.yaml")
	if err != nil {
		t.Fatal(err)
	}
	src := string(raw)
	for from, to := range map[string]string{
		"http://127.0.0.1:9090": prom.URL,
		"interval: 15s":         "interval: 500ms",
		"window: 1m":            "window: 3s",
		"scale_out: {stabilization: 0s, cooldown: 30s, max_step: 2}":             "scale_out: {stabilization: 0s, cooldown: 1s, max_step: 2}",
		"scale_in: {stabilization: 5m, cooldown: 1m, max_step: 1, pick: newest}": "scale_in: {stabilization: 4s, cooldown: 1s, max_step: 1, pick: newest}",
		"drain_timeout: 60s": "drain_timeout: 8s",
		"heal_after: 2m":     "heal_after: 3s",
		"{type: HTTP, delay: 5, max_retries: 3, timeout: 4, url_path: /}":         "{type: HTTP, delay: 1, max_retries: 1, max_retries_down: 2, timeout: 1, url_path: /}",
		"      active_connections: 50         # per member\n":                     "",
		"      p95_latency: 250ms             # the listener's 95th percentile\n": "",
		"requests_per_second: 100":                                                "requests_per_second: 50",
	} {
		if !strings.Contains(src, from) {
			t.Fatalf("configs/tutorial-autoscale.yaml has no %q", from)
		}
		src = strings.Replace(src, from, to, 1)
	}
	sfx := peertest.Suffix()
	spec := loadSpec(t, src, sfx)
	spec.OS.FloatingIPNetwork = "" // lbd's VIP is on loopback: no port to float an IP on
	spec.Autoscaling.Group, spec.Autoscaling.Pattern = spec.LB.Name, spec.OS.Servers.Name
	port := autoscaletest.FreePort(t)
	spec.LB.Listeners[0].ProtocolPort = port

	ctx := context.Background()
	clients, err := Connect(ctx, AuthOptions{Cloud: "peer-lbd", LBEndpoint: lbd.API})
	if err != nil {
		t.Fatalf("connect through peer-lbd: %v", err)
	}
	p := provisioner(t, clients)
	t.Cleanup(func() {
		dctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		if _, err := p.Down(dctx, spec, false, false); err != nil {
			t.Errorf("down: %v", err)
		}
	})
	if _, err := p.Up(ctx, spec, false); err != nil {
		t.Fatalf("up: %v", err)
	}
	g, err := p.AutoscaleGroup(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	ci := &cloudInit{n: n, bin: lbctlBin, group: g, web: map[string]*exec.Cmd{}, addr: map[string]string{}}
	ciCtx, ciStop := context.WithCancel(ctx)
	ciDone := make(chan struct{})
	go func() { defer close(ciDone); ci.run(ciCtx) }()
	t.Cleanup(func() { ciStop(); <-ciDone; ci.stopAll() })

	promSrc, err := autoscale.NewPromSource(prom.URL, "")
	if err != nil {
		t.Fatal(err)
	}
	logs := &autoscaletest.Buffer{}
	// The first controller and the one restarted share a record: the
	// run's chart (LBD_AUTOSCALE_REPORT, make autoscale-figures).
	recStart := time.Now()
	rec := autoscale.NewRecorder(recStart)
	as := spec.Autoscaling
	members := &autoscale.OctaviaPool{Client: p.LBClient(spec), LoadBalancer: spec.LB.Name, MetricsPool: as.Policy.Pool, Tag: autoscale.Tag(as.Group)}
	controller := func(name string, rec *autoscale.Recorder) (*autoscale.Controller, func()) {
		c := &autoscale.Controller{Group: as.Group, Policy: as.Policy, Memberships: as.Memberships, Pattern: as.Pattern,
			Provider: g, Members: members, Source: promSrc, Locker: &NeutronLock{Clients: clients, Group: as.Group, TTL: 15 * time.Second}, // a renewal may take seconds on a loaded peer
			Log:   slog.New(slog.NewTextHandler(logs, nil)).With("controller", name),
			Stats: autoscale.NewStats(as.Group), Recorder: rec}
		cctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { defer close(done); c.Run(cctx) }()
		return c, func() { cancel(); <-done }
	}
	// state: the group's servers (IDs) and its members ONLINE.
	state := func() ([]string, int) {
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		servers, err := g.Servers(sctx)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, s := range servers {
			if s.Status != autoscale.StatusDeleting {
				ids = append(ids, s.ID)
			}
		}
		slices.Sort(ids)
		view, err := members.Read(sctx)
		if err != nil {
			t.Fatal(err)
		}
		online := 0
		for _, m := range view.Members {
			if m.Status == "ONLINE" && m.Weight > 0 {
				online++
			}
		}
		return ids, online
	}
	waitFor := func(what string, within time.Duration, ok func(ids []string, online int) bool) ([]string, time.Duration) {
		t.Helper()
		start := time.Now()
		for {
			if err := ci.failed(); err != nil {
				t.Fatal(err)
			}
			ids, online := state()
			if ok(ids, online) {
				return ids, time.Since(start)
			}
			if time.Since(start) > within {
				t.Fatalf("%s: not within %s (servers %v, %d ONLINE)\ncontroller:\n%s", what, within, ids, online, lastLines(logs.String(), 50))
			}
			time.Sleep(200 * time.Millisecond)
		}
	}

	_, stop1 := controller("first", rec)
	waitFor("the first server's member ONLINE", 60*time.Second, func(ids []string, online int) bool { return len(ids) == 1 && online == 1 })
	load := autoscaletest.StartLoad(t, fmt.Sprintf("127.0.0.1:%d", port), 45)
	var figures []string
	if report != "" {
		t.Cleanup(func() { writePeerRun(t, report, rec, load.Start.Sub(recStart), load, logs, &ci.Log, figures) })
	}
	time.Sleep(3 * time.Second)

	// 1× → 4×.
	load.SetRate(180)
	stepAt := load.Since()
	_, firstNew := waitFor("a second member ONLINE at 4×", 60*time.Second, func(ids []string, online int) bool { return online >= 2 })
	four, settle := waitFor("4 members ONLINE at 4×", 60*time.Second, func(ids []string, online int) bool { return len(ids) == 4 && online == 4 })
	settled := load.Since()
	peak := time.Duration(0)
	for _, s := range load.Timeline.Seconds() {
		if s.At >= stepAt-time.Second && s.At < settled {
			peak = max(peak, s.P95)
		}
	}
	figures = append(figures, fmt.Sprintf("1× → 4× on the peer at %s: first new member ONLINE after %s, 4 after %s, peak p95 %s, %d failed",
		stepAt.Round(time.Second), firstNew.Round(100*time.Millisecond), (firstNew+settle).Round(100*time.Millisecond), peak.Round(time.Millisecond),
		len(load.FailedBetween(stepAt, settled))))
	t.Log(figures[len(figures)-1])

	// A server's web server dies: its member goes to ERROR, and after
	// heal_after the server is replaced (Aodh's loadbalancer_member_health
	// and Heat's mark-unhealthy, done by the controller). It is the one
	// with the veth's primary address, whose removal must leave the
	// others' addresses alone; no request fails (lbd retries elsewhere).
	sick := ci.primary(four)
	ci.kill(sick)
	killedAt := load.Since()
	_, healed := waitFor("the server in ERROR replaced", 90*time.Second, func(ids []string, online int) bool {
		return len(ids) == 4 && online == 4 && !slices.Contains(ids, sick)
	})
	healFailed := load.FailedBetween(killedAt, load.Since())
	if len(healFailed) > 0 {
		t.Errorf("%d requests failed while a server was replaced: first %+v", len(healFailed), healFailed[0])
	}
	figures = append(figures, fmt.Sprintf("web server killed at %s: 4 members ONLINE again after %s, a new server, %d failed", killedAt.Round(time.Second), healed.Round(100*time.Millisecond), len(healFailed)))
	t.Log(figures[len(figures)-1])

	// A restarted controller takes the lease freed by the first and adds
	// nothing; a third one waits for the lease.
	stop1()
	before, _ := state()
	points1, events1 := rec.Snapshot()
	_, stop2 := controller("second", rec)
	defer func() { stop2() }()
	// The second holds the lease once it decides; only then does a third
	// start, which must wait.
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if pts, _ := rec.Snapshot(); len(pts) > len(points1) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the restarted controller made no decision within 60 s:\n%s", lastLines(logs.String(), 30))
		}
	}
	c3, stop3 := controller("third", autoscale.NewRecorder(time.Now()))
	time.Sleep(4 * time.Second)
	stop3()
	after, _ := state()
	if !slices.Equal(before, after) {
		t.Errorf("across a restart the servers went from %v to %v", before, after)
	}
	points2, events2 := rec.Snapshot()
	if len(events2) > len(events1) || len(points2) == len(points1) {
		t.Errorf("restarted controller: %d decisions, actions %+v; want decisions and no action", len(points2)-len(points1), events2[len(events1):])
	}
	if pts, evs := c3.Recorder.Snapshot(); len(pts) > 0 || len(evs) > 0 {
		t.Errorf("a controller without the lease decided or acted: %d decisions, %+v", len(pts), evs)
	}

	// Prometheus down at 1×: held.
	prom.Stop()
	load.SetRate(45)
	time.Sleep(8 * time.Second)
	if ids, _ := state(); len(ids) != 4 {
		t.Fatalf("Prometheus down for 8 s at 1×: %d servers, want 4 held", len(ids))
	}

	// Back: in to 1, each drained first, no request failed.
	prom.Start()
	from := load.Since()
	waitFor("back to 1 server at 1×", 90*time.Second, func(ids []string, online int) bool { return len(ids) == 1 && online == 1 })
	time.Sleep(time.Second)
	to := load.Since()
	load.Stop()
	if failed := load.FailedBetween(from, to); len(failed) > 0 {
		t.Errorf("%d requests failed during the scale-in: first %+v", len(failed), failed[0])
	}
	if l := logs.String(); strings.Count(l, "action=drain ") < 3 || strings.Contains(l, "drain timeout") {
		t.Errorf("4 → 1 without 3 drains ended by no connection left:\n%s", lastLines(l, 40))
	}
	peak = 0
	for _, s := range load.Timeline.Seconds() {
		if s.At >= from && s.At < to {
			peak = max(peak, s.P95)
		}
	}
	figures = append(figures, fmt.Sprintf("4× → 1× on the peer at %s: 4 → 1 in %s, each drained, peak p95 %s, %d of %d requests failed",
		from.Round(time.Second), (to-from).Round(100*time.Millisecond), peak.Round(time.Millisecond), len(load.FailedBetween(from, to)), requestsBetween(load, from, to)))
	t.Log(figures[len(figures)-1])

	// No request waited for a member's address to come up: a member takes
	// traffic only once a health check reached it (it warms at weight 0
	// before), so no connect took the second of an unanswered ARP or SYN.
	slow, err := slowConnects(accessLog, 900*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	figures = append(figures, fmt.Sprintf("requests whose connect to a member took 900 ms or more: %d", len(slow)))
	if len(slow) > 0 {
		t.Errorf("%d requests connected to their member after 900 ms or more (a member in rotation before its address answered), first:\n%s",
			len(slow), strings.Join(slow[:min(len(slow), 5)], "\n"))
	}
}

// accessFormat is lbd's access log line in the test: when, the member,
// HAProxy's timers (%Tc: the connect to the member), status, termination.
const accessFormat = "%t %s %si:%sp Tw=%Tw Tc=%Tc Tr=%Tr Tt=%Tt %ST %tsc"

// slowConnects returns the access log's lines whose connect to the member
// (Tc=) took at least atLeast.
func slowConnects(path string, atLeast time.Duration) ([]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []string
	for line := range strings.Lines(string(data)) {
		for _, f := range strings.Fields(line) {
			if v, ok := strings.CutPrefix(f, "Tc="); ok {
				if n, err := strconv.Atoi(v); err == nil && time.Duration(n)*time.Millisecond >= atLeast {
					out = append(out, strings.TrimSpace(line))
				}
			}
		}
	}
	return out, nil
}

func requestsBetween(l *autoscaletest.Load, from, to time.Duration) int {
	n := 0
	for _, s := range l.Timeline.Seconds() {
		if s.At >= from.Truncate(time.Second) && s.At < to {
			n += s.Requests
		}
	}
	return n
}

// writePeerRun writes the run into dir: the controllers' chart, record
// and log (autoscale.png, report.json, controller.log), the load second by
// second (load.txt), cloud-init's record (cloudinit.log), lbd's access log
// (access.log) and the figures (figures.txt, appended to: make
// autoscale-figures repeats the run).
func writePeerRun(t *testing.T, dir string, rec *autoscale.Recorder, offset time.Duration, load *autoscaletest.Load, logs, ciLog *autoscaletest.Buffer, figures []string) {
	load.Stop()
	if _, err := rec.Write(dir); err != nil {
		t.Errorf("report: %v", err)
	}
	for name, b := range map[string]*autoscaletest.Buffer{"controller.log": logs, "cloudinit.log": ciLog} {
		if err := os.WriteFile(dir+"/"+name, []byte(b.String()), 0o644); err != nil {
			t.Errorf("report: %v", err)
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# the load began %.1fs into the chart's time\n", offset.Seconds())
	for _, s := range load.Timeline.Seconds() {
		fmt.Fprintf(&b, "%4ds %6d req %6d ok %4d failed  p50 %6.1fms  p95 %6.1fms  max %6.1fms\n", int(s.At.Seconds()), s.Requests, s.OK, s.Failed,
			ms(s.P50), ms(s.P95), ms(s.Max))
	}
	if err := os.WriteFile(dir+"/load.txt", []byte(b.String()), 0o644); err != nil {
		t.Errorf("report: %v", err)
	}
	f, err := os.OpenFile(dir+"/figures.txt", os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Errorf("report: %v", err)
		return
	}
	defer f.Close()
	status := "passed"
	if t.Failed() {
		status = "FAILED"
	}
	fmt.Fprintf(f, "%s run (%s):\n", time.Now().UTC().Format(time.RFC3339), status)
	for _, l := range figures {
		fmt.Fprintf(f, "  %s\n", l)
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// The route check refuses an address the host would send elsewhere (out
// of its default route) and accepts one routed into the test's veth.
func TestNetnsRouteCheck(t *testing.T) {
	n := newNetns(t, "198.18.77.1", 24) // benchmarking space (RFC 2544): never routed here
	if err := n.routesHere("198.18.77.9"); err != nil {
		t.Errorf("an address of the veth's subnet: %v", err)
	}
	if err := n.routesHere("203.0.113.9"); err == nil || !strings.Contains(err.Error(), "refusing") {
		t.Errorf("an address routed elsewhere: %v, want a refusal", err)
	}
}

// The Neutron lease: a second controller waits while the first renews;
// when the first stops renewing without letting go (it died), the second
// takes the lease after a TTL of no revision change, and the first, should
// it wake, finds its renewal refused (412) and reports the lease lost.
func TestNeutronLease(t *testing.T) {
	c := connect(t, nil)
	group := "lease" + peertest.Suffix()
	ttl := 3 * time.Second
	a := &NeutronLock{Clients: c, Group: group, TTL: ttl, Holder: "a"}
	b := &NeutronLock{Clients: c, Group: group, TTL: ttl, Holder: "b"}
	t.Cleanup(func() {
		r := &run{c: c, spec: &Spec{Autoscaling: &Autoscaling{Group: group}}, Run: reconcile.NewRun(&reconcile.Waiter{}, false)}
		if err := r.downLease(context.Background()); err != nil {
			t.Errorf("remove the lease: %v", err)
		}
	})
	ctx := context.Background()
	la, err := a.Lock(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 2*ttl)
	_, err = b.Lock(wctx)
	cancel()
	if err == nil {
		t.Fatal("b got the lease while a renewed it")
	}
	// a dies: no more renewals, no unlock.
	lease := la.(*neutronLease)
	lease.stopOnce.Do(func() { close(lease.stop) })
	start := time.Now()
	wctx, cancel = context.WithTimeout(ctx, 6*ttl)
	lb, err := b.Lock(wctx)
	cancel()
	if err != nil {
		t.Fatalf("b never took over the lease of a dead holder: %v", err)
	}
	if waited := time.Since(start); waited < ttl {
		t.Errorf("b took the lease after %s, before a TTL (%s) without renewal", waited, ttl)
	}
	// a wakes up: its next renewal is refused.
	lease.mu.Lock()
	_, ok, err := a.swap(ctx, lease.g, a.held())
	lease.mu.Unlock()
	if err != nil || ok {
		t.Errorf("a's renewal after b took over: ok %v, err %v; want refused", ok, err)
	}
	if err := lb.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
}

// A new member warms for 2×delay + timeout of its pool's monitor: by then
// its first check has ended and its status is that check's verdict.
// Without an enabled monitor there is nothing to wait for.
func TestAutoscalingWarmup(t *testing.T) {
	raw, err := os.ReadFile("../../../configs/tutorial-autoscale.yaml")
	if err != nil {
		t.Fatal(err)
	}
	const hm = "{type: HTTP, delay: 5, max_retries: 3, timeout: 4, url_path: /}"
	for _, tt := range []struct {
		monitor string
		want    time.Duration
	}{
		{hm, 14 * time.Second},
		{"{type: TCP, delay: 2, max_retries: 1, timeout: 1}", 5 * time.Second},
		{"{type: TCP, delay: 2, max_retries: 1, timeout: 1, admin_state_up: false}", 0},
	} {
		src := strings.Replace(string(raw), hm, tt.monitor, 1)
		if !strings.Contains(string(raw), hm) {
			t.Fatalf("configs/tutorial-autoscale.yaml has no %q", hm)
		}
		if got := loadSpec(t, src, "").Autoscaling.Memberships[0].Warmup; got != tt.want {
			t.Errorf("monitor %s: warm-up %s, want %s", tt.monitor, got, tt.want)
		}
	}
	src := strings.Replace(string(raw), "          healthmonitor: "+hm+"\n", "", 1)
	if got := loadSpec(t, src, "").Autoscaling.Memberships[0].Warmup; got != 0 {
		t.Errorf("no monitor: warm-up %s, want 0", got)
	}
}
