package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Capability bits (linux/capability.h).
const (
	capNetBindService = 10
	capNetRaw         = 13
)

// unprivileged prepares what user nobody can run lbd from: a copy of the
// binary and a config file in a world-readable directory, a state
// directory nobody owns. ping_group_range is left as the machine has it.
func unprivileged(t *testing.T, config string) (bin, cfg, state string) {
	t.Helper()
	if os.Getuid() != 0 {
		t.Skip("needs root to switch to user nobody")
	}
	if _, err := exec.LookPath("setpriv"); err != nil {
		t.Skipf("setpriv (util-linux) not installed: %v", err)
	}
	dir, err := os.MkdirTemp("", "lbd-unprivileged")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	data, err := os.ReadFile(binary(t))
	if err != nil {
		t.Fatal(err)
	}
	bin, cfg, state = filepath.Join(dir, "lbd"), filepath.Join(dir, "lbd.yaml"), filepath.Join(dir, "state")
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(cfg, []byte(config), 0o644)
	os.Mkdir(state, 0o700)
	os.Chown(state, 65534, 65534)
	return bin, cfg, state
}

// asNobody is the command running lbd as user nobody with exactly caps
// (names as setpriv spells them) in its ambient, inheritable and bounding
// sets and no_new_privs set, as configs/lbd.service does.
func asNobody(caps []string, args ...string) *exec.Cmd {
	set := "-all"
	for _, c := range caps {
		set += ",+" + c
	}
	return exec.Command("setpriv", append([]string{"--reuid=65534", "--regid=65534", "--clear-groups",
		"--inh-caps=" + set, "--ambient-caps=" + set, "--bounding-set=" + set, "--no-new-privs", "--"}, args...)...)
}

// TestRunsUnprivilegedWithTwoCapabilities: lbd as user nobody with only
// CAP_NET_BIND_SERVICE and CAP_NET_RAW (what configs/lbd.service grants)
// binds port 80 and health-checks a member with PING; its effective and
// bounding capability sets are those two and nothing else. Without
// CAP_NET_BIND_SERVICE it cannot bind port 80, and without CAP_NET_RAW (on a
// machine whose ping_group_range excludes it) it refuses the PING monitor
// and says what to do: each capability is needed, and no more are.
func TestRunsUnprivilegedWithTwoCapabilities(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	m := demoAt(t, ctx, "127.0.0.1:0", "m1")
	_, mport := splitAddr(m.Addr())
	vip := fmt.Sprintf("127.0.80.%d", 2+rand.IntN(250))
	bin, cfg, state := unprivileged(t, fmt.Sprintf(`loadbalancers:
  - name: lb
    vip_address: %s
    listeners:
      - name: web
        protocol: HTTP
        protocol_port: 80
        default_pool:
          name: pool
          protocol: HTTP
          lb_algorithm: ROUND_ROBIN
          healthmonitor: {type: PING, delay: 1, timeout: 1, max_retries: 1}
          members: [{address: 127.0.0.1, protocol_port: %d}]
`, vip, mport))
	admin := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	args := []string{bin, "--config", cfg, "--state-dir", state, "--api-addr", "", "--admin-addr", admin}

	cmd := asNobody([]string{"net_bind_service", "net_raw"}, args...)
	logs := &syncBuffer{}
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	waitServing(t, "http://"+vip+":80/")
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	fields := map[string]string{}
	for _, line := range strings.Split(string(status), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok {
			fields[k] = strings.TrimSpace(v)
		}
	}
	want := fmt.Sprintf("%016x", 1<<capNetBindService|1<<capNetRaw)
	for _, k := range []string{"CapEff", "CapPrm", "CapBnd", "CapAmb"} {
		if fields[k] != want {
			t.Errorf("%s = %s, want %s (CAP_NET_BIND_SERVICE and CAP_NET_RAW only)", k, fields[k], want)
		}
	}
	if !strings.HasPrefix(fields["Uid"], "65534\t65534\t65534") || fields["NoNewPrivs"] != "1" {
		t.Errorf("Uid %q, NoNewPrivs %q: want nobody throughout and no_new_privs", fields["Uid"], fields["NoNewPrivs"])
	}
	resp, err := http.Get("http://" + vip + ":80/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "from m1") {
		t.Errorf("port 80 answered %q", body)
	}
	// PING probes pass: the monitor uses the raw socket CAP_NET_RAW allows.
	passed := regexp.MustCompile(`lbd_health_probes_total\{result="pass",type="PING"\} ([1-9][0-9]*)`)
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get("http://" + admin + "/metrics")
		if err == nil {
			metrics, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if passed.Match(metrics) {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no passing PING probe within 10s\nlogs:\n%s", logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}

	// Each capability is needed.
	cmd.Process.Kill()
	cmd.Wait()
	args[len(args)-1] = "127.0.0.1:0"
	out, err := asNobody([]string{"net_raw"}, args...).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "permission denied") {
		t.Errorf("without CAP_NET_BIND_SERVICE: %v\n%s", err, out)
	}
	if readPingGroupRange() == "1 0" { // unprivileged ICMP sockets off: PING needs the raw socket
		out, err = asNobody([]string{"net_bind_service"}, args...).CombinedOutput()
		if err == nil || !strings.Contains(string(out), "CAP_NET_RAW") {
			t.Errorf("without CAP_NET_RAW: %v\n%s", err, out)
		}
	}
}

func readPingGroupRange() string {
	b, _ := os.ReadFile("/proc/sys/net/ipv4/ping_group_range")
	return strings.Join(strings.Fields(string(b)), " ")
}
