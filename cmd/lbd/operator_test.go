package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"lbd/internal/lbdtest/poolyaml"
)

// waitLog waits until lbd has logged a line containing want.
func waitLog(t *testing.T, logs *syncBuffer, want string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !strings.Contains(logs.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("lbd never logged %q; logs:\n%s", want, logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// logLine finds lbd's JSON log line with message msg.
func logLine(t *testing.T, logs, msg string) map[string]any {
	t.Helper()
	for _, line := range strings.Split(logs, "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["msg"] == msg {
			return m
		}
	}
	t.Fatalf("no log line %q in:\n%s", msg, logs)
	return nil
}

// TestHelpSaysWhatLbdIs: --help and -h exit 0 and print, on stdout, what
// lbd is before its usage and flags.
func TestHelpSaysWhatLbdIs(t *testing.T) {
	for _, arg := range []string{"--help", "-h"} {
		cmd := exec.Command(binary(t), arg)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("lbd %s: %v\n%s", arg, err, stderr.String())
		}
		help := string(out)
		if !strings.HasPrefix(help, "lbd is a load balancer and health checker") {
			t.Errorf("lbd %s starts with %.60q", arg, help)
		}
		for _, want := range []string{"Usage:\n  lbd [flags]", "lbd --check --config FILE", "SIGHUP reloads", "  -config string", "docs/lbd-flags.md"} {
			if !strings.Contains(help, want) {
				t.Errorf("lbd %s lacks %q", arg, want)
			}
		}
	}
	out, err := exec.Command(binary(t), "--no-such-flag").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "flag provided but not defined: -no-such-flag (lbd --help lists the flags)") {
		t.Errorf("a bad flag: %v\n%s", err, out)
	}
}

// TestVersionIsTheBuildInfoFamily: lbd --version prints what the
// lbd_build_info family says.
func TestVersionIsTheBuildInfoFamily(t *testing.T) {
	out, err := exec.Command(binary(t), "--version").Output()
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`^lbd (\S+) \(revision (\S+), (?:\S+, )?(go\S+) \S+/\S+\)\n$`).FindStringSubmatch(string(out))
	if m == nil {
		t.Fatalf("lbd --version: %q", out)
	}
	cfg := filepath.Join(t.TempDir(), "lbd.yaml")
	writeConfig(t, cfg, freePort(t), "127.0.0.1:1")
	p := startProc(t, "", "", nil, "--config", cfg)
	resp, err := http.Get("http://" + p.admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	want := fmt.Sprintf(`lbd_build_info{goversion=%q,revision=%q,version=%q} 1`, m[3], m[2], m[1])
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if sc.Text() == want {
			return
		}
	}
	t.Errorf("/metrics has no %s", want)
}

// TestAPIPortInUse: when another process holds the API's port, lbd says so
// in those words and the data plane serves on.
func TestAPIPortInUse(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	port := freePort(t)
	cfg := filepath.Join(t.TempDir(), "lbd.yaml")
	backend := httpBackend(t)
	writeConfig(t, cfg, port, backend)
	var logs syncBuffer
	cmd := exec.Command(binary(t), isolated(t, "--config", cfg, "--api-addr", taken.Addr().String())...)
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() }()
	waitLog(t, &logs, `"msg":"lbd started"`)
	line := logLine(t, logs.String(), "Octavia API not started: "+taken.Addr().String()+
		` in use (another lbd, or Octavia itself, on its default port?): choose another --api-addr, or --api-addr "" to run without the API; the data plane serves on`)
	if line["level"] != "ERROR" {
		t.Errorf("level %v", line["level"])
	}
	if strings.Contains(logs.String(), "Octavia API stopped") {
		t.Errorf("lbd says the API stopped, which never started:\n%s", logs.String())
	}
	waitServing(t, fmt.Sprintf("http://127.0.0.1:%d/", port))
}

// httpBackend is a member that answers every request.
func httpBackend(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok\n")) })}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// TestNothingToServeWarns: a config with no load balancers and the API off
// starts a daemon that can serve nothing until a reload; lbd warns.
func TestNothingToServeWarns(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "empty.yaml")
	os.WriteFile(cfg, []byte("loadbalancers: []\n"), 0o644)
	p := startProc(t, "", "", nil, "--config", cfg)
	waitLog(t, p.logs, `"msg":"lbd started"`)
	line := logLine(t, p.logs.String(), `nothing to serve: the config has no load balancers and the Octavia API is off (--api-addr ""); lbd serves nothing until the file gets one and SIGHUP reloads it`)
	if line["level"] != "WARN" || line["config"] != cfg {
		t.Errorf("warning: %v", line)
	}
	// With the API on, an empty config is how one starts: no warning.
	cfg2 := filepath.Join(t.TempDir(), "empty.yaml")
	os.WriteFile(cfg2, []byte("loadbalancers: []\n"), 0o644)
	q := startProc(t, fmt.Sprintf("127.0.0.1:%d", freePort(t)), "", nil, "--config", cfg2)
	waitLog(t, q.logs, `"msg":"lbd started"`)
	if strings.Contains(q.logs.String(), "nothing to serve") {
		t.Errorf("warned with the API on:\n%s", q.logs.String())
	}
}

// TestDurationsLoggedAsStrings: durations in lbd's log lines read "30s",
// not nanoseconds.
func TestDurationsLoggedAsStrings(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "lbd.yaml")
	writeConfig(t, cfg, freePort(t), "127.0.0.1:1")
	p := startProc(t, "", "", nil, "--config", cfg, "--shutdown-timeout", "7s")
	p.cmd.Process.Signal(syscall.SIGTERM)
	p.cmd.Wait()
	if line := logLine(t, p.logs.String(), "shutting down"); line["timeout"] != "7s" {
		t.Errorf("shutting down: timeout %v (%T), want \"7s\"", line["timeout"], line["timeout"])
	}
}

// summaryConfig is a load balancer of two members on port.
func summaryConfig(port int) string {
	return string(poolyaml.Pool{LB: "lb1", Name: "pool1", Port: port, Members: 2, Member: func(i int) string {
		return fmt.Sprintf("name: server%d, address: 127.0.0.1, protocol_port: %d", i+1, i+1)
	}}.YAML())
}

// reloadLine waits for the n-th "reloaded" line and returns it.
func reloadLine(t *testing.T, logs *syncBuffer, n int) map[string]any {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		var found []map[string]any
		for _, line := range strings.Split(logs.String(), "\n") {
			var m map[string]any
			if json.Unmarshal([]byte(line), &m) == nil && m["msg"] == "reloaded" {
				found = append(found, m)
			}
		}
		if len(found) >= n {
			return found[n-1]
		}
		if time.Now().After(deadline) {
			t.Fatalf("no reload %d logged:\n%s", n, logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestReloadSummary: every reload logs in one line what changed; a reload
// that takes back changes made through the API says which, by name and ID,
// and one that does not says nothing of the API.
func TestReloadSummary(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "lbd.yaml")
	port := freePort(t)
	src := summaryConfig(port)
	os.WriteFile(cfgPath, []byte(src), 0o644)
	p := startProc(t, fmt.Sprintf("127.0.0.1:%d", freePort(t)), "", nil, "--config", cfgPath)

	// A file edit: a listener added, server2 removed, server1 reweighted.
	edited := strings.Replace(src, "    listeners:\n", fmt.Sprintf("    listeners:\n      - {name: raw, protocol: TCP, protocol_port: %d}\n", freePort(t)), 1)
	edited = strings.Replace(edited, "            - {name: server2, address: 127.0.0.1, protocol_port: 2}\n", "", 1)
	edited = strings.Replace(edited, "protocol_port: 1}", "protocol_port: 1, weight: 3}", 1)
	writeAtomic(t, cfgPath, edited)
	p.cmd.Process.Signal(syscall.SIGHUP)
	line := reloadLine(t, p.logs, 1)
	if want := "1 listener added (raw); 1 member removed (server2); 1 member changed (server1)"; line["changes"] != want {
		t.Errorf("changes: %v, want %s", line["changes"], want)
	}
	for k, want := range map[string]float64{"listeners_added": 1, "listeners_removed": 0, "members_added": 0, "members_removed": 1, "members_changed": 1} {
		if line[k] != want {
			t.Errorf("%s: %v, want %v", k, line[k], want)
		}
	}
	if strings.Contains(p.logs.String(), "changes made through the API") {
		t.Errorf("a reload over no API change speaks of the API:\n%s", p.logs.String())
	}

	// Through the API: a member added to the file's pool.
	var poolID string
	for _, lb := range p.must(t, 200, "GET", "/v2/lbaas/pools", nil)["pools"].([]any) {
		poolID = lb.(map[string]any)["id"].(string)
	}
	m := p.must(t, 201, "POST", "/v2/lbaas/pools/"+poolID+"/members", map[string]any{"member": map[string]any{"name": "server3", "address": "127.0.0.1", "protocol_port": 3}})
	memberID := m["member"].(map[string]any)["id"].(string)

	// The file edited again wins over the API's change.
	writeAtomic(t, cfgPath, strings.Replace(edited, "weight: 3}", "weight: 4}", 1))
	p.cmd.Process.Signal(syscall.SIGHUP)
	line = reloadLine(t, p.logs, 2)
	if want := "1 member removed (server3); 1 member changed (server1)"; line["changes"] != want {
		t.Errorf("changes: %v, want %s", line["changes"], want)
	}
	w := logLine(t, p.logs.String(), "the reloaded file replaced changes made through the API")
	if want := `member "server3" (` + memberID + `) removed`; w["objects"] != want || w["level"] != "WARN" {
		t.Errorf("API changes replaced: %v, want objects %s", w, want)
	}

	// Nothing changed: the line says so.
	p.cmd.Process.Signal(syscall.SIGHUP)
	if line = reloadLine(t, p.logs, 3); line["changes"] != "no change" {
		t.Errorf("a reload of the same file: %v", line["changes"])
	}
}

// TestAccessLogs: by default each request is a JSON line on stderr, with
// the names of what served it; --access-log file:PATH writes Octavia's
// amphora format to a file, which SIGUSR1 reopens after logrotate moved it;
// /metrics counts the lines.
func TestAccessLogs(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "lbd.yaml")
	port := freePort(t)
	backend := httpBackend(t)
	writeConfig(t, cfg, port, backend)
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)

	// Default: stderr, JSON.
	p := startProc(t, "", "", nil, "--config", cfg, "--connection-logging")
	waitServing(t, url+"first")
	waitLog(t, p.logs, `"msg":"access"`)
	line := logLine(t, p.logs.String(), "access")
	for k, want := range map[string]any{"listener": "listener1", "pool": "pool1", "member_address": backend, "status": 200.0, "request": "GET /first HTTP/1.1", "termination": "--"} {
		if line[k] != want {
			t.Errorf("stderr line: %s = %v, want %v", k, line[k], want)
		}
	}

	// A file, reopened on SIGUSR1.
	path := filepath.Join(dir, "access.log")
	p.kill9(t) // the port is q's now
	q := startProc(t, "", "", nil, "--config", cfg, "--access-log", "file:"+path)
	waitServing(t, url+"one")
	readLines := func(path string) []string {
		data, _ := os.ReadFile(path)
		return strings.Split(strings.TrimSpace(string(data)), "\n")
	}
	deadline := time.Now().Add(15 * time.Second)
	for !strings.Contains(strings.Join(readLines(path), "\n"), `"GET /one HTTP/1.1" 200`) {
		if time.Now().After(deadline) {
			t.Fatalf("no line for /one in %s: %q", path, readLines(path))
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	q.cmd.Process.Signal(syscall.SIGUSR1)
	waitLog(t, q.logs, `"msg":"access log reopened"`)
	waitServing(t, url+"two")
	q.cmd.Process.Signal(syscall.SIGTERM)
	q.cmd.Wait()
	old, cur := strings.Join(readLines(path+".1"), "\n"), readLines(path)
	if !strings.Contains(old, "/one") || strings.Contains(old, "/two") || len(cur) != 1 || !strings.Contains(cur[0], `"GET /two HTTP/1.1" 200`) {
		t.Fatalf("after the rotation: old file %q, new file %q", old, cur)
	}
	// The amphora's fields: project, load balancer, listener, client,
	// time, request, status, bytes, certificate, backend, member, total,
	// termination.
	f := strings.Fields(cur[0])
	if len(f) != 18 || f[0] != "-" || f[3] != "127.0.0.1" || f[9] != "200" || f[12] != "-" || f[13] != `""` || f[17] != "----" {
		t.Errorf("not the amphora's format: %q", cur[0])
	}
}

// TestMessagesNameObjects: a listener that cannot bind is named in the
// error by its name, ID and place in the file, and the log line of one
// that starts carries its name and place beside its ID.
func TestMessagesNameObjects(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "lbd.yaml")
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	writeConfig(t, cfg, taken.Addr().(*net.TCPAddr).Port, "127.0.0.1:1")
	out, err := exec.Command(binary(t), isolated(t, "--config", cfg)...).CombinedOutput()
	want := regexp.MustCompile(`lbd: start: listener "listener1" \([0-9a-f-]{36}, ` + regexp.QuoteMeta(cfg) + `:5\): listen tcp 127\.0\.0\.1:\d+: bind: address already in use`)
	if err == nil || !want.Match(out) {
		t.Errorf("a listener that cannot bind: %v\n%s", err, out)
	}

	port := freePort(t)
	writeConfig(t, cfg, port, "127.0.0.1:1")
	p := startProc(t, "", "", nil, "--config", cfg)
	waitLog(t, p.logs, `"msg":"listener started"`)
	line := logLine(t, p.logs.String(), "listener started")
	if line["listener"] != "listener1" || line["origin"] != cfg+":5" || line["listener_id"] == "" {
		t.Errorf("listener started: %v", line)
	}
}
