package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"lbd/internal/octavia/peertest"
)

// The up and down commands run against the real services of shared/peers
// (see peertest.Main); LBD_SKIP_OPENSTACK=1 skips these tests.
func TestMain(m *testing.M) { peertest.Main(m) }

// tutorialCopy writes configs/tutorial.yaml (and its user data) to a temp
// dir with every name the cloud sees suffixed, so that runs sharing the peer
// do not meet.
func tutorialCopy(t *testing.T, sfx string) string {
	t.Helper()
	src, err := os.ReadFile("../../configs/tutorial.yaml")
	if err != nil {
		t.Fatal(err)
	}
	ud, err := os.ReadFile("../../configs/configure-httpd")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	out := strings.NewReplacer("name: lb1", "name: lb1"+sfx, "name: Server%d", "name: Server%d"+sfx, "security_group: security-httpd", "security_group: security-httpd"+sfx).Replace(string(src))
	if err := os.WriteFile(filepath.Join(dir, "configure-httpd"), ud, 0o644); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "tutorial.yaml")
	if err := os.WriteFile(file, []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}
	return file
}

func lbctlRun(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var stdout, stderr strings.Builder
	start := time.Now()
	err := run(context.Background(), args, &stdout, &stderr)
	t.Logf("lbctl %s (%s): %v\n%s%s", strings.Join(args, " "), time.Since(start).Round(100*time.Millisecond), err, stdout.String(), stderr.String())
	return stdout.String(), stderr.String(), err
}

func TestUpPlan(t *testing.T) {
	peertest.Need(t)
	sfx := peertest.Suffix()
	file := tutorialCopy(t, sfx)
	out, _, err := lbctlRun(t, "up", "-f", file, "--os-cloud", peertest.Cloud, "--plan")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`+ create security group "security-httpd` + sfx + `"`,
		`+ create security group rule "security-httpd` + sfx + `": ingress icmp from 0.0.0.0/0`,
		`+ create security group rule "security-httpd` + sfx + `": ingress tcp 80 from 0.0.0.0/0`,
		`+ create server "Server1` + sfx + `": image centos7, flavor m2.small, network Internal2`,
		`+ create server "Server2` + sfx + `"`,
		`+ create load balancer "lb1` + sfx + `": VIP on Internal2-subnet; 1 listener(s), 1 pool(s), 2 member(s), 1 health monitor(s) in one call`,
		`+ create floating IP: on network "External", for the VIP port of load balancer "lb1`,
		"7 change(s) planned; run without --plan to apply them",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("plan lacks %q:\n%s", want, out)
		}
	}

	out, stderr, err := lbctlRun(t, "up", "-f", file, "--os-cloud", peertest.Cloud, "--plan", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var res struct {
		Changes []struct{ Op, Kind, Name string }
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("-o json: %v\n%s", err, out)
	}
	if len(res.Changes) != 7 || res.Changes[5].Kind != "load balancer" || res.Changes[5].Op != "create" {
		t.Errorf("json changes %+v", res.Changes)
	}
	if !strings.Contains(stderr, "+ create load balancer") {
		t.Errorf("with -o json the progress belongs on stderr: %q", stderr)
	}

	out, _, err = lbctlRun(t, "down", "-f", file, "--os-cloud", peertest.Cloud, "--plan")
	if err != nil || !strings.Contains(out, "nothing to remove") {
		t.Errorf("down --plan of nothing: %v\n%s", err, out)
	}
}

// TestUpDown is the CLI end to end, on a load balancer with a floating IP
// and no servers (the package tests cover servers).
func TestUpDown(t *testing.T) {
	peertest.Need(t)
	sfx := peertest.Suffix()
	file := filepath.Join(t.TempDir(), "lb.yaml")
	cfg := `
loadbalancers:
  - name: lbc` + sfx + `
    listeners:
      - name: web
        protocol: TCP
        protocol_port: 443
        default_pool:
          name: backends
          protocol: TCP
          lb_algorithm: LEAST_CONNECTIONS
          healthmonitor: {type: TCP, delay: 5, timeout: 5, max_retries: 3}
          members:
            - {name: a, address: 10.0.2.201, protocol_port: 8443}
openstack:
  vip_subnet: Internal2-subnet
  floating_ip_network: External
`
	if err := os.WriteFile(file, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"-f", file, "--os-cloud", peertest.Cloud, "--timeout", "2m"}
	out, _, err := lbctlRun(t, append([]string{"up"}, args...)...)
	t.Cleanup(func() { lbctlRun(t, append([]string{"down", "--cascade"}, args...)...) })
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"+ create load balancer \"lbc" + sfx, "floating IP: 203.0.113.", "loadbalancer lbc" + sfx + ": ACTIVE", "listener web: ACTIVE",
		"pool backends: ACTIVE", "healthmonitor TCP: ACTIVE", "member a 10.0.2.201:8443: ACTIVE"} {
		if !strings.Contains(out, want) {
			t.Errorf("up output lacks %q:\n%s", want, out)
		}
	}
	if out, _, err = lbctlRun(t, append([]string{"up"}, args...)...); err != nil || !strings.HasPrefix(out, "no changes") {
		t.Errorf("second up: %v\n%s", err, out)
	}
	out, _, err = lbctlRun(t, append([]string{"down", "--cascade"}, args...)...)
	if err != nil || !strings.Contains(out, `- delete load balancer "lbc`+sfx+`": with its children (cascade)`) || !strings.Contains(out, "- delete floating IP") {
		t.Errorf("down --cascade: %v\n%s", err, out)
	}
	if out, _, err = lbctlRun(t, append([]string{"down"}, args...)...); err != nil || !strings.Contains(out, "nothing to remove") {
		t.Errorf("second down: %v\n%s", err, out)
	}
}

func TestCloudFlagErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"up", "-o", "yaml", "-f", "../../configs/tutorial.yaml"}, `-o "yaml": must be text or json`},
		{[]string{"up", "--timeout", "0s", "-f", "../../configs/tutorial.yaml"}, "--timeout 0s: must be positive"},
		{[]string{"up", "-f", "../../configs/lbd.yaml"}, "no openstack: section"},
		{[]string{"down", "-f", "/nonexistent.yaml"}, "read config"},
		{[]string{"down"}, "-f FILE is required"},
	}
	for _, tt := range tests {
		_, _, err := lbctlRun(t, tt.args...)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("lbctl %v: %v; want %q", tt.args, err, tt.want)
		}
	}
}
