package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// proc is an lbd process started by a test, with its admin server and
// (when started with one) its API.
type proc struct {
	cmd   *exec.Cmd
	logs  *syncBuffer
	api   string // base URL, "" without API
	admin string // host:port
	token string
}

// startProc runs lbd with args plus a free admin port (and the API at
// apiAddr unless empty) and waits until the admin server, and the API if
// any, answer.
func startProc(t *testing.T, apiAddr, token string, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{logs: &syncBuffer{}, admin: fmt.Sprintf("127.0.0.1:%d", freePort(t)), token: token}
	args = append(args, "--admin-addr", p.admin)
	if apiAddr != "" {
		args = append(args, "--api-addr", apiAddr)
		p.api = "http://" + apiAddr
	}
	p.cmd = exec.Command(binary(t), isolated(t, args...)...)
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stderr = p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.cmd.Process.Kill(); p.cmd.Wait() })
	deadline := time.Now().Add(15 * time.Second)
	for _, u := range []string{"http://" + p.admin + "/healthz", p.api + "/"} {
		if u == "/" {
			continue
		}
		for {
			resp, err := http.Get(u)
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					break
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("lbd never answered at %s\nlogs:\n%s", u, p.logs.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return p
}

// kill9 kills the process with SIGKILL and reaps it.
func (p *proc) kill9(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	p.cmd.Wait()
}

// apiClient sends API requests without keeping connections open, so the
// process's connection count is the data plane's.
var apiClient = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

// call sends one API request and decodes the JSON answer.
func (p *proc) call(method, path string, body any) (int, map[string]any, error) {
	var rd io.Reader
	if body != nil {
		data, _ := json.Marshal(body)
		rd = bytes.NewReader(data)
	}
	req, _ := http.NewRequest(method, p.api+path, rd)
	req.Header.Set("Content-Type", "application/json")
	if p.token != "" {
		req.Header.Set("X-Auth-Token", p.token)
	}
	resp, err := apiClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	var m map[string]any
	json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m, nil
}

// must is call that fails the test on an error or another status.
func (p *proc) must(t *testing.T, want int, method, path string, body any) map[string]any {
	t.Helper()
	code, m, err := p.call(method, path, body)
	if err != nil || code != want {
		t.Fatalf("%s %s: %d %v %v, want %d\nlogs:\n%s", method, path, code, m, err, want, p.logs.String())
	}
	return m
}

// procResources is what an lbd process holds.
type procResources struct{ fds, goroutines int }

func (r procResources) String() string {
	return fmt.Sprintf("%d fds, %d goroutines", r.fds, r.goroutines)
}

// resources reads the process's open files from /proc and its goroutines
// from the admin server's pprof endpoint.
func (p *proc) resources(t *testing.T) procResources {
	t.Helper()
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", p.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := apiClient.Get("http://" + p.admin + "/debug/pprof/goroutine?debug=1")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	line, _ := bufio.NewReader(resp.Body).ReadString('\n')
	var n int
	if _, err := fmt.Sscanf(line, "goroutine profile: total %d", &n); err != nil {
		t.Fatalf("goroutine profile: %q: %v", line, err)
	}
	return procResources{fds: len(fds), goroutines: n}
}

// settle waits until the process's resources stop changing.
func (p *proc) settle(t *testing.T) procResources {
	t.Helper()
	prev := procResources{-1, -1}
	for range 100 {
		now := p.resources(t)
		if now == prev {
			return now
		}
		prev = now
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("lbd's resources never settled: %v", prev)
	return prev
}

// expectBaseline waits (up to 15 s: idle member connections are reaped
// after 4 to 8 s) until the process holds no more than base, plus slack
// goroutines for the runtime's own comings and goings.
func (p *proc) expectBaseline(t *testing.T, base procResources, slack int) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		now := p.resources(t)
		if now.fds <= base.fds && now.goroutines <= base.goroutines+slack {
			t.Logf("resources back to %v (baseline %v)", now, base)
			return
		}
		if time.Now().After(deadline) {
			resp, err := apiClient.Get("http://" + p.admin + "/debug/pprof/goroutine?debug=1")
			var dump []byte
			if err == nil {
				dump, _ = io.ReadAll(resp.Body)
				resp.Body.Close()
			}
			links, _ := filepath.Glob(fmt.Sprintf("/proc/%d/fd/*", p.cmd.Process.Pid))
			var targets []string
			for _, l := range links {
				if dst, err := os.Readlink(l); err == nil {
					targets = append(targets, dst)
				}
			}
			t.Fatalf("leak: %v, baseline %v\nfds: %s\n%s", now, base, strings.Join(targets, " "), dump)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// writeAtomic replaces a config file as an operator should while lbd may
// reload it: a new file renamed over the old one. (Rewriting it in place
// lets a reload read it empty or cut short, which is a valid config with
// fewer load balancers.)
func writeAtomic(t *testing.T, path, content string) {
	tmp := path + ".new"
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Error(err)
		return
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Error(err)
	}
}

// memberCycle is a stream of API changes over one member of a pool:
// create it, reweight it, delete it, and again.
type memberCycle struct {
	poolID string
	port   int    // the member's protocol_port on 127.0.0.1
	id     string // the member while it exists
}

// step makes change i of the cycle and returns an error unless lbd
// acknowledged it with the status Octavia answers.
func (c *memberCycle) step(p *proc, i int) error {
	members := "/v2/lbaas/pools/" + c.poolID + "/members"
	var code, want int
	var m map[string]any
	var err error
	switch i % 3 {
	case 0:
		code, m, err = p.call("POST", members, map[string]any{"member": map[string]any{"address": "127.0.0.1", "protocol_port": c.port}})
		want = 201
		if err == nil && code == want {
			c.id = m["member"].(map[string]any)["id"].(string)
		}
	case 1:
		code, m, err = p.call("PUT", members+"/"+c.id, map[string]any{"member": map[string]any{"weight": 1 + i%7}})
		want = 200
	case 2:
		code, m, err = p.call("DELETE", members+"/"+c.id, nil)
		want = 204
	}
	if err != nil || code != want {
		return fmt.Errorf("API change %d: %d %v %v", i, code, m, err)
	}
	return nil
}
