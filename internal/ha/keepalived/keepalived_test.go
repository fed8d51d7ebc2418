package keepalived_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"lbd/internal/ha/keepalived"
	"lbd/internal/netnstest"
)

func binary(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("keepalived")
	if err != nil {
		if os.Getenv("LBD_SKIP_KEEPALIVED") == "1" {
			t.Skip("keepalived not installed and LBD_SKIP_KEEPALIVED=1")
		}
		t.Fatal("keepalived not found: install Debian's keepalived package (make test does: scripts/ensure-deps.sh test)")
	}
	return path
}

func config(name, src, peer string) *keepalived.Config {
	return &keepalived.Config{
		Name: name, Interface: "eth0", SourceIP: src, Peers: []string{peer},
		RouterID: 1, Priority: 100, AdvertInt: time.Second, AuthPass: "abc1234",
		VIPs:  []string{"10.80.0.100", "fd00::100"},
		Check: "/bin/true", CheckInterval: time.Second, Fall: 2, Rise: 2,
		GARPRefresh: 5 * time.Second, GARPRefreshRepeat: 2, ScriptUser: "root",
	}
}

func TestRender(t *testing.T) {
	c := config("lbd-1", "10.80.0.1", "10.80.0.2")
	c.AdvertInt = 500 * time.Millisecond
	got := string(c.Render())
	for _, want := range []string{
		`router_id "lbd-1"`, "script_user root", "enable_script_security",
		"vrrp_script lbd_check {\n  script \"/bin/true\"\n  interval 1\n  timeout 1\n  fall 2\n  rise 2\n}",
		"virtual_router_id 1", "priority 100", "nopreempt", "accept", "advert_int 0.5",
		"garp_master_delay 1", "garp_master_refresh 5", "garp_master_refresh_repeat 2",
		"auth_type PASS\n    auth_pass abc1234", "unicast_src_ip 10.80.0.1", "unicast_peer {\n    10.80.0.2\n  }",
		"virtual_ipaddress {\n    10.80.0.100 dev eth0\n  }",
		"virtual_ipaddress_excluded {\n    fd00::100 dev eth0\n  }",
		"track_script {\n    lbd_check\n  }",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("the configuration lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "state ") {
		t.Errorf("the configuration sets a state (nopreempt then fails on the MASTER):\n%s", got)
	}
	c.Peers = nil
	if got := string(c.Render()); strings.Contains(got, "unicast") {
		t.Errorf("without peers, unicast (keepalived refuses it):\n%s", got)
	}
	c.VIPs = nil
	if got := string(c.Render()); strings.Contains(got, "vrrp_instance") {
		t.Errorf("without VIPs, a VRRP instance:\n%s", got)
	}
}

func TestMissing(t *testing.T) {
	_, err := keepalived.New(filepath.Join(t.TempDir(), "keepalived"), t.TempDir(), slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), "apt-get install keepalived") || !strings.Contains(err.Error(), "--keepalived") {
		t.Fatalf("keepalived missing: %v, want an error naming the package and --keepalived", err)
	}
}

// TestFailsToStart: a keepalived that exits at start is an error with its
// last words.
func TestFailsToStart(t *testing.T) {
	dir := t.TempDir()
	fake := filepath.Join(dir, "keepalived")
	if err := os.WriteFile(fake, []byte("#!/bin/sh\necho 'Unable to bind to the VRRP socket: no space for you' >&2\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	p, err := keepalived.New(fake, filepath.Join(dir, "run"), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); p.Run(ctx) }()
	defer func() { cancel(); <-done }()
	err = p.Apply(ctx, config("x", "10.80.0.1", "10.80.0.2").Render())
	if err == nil || !strings.Contains(err.Error(), "keepalived exited") || !strings.Contains(err.Error(), "no space for you") {
		t.Fatalf("a keepalived that exits at start: %v, want an error with its last words", err)
	}
	if running, last := p.Running(); running || last == nil {
		t.Errorf("Running = %v, %v after a failed start", running, last)
	}
}

// TestFailover: two keepalived processes in two namespaces on a bridge: one
// takes the VIP; when it stops, the other has it within a few
// advertisements; a configuration keepalived refuses is caught by Check.
func TestFailover(t *testing.T) {
	bin := binary(t)
	lab := netnstest.New(t)
	hub := lab.NS("hub")
	lab.Bridge(hub, "br0")
	a, b := lab.NS("a"), lab.NS("b")
	lab.Plug(a, "eth0", "10.80.0.1/24", hub, "br0")
	lab.Plug(b, "eth0", "10.80.0.2/24", hub, "br0")
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	type node struct {
		ns     *netnstest.NS
		p      *keepalived.Process
		cancel func()
		done   chan struct{}
	}
	start := func(ns *netnstest.NS, c *keepalived.Config) *node {
		p, err := keepalived.New(bin, filepath.Join(t.TempDir(), "run"), log)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		n := &node{ns: ns, p: p, cancel: cancel, done: make(chan struct{})}
		go func() { defer close(n.done); ns.Do(func() error { p.Run(ctx); return nil }) }()
		t.Cleanup(func() { cancel(); <-n.done })
		conf := c.Render()
		if err := p.Check(ctx, conf); err != nil {
			t.Fatal(err)
		}
		if err := p.Apply(ctx, conf); err != nil {
			t.Fatal(err)
		}
		return n
	}
	ca, cb := config("a", "10.80.0.1", "10.80.0.2"), config("b", "10.80.0.2", "10.80.0.1")
	cb.Priority = 90
	na := start(a, ca)
	nb := start(b, cb)
	has := func(n *node) bool {
		out, _ := n.ns.Run("ip", "-o", "addr", "show", "dev", "eth0")
		return strings.Contains(string(out), "10.80.0.100/32")
	}
	netnstest.WaitFor(t, "a (priority 100) to take the VIP", 15*time.Second, func() bool { return has(na) })
	if has(nb) {
		t.Fatal("both hold the VIP")
	}
	stopped := time.Now()
	na.cancel()
	<-na.done
	netnstest.WaitFor(t, "b to take the VIP after a stopped", 10*time.Second, func() bool { return has(nb) })
	t.Logf("VIP moved %s after the MASTER's keepalived stopped", time.Since(stopped).Round(time.Millisecond))
	if has(na) {
		t.Error("a still holds the VIP after it stopped")
	}

	// keepalived killed: lbd starts it again, and it takes the VIP back
	// (alone, it is MASTER).
	old := nb.p.Pid()
	if err := syscall.Kill(old, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	netnstest.WaitFor(t, "keepalived started again", 15*time.Second, func() bool {
		running, _ := nb.p.Running()
		return running && nb.p.Pid() != old && nb.p.Pid() != 0
	})
	netnstest.WaitFor(t, "b to hold the VIP again", 15*time.Second, func() bool { return has(nb) })

	bad := config("b", "10.80.0.2", "10.80.0.1")
	bad.Interface = "nosuch0"
	if err := nb.p.Check(context.Background(), bad.Render()); err == nil || !strings.Contains(err.Error(), "refuses the configuration") {
		t.Errorf("a configuration naming a missing interface: %v, want keepalived's refusal", err)
	}
}
