package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"lbd/internal/controlplane"
	"lbd/internal/lbdtest"
)

// TestLbctlL7: lbctl apply creates a file's L7 policies and session
// persistence on a running lbd, traffic follows them, and get l7policies
// lists them in order with their rules.
func TestLbctlL7(t *testing.T) {
	l := lbdtest.Start(t, controlplane.Options{})
	ep := "--endpoint=" + l.URL
	bs := backends(t, "127.0.0.136", "127.0.0.137")
	const vip = "127.0.0.135"
	port := freePort(t, vip)
	h0, p0, _ := net.SplitHostPort(bs[0].Addr())
	h1, p1, _ := net.SplitHostPort(bs[1].Addr())
	file := filepath.Join(t.TempDir(), "l7.yaml")
	yaml := fmt.Sprintf(`loadbalancers:
  - name: l7
    vip_address: %s
    pools:
      - {name: api, protocol: HTTP, lb_algorithm: ROUND_ROBIN, members: [{address: %s, protocol_port: %s}]}
    listeners:
      - name: http
        protocol: HTTP
        protocol_port: %d
        default_pool:
          name: web
          protocol: HTTP
          lb_algorithm: ROUND_ROBIN
          session_persistence: {type: SOURCE_IP}
          members: [{address: %s, protocol_port: %s}]
        l7policies:
          - name: api
            action: REDIRECT_TO_POOL
            redirect_pool: {name: api}
            rules: [{type: PATH, compare_type: STARTS_WITH, value: /api}]
`, vip, h1, p1, port, h0, p0)
	if err := os.WriteFile(file, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	out := lbctl(t, "apply", "-f", file, ep)
	if !strings.Contains(out, "api of listener http  REDIRECT_TO_POOL to pool api") {
		t.Errorf("apply printed:\n%s", out)
	}
	base := fmt.Sprintf("http://%s:%d", vip, port)
	if got := hits(t, base+"/api/x", 4); got["127.0.0.137"] != 4 {
		t.Errorf("/api traffic = %v; want all on the api pool", got)
	}
	if got := hits(t, base+"/", 4); got["127.0.0.136"] != 4 {
		t.Errorf("/ traffic = %v; want all on the default pool", got)
	}
	table := lbctl(t, "get", "l7policies", "--lb", "l7", ep)
	if !strings.Contains(table, "REDIRECT_TO_POOL") || !strings.Contains(table, "PATH STARTS_WITH /api") {
		t.Errorf("get l7policies:\n%s", table)
	}
	if out := lbctl(t, "apply", "-f", file, ep); !strings.Contains(out, "no changes") {
		t.Errorf("second apply printed:\n%s", out)
	}
}
