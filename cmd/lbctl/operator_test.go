package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"lbd/internal/buildinfo"
	"lbd/internal/controlplane"
	"lbd/internal/lbdtest"
	"lbd/internal/lbdtest/poolyaml"
	"lbd/internal/metrics"
	"lbd/internal/octavia/auth"
)

// lbctlErr runs a command that must fail and returns its error's text.
func lbctlErr(t *testing.T, ctx context.Context, args ...string) string {
	t.Helper()
	var out, errb strings.Builder
	err := run(ctx, args, &out, &errb)
	if err == nil {
		t.Fatalf("lbctl %s succeeded:\n%s", strings.Join(args, " "), out.String())
	}
	return err.Error()
}

// TestHelpForEveryCommand: -h, --help and lbctl help COMMAND exit 0 and
// print, on stdout, a usage line, what the command does, its arguments, an
// example and its flags; member -h starts with its usage, not an error;
// commands that wait for nothing have no --timeout.
func TestHelpForEveryCommand(t *testing.T) {
	cmds := commands()
	for _, name := range commandNames(cmds) {
		for _, args := range [][]string{{name, "-h"}, {name, "--help"}, {"help", name}} {
			var out, errb strings.Builder
			if err := run(context.Background(), args, &out, &errb); err != nil {
				t.Errorf("lbctl %s: %v", strings.Join(args, " "), err)
				continue
			}
			help := out.String()
			if !strings.HasPrefix(help, "usage: lbctl "+name) {
				t.Errorf("lbctl %s starts with %.60q", strings.Join(args, " "), help)
			}
			for _, want := range []string{cmds[name].summary, "Example:\n  lbctl " + name} {
				if !strings.Contains(help, want) {
					t.Errorf("lbctl %s lacks %q:\n%s", strings.Join(args, " "), want, help)
				}
			}
			if errb.Len() > 0 {
				t.Errorf("lbctl %s wrote to stderr: %s", strings.Join(args, " "), errb.String())
			}
		}
	}
	var out strings.Builder
	run(context.Background(), []string{"get", "-h"}, &out, io.Discard)
	for _, kind := range getKinds {
		if !strings.Contains(out.String(), kind) {
			t.Errorf("get -h does not list %s:\n%s", kind, out.String())
		}
	}
	for _, name := range []string{"get", "status", "top", "version", "completion", "validate"} {
		fs, _ := cmds[name].flagSet(name)
		if fs.Lookup("timeout") != nil {
			t.Errorf("lbctl %s has --timeout, which it has nothing to wait for", name)
		}
	}
	out.Reset()
	if err := run(context.Background(), []string{"--help"}, &out, io.Discard); err != nil || !strings.Contains(out.String(), "completion") {
		t.Errorf("lbctl --help: %v\n%s", err, out.String())
	}
	if msg := lbctlErr(t, context.Background(), "member"); strings.Contains(msg, "\n") || !strings.Contains(msg, "add, remove or drain") {
		t.Errorf("lbctl member alone: %q", msg)
	}
	if msg := lbctlErr(t, context.Background(), "get", "--bogus"); msg != "get: flag provided but not defined: -bogus (lbctl get -h says how to run it)" {
		t.Errorf("a bad flag: %q", msg)
	}
}

// TestCompletionBash: the bash script completes commands, each command's
// flags and get's kinds.
func TestCompletionBash(t *testing.T) {
	var out strings.Builder
	if err := run(context.Background(), []string{"completion", "bash"}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(t.TempDir(), "lbctl.bash")
	os.WriteFile(script, []byte(out.String()), 0o644)
	complete := func(words ...string) string {
		t.Helper()
		q := make([]string, len(words))
		for i, w := range words {
			q[i] = fmt.Sprintf("%q", w)
		}
		cmd := exec.Command("bash", "-c", fmt.Sprintf(`source %s; COMP_WORDS=(%s); COMP_CWORD=%d; _lbctl; echo "${COMPREPLY[*]}"`,
			script, strings.Join(q, " "), len(words)-1))
		res, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("bash: %v\n%s", err, res)
		}
		return strings.TrimSpace(string(res))
	}
	for _, c := range []struct {
		words []string
		want  string
	}{
		{[]string{"lbctl", "ge"}, "get"},
		{[]string{"lbctl", "co"}, "completion"},
		{[]string{"lbctl", "get", "mem"}, "members"},
		{[]string{"lbctl", "get", "members", "--po"}, "--pool"},
		{[]string{"lbctl", "member", "dr"}, "drain"},
		{[]string{"lbctl", "top", "lb1", "--inter"}, "--interval"},
		{[]string{"lbctl", "completion", "z"}, "zsh"},
	} {
		if got := complete(c.words...); got != c.want {
			t.Errorf("%v: completes %q, want %q", c.words, got, c.want)
		}
	}
	var zsh strings.Builder
	run(context.Background(), []string{"completion", "zsh"}, &zsh, io.Discard)
	if !strings.HasPrefix(zsh.String(), "#compdef lbctl\n") || !strings.Contains(zsh.String(), "bashcompinit") {
		t.Errorf("zsh script:\n%.200s", zsh.String())
	}
}

// peerOctavia is the OpenStack peer's real Octavia, on Octavia's (and
// lbd's) default port; tests that need it skip when it is not up.
func peerOctavia(t *testing.T) string {
	const ep = "http://127.0.0.1:9876"
	resp, err := http.Get(ep + "/")
	if err != nil {
		t.Skipf("no Octavia at %s (make test starts the OpenStack peer): %v", ep, err)
	}
	resp.Body.Close()
	if resp.Header.Get(lbdHeader) != "" {
		t.Skipf("%s is an lbd, not the peer's Octavia", ep)
	}
	return ep
}

// TestVersionNamesTheServer: lbctl version prints its build as lbd
// --version does, and whether lbd or Octavia answers at the endpoint.
func TestVersionNamesTheServer(t *testing.T) {
	l := lbdtest.Start(t, controlplane.Options{})
	out := lbctl(t, "version", "--endpoint", l.URL)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	b := buildinfo.Read()
	if len(lines) != 2 || lines[0] != b.Line("lbctl") ||
		lines[1] != fmt.Sprintf("server: lbd %s (revision %s) at %s", b.Version, b.ShortRevision(), l.URL) {
		t.Errorf("lbctl version against lbd:\n%s", out)
	}
	dead := fmt.Sprintf("http://127.0.0.1:%d", freePort(t, "127.0.0.1"))
	if out := lbctl(t, "version", "--endpoint", dead); !strings.Contains(out, "server: none at "+dead) {
		t.Errorf("lbctl version with nothing there:\n%s", out)
	}
	octavia := peerOctavia(t)
	out = lbctl(t, "version", "--endpoint", octavia)
	if !regexp.MustCompile(`\nserver: OpenStack Octavia API v2\.\d+ at ` + octavia + `\n$`).MatchString(out) {
		t.Errorf("lbctl version against Octavia:\n%s", out)
	}
}

// TestErrorsSayWhatToDo: when lbctl points at nothing, at a real Octavia
// that wants a Keystone token, at an lbd with another token, or at
// something that never answers, the error is one line that says what
// answers there and what to change.
func TestErrorsSayWhatToDo(t *testing.T) {
	t.Setenv("LBD_API_TOKEN", "")
	t.Setenv("LBCTL_ENDPOINT", "")
	ctx := context.Background()
	oneLine := func(msg string, wants ...string) {
		t.Helper()
		if strings.Contains(msg, "\n") {
			t.Errorf("not one line: %q", msg)
		}
		for _, w := range wants {
			if !strings.Contains(msg, w) {
				t.Errorf("%q lacks %q", msg, w)
			}
		}
	}
	dead := fmt.Sprintf("http://127.0.0.1:%d", freePort(t, "127.0.0.1"))
	oneLine(lbctlErr(t, ctx, "get", "loadbalancers", "--endpoint", dead),
		"nothing answers at "+dead+" (connection refused): is lbd running?", "--endpoint (or LBCTL_ENDPOINT)")

	st, err := auth.NewStatic("s3cret-token-for-lbctl")
	if err != nil {
		t.Fatal(err)
	}
	l := lbdtest.Start(t, controlplane.Options{Auth: st})
	oneLine(lbctlErr(t, ctx, "get", "loadbalancers", "--endpoint", l.URL, "--token", "wrong"),
		"lbd at "+l.URL+" refused the token (401 Unauthorized)", "--token (or LBD_API_TOKEN)")
	lbctl(t, "get", "loadbalancers", "--endpoint", l.URL, "--token", "s3cret-token-for-lbctl")

	// A listener that takes connections and never answers.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	tctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	silent := "http://" + ln.Addr().String()
	oneLine(lbctlErr(t, tctx, "get", "loadbalancers", "--endpoint", silent), "no answer from "+silent+" in time")

	octavia := peerOctavia(t)
	oneLine(lbctlErr(t, ctx, "get", "loadbalancers", "--endpoint", octavia),
		octavia+" is OpenStack Octavia API v2.", "not lbd, and wants a Keystone token (401 Unauthorized)", "--token", "--endpoint (or LBCTL_ENDPOINT) at lbd's --api-addr")
}

// TestGetMembersSortedAndStatusWording: get members lists members by name
// (the API keeps creation order), and the status tree names an unnamed
// health monitor once, its type beside it.
func TestGetMembersSortedAndStatusWording(t *testing.T) {
	l := lbdtest.Start(t, controlplane.Options{})
	ep := "--endpoint=" + l.URL
	file := filepath.Join(t.TempDir(), "lb.yaml")
	port := freePort(t, "127.0.0.1")
	names, ports := []string{"charlie", "alpha", "bravo"}, []int{1003, 1001, 1002}
	os.WriteFile(file, poolyaml.Pool{LB: "sorted", Name: "pool1", Port: port,
		Fields:  []string{"healthmonitor: {type: HTTP, delay: 5, timeout: 3, max_retries: 2}"},
		Members: len(names), Member: func(i int) string {
			return fmt.Sprintf("name: %s, address: 127.0.0.1, protocol_port: %d", names[i], ports[i])
		}}.YAML(), 0o644)
	lbctl(t, "apply", "-f", file, ep)
	out := lbctl(t, "get", "members", "--pool", "pool1", ep)
	a, b, c := strings.Index(out, "alpha"), strings.Index(out, "bravo"), strings.Index(out, "charlie")
	if a < 0 || !(a < b && b < c) {
		t.Errorf("get members is not sorted by name:\n%s", out)
	}
	tree := lbctl(t, "status", "sorted", ep)
	if strings.Contains(tree, "healthmonitor HTTP") || !regexp.MustCompile(`└─ healthmonitor +HTTP +`).MatchString(tree) {
		t.Errorf("status tree's monitor line:\n%s", tree)
	}
}

// TestTop: lbctl top shows each member of a load balancer serving traffic
// with its name, address, status and rates, read from the API and
// /metrics.
func TestTop(t *testing.T) {
	l := lbdtest.Start(t, controlplane.Options{})
	bs := backends(t, "127.0.0.142", "127.0.0.143")
	metricsSrv := httptest.NewServer(metrics.Handler(l.RT, metrics.Options{}))
	defer metricsSrv.Close()
	port := freePort(t, "127.0.0.141")
	file := filepath.Join(t.TempDir(), "top.yaml")
	src := fmt.Sprintf(`loadbalancers:
  - name: watched
    vip_address: 127.0.0.141
    listeners:
      - name: front
        protocol: HTTP
        protocol_port: %d
        default_pool:
          name: backs
          protocol: HTTP
          lb_algorithm: ROUND_ROBIN
          members:
`, port)
	for i, b := range bs {
		host, p, _ := net.SplitHostPort(b.Addr())
		src += fmt.Sprintf("            - {name: back%d, address: %s, protocol_port: %s}\n", i, host, p)
	}
	os.WriteFile(file, []byte(src), 0o644)
	ep := "--endpoint=" + l.URL
	lbctl(t, "apply", "-f", file, ep)
	// Traffic while top samples.
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		c := http.Client{Timeout: 5 * time.Second}
		for ctx.Err() == nil {
			if resp, err := c.Get(fmt.Sprintf("http://127.0.0.141:%d/", port)); err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}
	}()
	out := lbctl(t, "top", "watched", ep, "--metrics", metricsSrv.URL+"/metrics", "--interval", "500ms", "--once")
	stop()
	<-done
	t.Logf("lbctl top:\n%s", out)
	if !strings.HasPrefix(out, "load balancer watched (ACTIVE, ONLINE)") {
		t.Errorf("top's first line: %.80q", out)
	}
	rowRE := func(name, addr string) *regexp.Regexp {
		// AVG in milliseconds; P99 "-": lbd exports a member's buckets
		// only with --metrics-member-buckets.
		return regexp.MustCompile(`(?m)^` + name + ` +` + regexp.QuoteMeta(addr) + ` +(ONLINE|NO_MONITOR) +([0-9.]+) +\d+ +[0-9.]+ms +- +[0-9.]+ +backs`)
	}
	for i, b := range bs {
		m := rowRE(fmt.Sprintf("back%d", i), b.Addr()).FindStringSubmatch(out)
		if m == nil {
			t.Errorf("no row for back%d (%s)", i, b.Addr())
			continue
		}
		if m[2] == "0.0" {
			t.Errorf("back%d: 0 requests/s while traffic flowed", i)
		}
	}
	if !regexp.MustCompile(`(?m)^front +HTTP:\d+ +ONLINE +[1-9]`).MatchString(out) {
		t.Errorf("no listener row with traffic")
	}
}

func TestQuantile(t *testing.T) {
	bounds := []float64{0.001, 0.01, 0.1, 1}
	cum := []float64{0, 50, 99, 100}
	near := func(a, b float64) bool { return math.Abs(a-b) < 1e-9 }
	if got := quantile(0.5, bounds, cum, 100); !near(got, 0.01) {
		t.Errorf("p50 %v, want 0.01", got)
	}
	if got := quantile(0.99, bounds, cum, 100); !near(got, 0.1) {
		t.Errorf("p99 %v, want 0.1", got)
	}
	if got := quantile(0.25, bounds, cum, 100); got < 0.001 || got > 0.01 {
		t.Errorf("p25 %v, want within (0.001, 0.01]", got)
	}
}
