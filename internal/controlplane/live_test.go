package controlplane_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"lbd/internal/controlplane"
	"lbd/internal/demo"
	"lbd/internal/lbdtest"
)

// TestChangesKeepConnections: API changes reach the running data plane the
// way a reload does: a request in flight finishes, and an idle keep-alive
// connection to a listener that did not change stays open across changes
// to the load balancer (its listener was not restarted).
func TestChangesKeepConnections(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	slow, err := demo.Start(ctx, "127.0.0.162:0", demo.Options{Name: "slow", Latency: 400 * time.Millisecond}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	fast, err := demo.Start(ctx, "127.0.0.163:0", demo.Options{Name: "fast"}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer fast.Close()
	l := lbdtest.Start(t, controlplane.Options{VIPAddress: "127.0.0.161"})
	e := &env{t: t, srv: nil}
	e.base = l.URL
	sh, sp := splitHostPort(t, slow.Addr())
	lb := e.must(http.StatusCreated, "POST", "/v2/lbaas/loadbalancers", map[string]any{"loadbalancer": map[string]any{
		"name": "live", "vip_subnet_id": subnet, "listeners": []any{map[string]any{"protocol": "HTTP", "protocol_port": 18181,
			"default_pool": map[string]any{"name": "p", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
				"members": []any{map[string]any{"address": sh, "protocol_port": sp}}}}}}}, "loadbalancer")
	poolID := str(lb["pools"].([]any)[0].(map[string]any), "id")

	// An idle keep-alive connection, and a slow request in flight.
	conn, err := net.Dial("tcp", "127.0.0.161:18181")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	rd := bufio.NewReader(conn)
	get := func() (string, error) {
		fmt.Fprintf(conn, "GET / HTTP/1.1\r\nHost: live\r\n\r\n")
		resp, err := http.ReadResponse(rd, nil)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return string(b), err
	}
	if body, err := get(); err != nil || !strings.Contains(body, "from slow") {
		t.Fatalf("first request on the kept connection: %q %v", body, err)
	}
	inflight := make(chan error, 1)
	go func() {
		resp, err := http.Get("http://127.0.0.161:18181/")
		if err == nil {
			_, err = io.ReadAll(resp.Body)
			resp.Body.Close()
		}
		inflight <- err
	}()

	fh, fp := splitHostPort(t, fast.Addr())
	e.must(http.StatusCreated, "POST", "/v2/lbaas/pools/"+poolID+"/members",
		map[string]any{"member": map[string]any{"address": fh, "protocol_port": fp}}, "member")
	e.must(http.StatusCreated, "POST", "/v2/lbaas/listeners", map[string]any{"listener": map[string]any{
		"protocol": "TCP", "protocol_port": 18182, "loadbalancer_id": str(lb, "id"), "default_pool_id": poolID}}, "listener")
	e.must(http.StatusOK, "PUT", "/v2/lbaas/pools/"+poolID, map[string]any{"pool": map[string]any{"lb_algorithm": "LEAST_CONNECTIONS"}}, "pool")

	if err := <-inflight; err != nil {
		t.Errorf("request in flight during the changes failed: %v", err)
	}
	// The kept connection still works and now reaches the new member too.
	seen := map[string]bool{}
	for range 4 {
		body, err := get()
		if err != nil {
			t.Fatalf("kept connection after the changes: %v", err)
		}
		seen[strings.TrimSpace(body)] = true
	}
	if !seen["Hello World! from fast"] {
		t.Errorf("the kept connection never reached the member added through the API: %v", seen)
	}
}

func splitHostPort(t *testing.T, addr string) (string, int) {
	t.Helper()
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return ap.Addr().String(), int(ap.Port())
}
