package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"lbd/internal/controlplane"
	"lbd/internal/lbdtest"
)

func TestAutoscaleNeedsItsSection(t *testing.T) {
	var out, errb bytes.Buffer
	err := run(context.Background(), []string{"autoscale", "-f", "../../configs/tutorial.yaml", "--provider", "local"}, &out, &errb)
	if err == nil || !strings.Contains(err.Error(), "no openstack.autoscaling section") {
		t.Errorf("tutorial.yaml (no autoscaling): %v", err)
	}
	err = run(context.Background(), []string{"autoscale", "-f", "../../configs/tutorial-autoscale.yaml", "--provider", "nova"}, &out, &errb)
	if err == nil || !strings.Contains(err.Error(), `--provider "nova": must be openstack or local`) {
		t.Errorf("--provider nova: %v", err)
	}
	// --etcd takes lbd's --state value, read by lbd's own parser.
	err = run(context.Background(), []string{"autoscale", "-f", "../../configs/tutorial-autoscale.yaml", "--provider", "local", "--etcd", "http://127.0.0.1:2379"}, &out, &errb)
	if err == nil || !strings.Contains(err.Error(), "--etcd: ") || !strings.Contains(err.Error(), `scheme "http" is not etcd or etcds`) {
		t.Errorf("--etcd http://...: %v", err)
	}
}

// The systemd unit's command line is one lbctl autoscale accepts.
func TestAutoscaleUnitFlags(t *testing.T) {
	raw, err := os.ReadFile("../../configs/lbctl-autoscale@.service")
	if err != nil {
		t.Fatal(err)
	}
	var args []string
	for _, line := range strings.Split(string(raw), "\n") {
		if cmd, ok := strings.CutPrefix(line, "ExecStart=/usr/local/bin/lbctl "); ok {
			args = strings.Fields(strings.ReplaceAll(cmd, "%i", "tutorial"))
		}
	}
	if len(args) < 3 || args[0] != "autoscale" {
		t.Fatalf("ExecStart: %q", args)
	}
	// -h after every flag: each is parsed (an unknown one fails) before
	// the help stops the parse.
	var out, errb bytes.Buffer
	if err := run(context.Background(), append(args, "-h"), &out, &errb); err != nil || !strings.Contains(out.String(), "usage: lbctl autoscale") {
		t.Errorf("lbctl %s: %v\n%s", strings.Join(args, " "), err, out.String()+errb.String())
	}
}

// --dry-run reads the group and the load and says what it would do, and
// changes nothing; with Prometheus unreachable it holds, but still makes
// the servers min asks for.
func TestAutoscaleDryRun(t *testing.T) {
	l := lbdtest.Start(t, controlplane.Options{})
	file := filepath.Join(t.TempDir(), "as.yaml")
	cfg := fmt.Sprintf(`loadbalancers:
  - name: lb-dry
    vip_address: 127.0.0.1
    listeners:
      - {name: web, protocol: HTTP, protocol_port: %d, default_pool: {name: p1, protocol: HTTP, lb_algorithm: ROUND_ROBIN}}
openstack:
  vip_subnet: unused
  servers: {name: "dry%%d", image: i, flavor: f, network: n, members: [{pool: p1, protocol_port: 80}]}
  autoscaling:
    min: 2
    max: 3
    prometheus: http://127.0.0.1:%d
    metrics: {requests_per_second: 10, p95_latency: 100ms}
`, freePort(t, "127.0.0.1"), freePort(t, "127.0.0.1"))
	if err := os.WriteFile(file, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	lbctl(t, "apply", "-f", file, "--endpoint", l.URL)
	writes := l.Writes.Load()
	out := lbctl(t, "autoscale", "-f", file, "--provider", "local", "--endpoint", l.URL, "--dry-run")
	for _, want := range []string{
		"group lb-dry: 0 current (0 ready), min 2, max 3",
		"requests_per_second, p95_latency missing (prometheus: ",
		"out 0 → 2 (fewer servers than min 2) (below_min)",
		"would create server dry1: scale out 0 → 2",
		"would create server dry2: scale out 0 → 2",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("dry run does not say %q:\n%s", want, out)
		}
	}
	if n := l.Writes.Load() - writes; n != 0 {
		t.Errorf("the dry run made %d changes", n)
	}
}
