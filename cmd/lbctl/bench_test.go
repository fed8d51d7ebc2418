package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"lbd/internal/bench"
)

// TestBenchJSONAndCharts runs a short benchmark through the command line
// and checks that the JSON on stdout and the files in --out parse.
func TestBenchJSONAndCharts(t *testing.T) {
	dir := t.TempDir()
	var stdout, stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := run(ctx, []string{"bench", "-f", "../../configs/bench/drain.yaml", "--algorithms", "RR,lc",
		"--duration", "1s", "--rate", "300", "--clients", "8", "-o", "json", "--out", dir, "--lbd", testLBD(t)}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	if strings.Contains(stderr.String(), "\r") {
		t.Errorf("progress drawn on a stderr that is not a terminal: %q", stderr.String())
	}
	var rep bench.Report
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("stdout is not the JSON report: %v\n%s", err, stdout.String())
	}
	if rep.Scenario != "drain" || rep.Clients != 8 || rep.Rate != 300 || len(rep.Runs) != 2 ||
		rep.Runs[0].Algorithm != "ROUND_ROBIN" || rep.Runs[1].Algorithm != "LEAST_CONNECTIONS" {
		t.Fatalf("report does not reflect the flags: %+v", rep)
	}
	for _, r := range rep.Runs {
		if r.Responses != 300 || len(r.Members) != 4 || len(r.CDF) == 0 || r.Latency.P50 <= 0 {
			t.Errorf("%s: %d responses, %d members, %d CDF points", r.Algorithm, r.Responses, len(r.Members), len(r.CDF))
		}
	}
	for _, name := range []string{"latency-cdf.png", "latency-percentiles.png", "member-share.png"} {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(data, []byte("\x89PNG\r\n\x1a\n")) || len(data) < 10_000 {
			t.Errorf("%s: not a PNG chart (%d bytes)", name, len(data))
		}
	}
	data, err := os.ReadFile(filepath.Join(dir, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	var saved bench.Report
	if err := json.Unmarshal(data, &saved); err != nil || len(saved.Runs) != 2 {
		t.Errorf("results.json: %v", err)
	}

	// A saved report prints and charts again without a run.
	stdout.Reset()
	again := filepath.Join(dir, "again")
	if err := run(ctx, []string{"bench", "--from", filepath.Join(dir, "results.json"), "--out", again, "--chart-format", "svg"}, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stdout.String(), "scenario drain") || !strings.Contains(stdout.String(), "drain m2") {
		t.Errorf("--from table:\n%s", stdout.String())
	}
	if svg, err := os.ReadFile(filepath.Join(again, "member-share.svg")); err != nil || !bytes.Contains(svg, []byte("<svg")) {
		t.Errorf("--from chart: %v", err)
	}
}

func TestBenchTable(t *testing.T) {
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"bench", "-f", "../../configs/bench/slow-member.yaml", "--algorithms", "SIP",
		"--duration", "500ms", "--rate", "200", "--lbd", testLBD(t)}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	out := stdout.String()
	for _, want := range []string{"scenario slow-member", "ALGORITHM", "SOURCE_IP ", "SHARE (PEAK IN-FLIGHT)", "slow w1", "SOURCE_IP remap, fast1 leaves and returns"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}

func TestBenchBadInput(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte("duration: 1s\nrate: 10\nmembers: [{name: a, weight: -1}]\n"), 0o644)
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--algorithms", "RR,FASTEST"}, `--algorithms: "FASTEST": must be ROUND_ROBIN (RR)`},
		{[]string{"--rate", "10", "--concurrency", "2"}, "--rate and --concurrency: give one or the other"},
		{[]string{"--duration", "-1s"}, `duration: "-1s": must be greater than 0`},
		{[]string{"--clients", "0"}, "clients: 0: must be between 1 and 65536"},
		{[]string{"-o", "yaml"}, `-o "yaml": must be table or json`},
		{[]string{"--chart-format", "gif"}, `--chart-format "gif": must be png or svg`},
		{[]string{"-f", bad}, "bad.yaml:3: members[0].weight: -1: must be between 0 and 256"},
		{[]string{"-f", "nonexistent.yaml"}, "read scenario"},
	}
	for _, tt := range tests {
		args := append([]string{"bench", "-f", "../../configs/bench/homogeneous.yaml"}, tt.args...)
		var stdout, stderr bytes.Buffer
		err := run(context.Background(), args, &stdout, &stderr)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: got %v, want %q", tt.args, err, tt.want)
		}
	}
}

// testLBD builds lbd into the test's directory, for lbctl bench to run as
// its child (the go command's cache makes the second build a link).
func testLBD(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "lbd")
	if out, err := exec.Command("go", "build", "-o", bin, "lbd/cmd/lbd").CombinedOutput(); err != nil {
		t.Fatalf("go build lbd: %v\n%s", err, out)
	}
	return bin
}
