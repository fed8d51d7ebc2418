package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestConnectionFloodStopsAtLimit: 1500 connections flood a listener with
// connection_limit 50, each sending half a request head and waiting. The
// promise: lbd takes exactly 50 of them (the rest wait in the kernel's
// backlog, as with HAProxy's maxconn), and meanwhile the API, the admin
// server's /metrics and /healthz, and another listener all answer promptly.
// When the flood ends, the listener serves again.
func TestConnectionFloodStopsAtLimit(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	m := demoAt(t, ctx, "127.0.0.1:0", "m1")
	_, mport := splitAddr(m.Addr())
	flooded, other := freePort(t), freePort(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "lbd.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`loadbalancers:
  - name: lb
    vip_address: 127.0.0.1
    listeners:
      - {name: flooded, protocol: HTTP, protocol_port: %d, connection_limit: 50, default_pool: {name: pool}}
      - {name: other, protocol: HTTP, protocol_port: %d, default_pool: {name: pool}}
    pools:
      - name: pool
        protocol: HTTP
        lb_algorithm: ROUND_ROBIN
        members: [{address: 127.0.0.1, protocol_port: %d}]
`, flooded, other, mport)), 0o644)
	p := startProc(t, fmt.Sprintf("127.0.0.1:%d", freePort(t)), "", []string{"LBD_API_TOKEN="}, "--config", cfg)
	base := p.settle(t)

	const flood = 1500
	conns := make([]net.Conn, 0, flood)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range flood {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", flooded), 2*time.Second)
		if err != nil {
			t.Fatalf("flood connection %d: %v", len(conns), err)
		}
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: flood\r\n") // and never the end
		conns = append(conns, c)
	}
	// lbd accepts up to the limit; wait until it has.
	deadline := time.Now().Add(10 * time.Second)
	var during procResources
	for {
		during = p.resources(t)
		if during.fds >= base.fds+50 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if during.fds < base.fds+50 || during.fds > base.fds+55 {
		t.Errorf("lbd holds %d fds during a flood of %d on a listener limited to 50; %d before", during.fds, flood, base.fds)
	}

	timed := func(name, url string) {
		t.Helper()
		start := time.Now()
		resp, err := apiClient.Get(url)
		took := time.Since(start)
		if err != nil {
			t.Errorf("%s during the flood: %v", name, err)
			return
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || took > time.Second {
			t.Errorf("%s during the flood: %d after %v", name, resp.StatusCode, took)
		}
	}
	for range 5 {
		timed("API", p.api+"/v2/lbaas/loadbalancers")
		timed("/metrics", "http://"+p.admin+"/metrics")
		timed("/healthz", "http://"+p.admin+"/healthz")
		timed("the other listener", fmt.Sprintf("http://127.0.0.1:%d/", other))
	}
	// The 51st client waits: nothing answers it while the flood holds.
	c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", flooded))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if n, _ := c.Read(make([]byte, 1)); n != 0 {
		t.Error("a client beyond connection_limit was served during the flood")
	}

	for _, c := range conns {
		c.Close()
	}
	conns = nil
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get(fmt.Sprintf("http://127.0.0.1:%d/", flooded))
	if err != nil {
		t.Fatalf("after the flood: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("after the flood: %d", resp.StatusCode)
	}
}
