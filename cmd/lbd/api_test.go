package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"lbd/internal/demo"
)

// lbdProc is an lbd process with its Octavia API.
type lbdProc struct {
	cmd  *exec.Cmd
	logs *syncBuffer
	api  string // base URL
}

// startAPI runs lbd with args plus --api-addr addr and waits until its API
// answers; env is added to the process environment.
func startAPI(t *testing.T, addr string, env []string, args ...string) *lbdProc {
	t.Helper()
	p := &lbdProc{logs: &syncBuffer{}, api: "http://" + addr}
	p.cmd = exec.Command(binary(t), isolated(t, append(args, "--api-addr", addr)...)...)
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stderr = p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.cmd.Process.Kill(); p.cmd.Wait() })
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get(p.api + "/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("lbd's API never answered at %s\nlogs:\n%s", p.api, p.logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// call sends one API request with token and decodes the JSON answer.
func call(t *testing.T, base, token, method, path string, body any) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		data, _ := json.Marshal(body)
		rd = bytes.NewReader(data)
	}
	req, _ := http.NewRequest(method, base+path, rd)
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("X-Auth-Token", token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	var m map[string]any
	json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

// spread sends n requests to url and counts answers per X-Backend; "" for
// answers without one (lbd's own 503), "refused" for failed connections.
func spread(url string, n int) map[string]int {
	c := http.Client{Timeout: 5 * time.Second}
	got := map[string]int{}
	for range n {
		resp, err := c.Get(url)
		if err != nil {
			got["refused"]++
			continue
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		got[resp.Header.Get("X-Backend")]++
	}
	return got
}

func demoAt(t *testing.T, ctx context.Context, addr, name string) *demo.Backend {
	t.Helper()
	b, err := demo.Start(ctx, addr, demo.Options{Name: name}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("demo backend on %s: %v", addr, err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func hostPort(t *testing.T, addr string) (string, int) {
	t.Helper()
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	var n int
	fmt.Sscan(p, &n)
	return h, n
}

// TestAPIChangesSurviveKill9: changes acknowledged by the API are on disk:
// after kill -9 and a restart, everything is back and serving traffic.
func TestAPIChangesSurviveKill9(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const vip, token = "127.0.0.141", "t0ps3cret"
	m1 := demoAt(t, ctx, "127.0.0.142:0", "m1")
	m2 := demoAt(t, ctx, "127.0.0.143:0", "m2")
	m3 := demoAt(t, ctx, "127.0.0.144:0", "m3")
	dir := t.TempDir()
	cfg := filepath.Join(dir, "lbd.yaml")
	os.WriteFile(cfg, []byte("loadbalancers: []\n"), 0o644)
	tokenFile := filepath.Join(dir, "token")
	os.WriteFile(tokenFile, []byte(token+"\n"), 0o600)
	args := []string{"--config", cfg, "--state-dir", filepath.Join(dir, "state"), "--vip-address", vip, "--token-file", tokenFile}
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	p := startAPI(t, addr, nil, args...)

	if code, m := call(t, p.api, "", "GET", "/v2/lbaas/loadbalancers", nil); code != http.StatusUnauthorized {
		t.Fatalf("without a token: %d %v, want 401", code, m)
	}
	port := freePort(t)
	members := []any{}
	for _, b := range []*demo.Backend{m1, m2} {
		h, bp := hostPort(t, b.Addr())
		members = append(members, map[string]any{"address": h, "protocol_port": bp})
	}
	code, m := call(t, p.api, token, "POST", "/v2/lbaas/loadbalancers", map[string]any{"loadbalancer": map[string]any{
		"name": "durable", "vip_subnet_id": "8ced0346-1b20-4993-b175-66a23fc579f3",
		"listeners": []any{map[string]any{"name": "web", "protocol": "HTTP", "protocol_port": port,
			"default_pool": map[string]any{"name": "pool1", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN", "members": members}}},
	}})
	if code != http.StatusCreated {
		t.Fatalf("create: %d %v", code, m)
	}
	lbID := m["loadbalancer"].(map[string]any)["id"].(string)
	poolID := m["loadbalancer"].(map[string]any)["pools"].([]any)[0].(map[string]any)["id"].(string)
	url := fmt.Sprintf("http://%s:%d/", vip, port)
	if got := spread(url, 10); got["m1"] != 5 || got["m2"] != 5 {
		t.Fatalf("traffic after create = %v, want 5 and 5", got)
	}
	h3, p3 := hostPort(t, m3.Addr())
	if code, m := call(t, p.api, token, "POST", "/v2/lbaas/pools/"+poolID+"/members",
		map[string]any{"member": map[string]any{"address": h3, "protocol_port": p3, "name": "third"}}); code != http.StatusCreated {
		t.Fatalf("add member: %d %v", code, m)
	}
	if code, _ := call(t, p.api, token, "PUT", "/v2/lbaas/loadbalancers/"+lbID,
		map[string]any{"loadbalancer": map[string]any{"description": "acknowledged"}}); code != http.StatusOK {
		t.Fatalf("update: %d", code)
	}

	// kill -9: no chance to flush anything.
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	p.cmd.Wait()
	if _, err := http.Get(url); err == nil {
		t.Fatal("the listener still answers after kill -9")
	}

	p2 := startAPI(t, addr, nil, args...)
	code, m = call(t, p2.api, token, "GET", "/v2/lbaas/loadbalancers/"+lbID, nil)
	if code != http.StatusOK || m["loadbalancer"].(map[string]any)["description"] != "acknowledged" {
		t.Fatalf("after restart: %d %v\nlogs:\n%s", code, m, p2.logs.String())
	}
	code, m = call(t, p2.api, token, "GET", "/v2/lbaas/pools/"+poolID+"/members", nil)
	if code != http.StatusOK || len(m["members"].([]any)) != 3 {
		t.Fatalf("members after restart: %d %v", code, m)
	}
	if got := spread(url, 30); got["m1"] != 10 || got["m2"] != 10 || got["m3"] != 10 {
		t.Errorf("traffic after restart = %v, want 10 each on m1, m2, m3", got)
	}
}

// TestAPIRefusesOpenNonLoopback: no auth, not loopback: lbd will not start.
func TestAPIRefusesOpenNonLoopback(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "lbd.yaml")
	os.WriteFile(cfg, []byte("loadbalancers: []\n"), 0o644)
	cmd := exec.Command(binary(t), isolated(t, "--config", cfg, "--api-addr", "0.0.0.0:0")...)
	cmd.Env = append(os.Environ(), "LBD_API_TOKEN=")
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "not a loopback address and no authentication is configured") {
		t.Errorf("lbd with an open API on 0.0.0.0: %v\n%s", err, out)
	}
}
