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
	"path/filepath"
	"strings"
	"testing"
	"time"

	"lbd/internal/controlplane"
	"lbd/internal/demo"
	"lbd/internal/lbdtest"
)

// lbctl runs a command in-process and returns its output; it fails the
// test when the command fails.
func lbctl(t *testing.T, args ...string) string {
	t.Helper()
	var out, errb bytes.Buffer
	if err := run(context.Background(), args, &out, &errb); err != nil {
		t.Fatalf("lbctl %s: %v\n%s", strings.Join(args, " "), err, errb.String())
	}
	return out.String()
}

// backends starts demo web servers on loopback addresses.
func backends(t *testing.T, addrs ...string) []*demo.Backend {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	var bs []*demo.Backend
	for _, a := range addrs {
		b, err := demo.Start(ctx, a+":0", demo.Options{Name: a}, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		bs = append(bs, b)
	}
	return bs
}

// hits sends n requests to url and counts answers by X-Backend.
func hits(t *testing.T, url string, n int) map[string]int {
	t.Helper()
	c := http.Client{Timeout: 5 * time.Second}
	got := map[string]int{}
	for range n {
		resp, err := c.Get(url)
		if err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		got[resp.Header.Get("X-Backend")]++
	}
	return got
}

func freePort(t *testing.T, host string) int {
	t.Helper()
	ln, err := net.Listen("tcp", host+":0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func TestLbctlAgainstLBD(t *testing.T) {
	l := lbdtest.Start(t, controlplane.Options{})
	ep := "--endpoint=" + l.URL
	bs := backends(t, "127.0.0.132", "127.0.0.133")
	const vip = "127.0.0.131"
	port := freePort(t, vip)
	file := filepath.Join(t.TempDir(), "web.yaml")
	yaml := fmt.Sprintf(`loadbalancers:
  - name: web
    vip_address: %s
    listeners:
      - name: http
        protocol: HTTP
        protocol_port: %d
        default_pool:
          name: webpool
          protocol: HTTP
          lb_algorithm: ROUND_ROBIN
          members:
`, vip, port)
	for i, b := range bs {
		host, p, _ := net.SplitHostPort(b.Addr())
		yaml += fmt.Sprintf("            - {name: m%d, address: %s, protocol_port: %s}\n", i, host, p)
	}
	if err := os.WriteFile(file, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}

	if out := lbctl(t, "apply", "-f", file, ep); !strings.Contains(out, "create  load balancer  web") {
		t.Errorf("first apply printed:\n%s", out)
	}
	url := fmt.Sprintf("http://%s:%d/", vip, port)
	if got := hits(t, url, 20); got["127.0.0.132"] != 10 || got["127.0.0.133"] != 10 {
		t.Errorf("after apply, traffic = %v; want 10 each (round robin)", got)
	}
	if out := lbctl(t, "apply", "-f", file, ep); !strings.Contains(out, "no changes") {
		t.Errorf("second apply printed:\n%s", out)
	}

	tree := lbctl(t, "status", "web", ep)
	for _, want := range []string{"loadbalancer web", "└─ listener http", fmt.Sprintf("HTTP:%d", port), "└─ pool webpool", "├─ member 127.0.0.132:"} {
		if !strings.Contains(tree, want) {
			t.Errorf("status tree lacks %q:\n%s", want, tree)
		}
	}
	var st map[string]any
	if err := json.Unmarshal([]byte(lbctl(t, "status", "web", "-o", "json", ep)), &st); err != nil || st["statuses"] == nil {
		t.Errorf("status -o json: %v %v", err, st)
	}

	lbctl(t, "member", "drain", "--pool", "webpool", "m0", ep)
	var members []map[string]any
	if err := json.Unmarshal([]byte(lbctl(t, "get", "members", "--pool", "webpool", "-o", "json", ep)), &members); err != nil {
		t.Fatal(err)
	}
	for _, m := range members {
		if want := map[string]float64{"m0": 0, "m1": 1}[m["name"].(string)]; m["weight"] != want {
			t.Errorf("member %v weight %v, want %v", m["name"], m["weight"], want)
		}
	}
	if got := hits(t, url, 10); got["127.0.0.133"] != 10 {
		t.Errorf("after draining m0, traffic = %v; want all on 127.0.0.133", got)
	}
	extra := backends(t, "127.0.0.134")[0]
	host, p, _ := net.SplitHostPort(extra.Addr())
	lbctl(t, "member", "add", "--pool", "webpool", "--address", host, "--port", p, "--name", "m2", ep)
	if got := hits(t, url, 10); got["127.0.0.134"] != 5 || got["127.0.0.133"] != 5 {
		t.Errorf("after adding m2, traffic = %v; want 5 and 5", got)
	}
	lbctl(t, "member", "remove", "--pool", "webpool", host+":"+p, ep)
	yml := lbctl(t, "get", "pools", "webpool", "-o", "yaml", ep)
	if !strings.Contains(yml, "name: webpool") || !strings.Contains(yml, "lb_algorithm: ROUND_ROBIN") {
		t.Errorf("get pools -o yaml:\n%s", yml)
	}
	table := lbctl(t, "get", "lbs", ep)
	if !strings.Contains(table, "web") || !strings.Contains(table, vip) {
		t.Errorf("get lbs:\n%s", table)
	}

	var errb bytes.Buffer
	if err := run(context.Background(), []string{"delete", "web", ep}, io.Discard, &errb); err == nil || !strings.Contains(err.Error(), "it has children") {
		t.Errorf("delete without --cascade: %v", err)
	}
	lbctl(t, "delete", "web", "--cascade", ep)
	if out := lbctl(t, "get", "lbs", "-o", "json", ep); strings.TrimSpace(out) != "[]" {
		t.Errorf("after delete: %s", out)
	}
	c := http.Client{Timeout: 2 * time.Second}
	if _, err := c.Get(url); err == nil {
		t.Errorf("the listener still answers after the load balancer was deleted")
	}
}
