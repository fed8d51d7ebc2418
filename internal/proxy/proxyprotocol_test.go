package proxy

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// startHAProxy runs a real HAProxy with cfg (placeholders already filled)
// until the test ends, once it listens on addr.
func runHAProxy(t *testing.T, cfg, addr string) {
	t.Helper()
	bin, err := exec.LookPath("haproxy")
	if err != nil {
		t.Fatal("haproxy is not installed (scripts/ensure-deps.sh test installs it)")
	}
	file := filepath.Join(t.TempDir(), "haproxy.cfg")
	cfg = "global\n  nbthread 1\ndefaults\n  timeout connect 5s\n  timeout client 10s\n  timeout server 10s\n" + cfg
	if err := os.WriteFile(file, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "-db", "-f", file)
	out := &strings.Builder{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); cmd.Wait() })
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("haproxy never listened on %s:\n%s\n%s", addr, cfg, out)
		}
	}
}

// proxyMember is a real HAProxy that reads a PROXY header (bind
// accept-proxy, versions 1 and 2) and answers the client and destination
// addresses the header gave it.
func proxyMember(t *testing.T) string {
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	runHAProxy(t, fmt.Sprintf(`frontend fe
  mode http
  bind %s accept-proxy
  http-request return status 200 content-type text/plain lf-string "%%[src]:%%[src_port] %%[dst]:%%[dst_port]"
`, addr), addr)
	return addr
}

const proxyPoolConfig = `loadbalancers:
  - name: pp
    vip_address: 127.0.0.1
    listeners:
      - name: l
        protocol: {{.Listener}}
        protocol_port: {{.Port}}
        default_pool:
          name: p
          protocol: {{.Pool}}
          lb_algorithm: ROUND_ROBIN
          members: [{address: 127.0.0.1, protocol_port: {{port .Member}}}]
`

// TestProxyProtocolToMembers: members of PROXY and PROXYV2 pools get the
// client's address and the VIP it reached in a PROXY header that a real
// HAProxy (bind accept-proxy) reads, behind HTTP and TCP listeners; over
// keep-alive each client's requests go on member connections of its own.
func TestProxyProtocolToMembers(t *testing.T) {
	member := proxyMember(t)
	for _, c := range []struct{ listener, pool string }{
		{"HTTP", "PROXY"}, {"HTTP", "PROXYV2"}, {"TCP", "PROXY"}, {"TCP", "PROXYV2"},
	} {
		t.Run(c.listener+"-"+c.pool, func(t *testing.T) {
			port := freePort(t)
			startRuntime(t, config(t, proxyPoolConfig, map[string]any{"Listener": c.listener, "Pool": c.pool, "Port": port, "Member": member}))
			url := fmt.Sprintf("http://127.0.0.1:%d/", port)
			clients := map[string]*http.Client{"127.0.0.31": clientFrom("127.0.0.31"), "127.0.0.32": clientFrom("127.0.0.32")}
			defer func() { // a TCP listener drains open connections
				for _, c := range clients {
					c.CloseIdleConnections()
				}
			}()
			for i := range 20 { // interleaved keep-alive requests of two clients
				src := []string{"127.0.0.31", "127.0.0.32"}[i%2]
				status, body := get(t, clients[src], url)
				from, to, _ := strings.Cut(body, " ")
				host, _, _ := net.SplitHostPort(from)
				mustf(t, status == 200 && host == src && to == fmt.Sprintf("127.0.0.1:%d", port),
					"request %d from %s: %d %q (want the client's address, and the VIP)", i, src, status, body)
			}
		})
	}
}

const acceptProxyConfig = `loadbalancers:
  - name: upstream
    vip_address: 127.0.0.1
    provider: lbd
    listeners:
      - name: l
        protocol: {{.Listener}}
        protocol_port: {{.Port}}
        accept_proxy_protocol: {allowed_cidrs: [127.0.0.1/32]}
{{- if .Allowed}}
        allowed_cidrs: [{{.Allowed}}]
{{- end}}
{{- if eq .Listener "HTTP"}}
        insert_headers: {X-Forwarded-For: "true"}
{{- end}}
        default_pool:
          name: p
          protocol: {{.Pool}}
          lb_algorithm: ROUND_ROBIN
          members: [{address: 127.0.0.1, protocol_port: {{port .Member}}}]
`

// TestAcceptProxyProtocol: behind a real HAProxy that sends PROXY headers
// (send-proxy, send-proxy-v2), lbd takes the client's address from them:
// an HTTP member sees it in X-Forwarded-For, and a TCP listener passes it
// on in a PROXY header of its own to a second real HAProxy; allowed_cidrs
// applies to that address. A trusted upstream that sends no header is
// refused. A client that is not a trusted upstream and sends a header is
// refused before any byte reaches a member.
func TestAcceptProxyProtocol(t *testing.T) {
	web := startMember(t, "web")
	pm := proxyMember(t)
	for _, listener := range []string{"HTTP", "TCP"} {
		t.Run(listener, func(t *testing.T) {
			port := freePort(t)
			d := map[string]any{"Listener": listener, "Pool": "HTTP", "Port": port, "Member": web.addr, "Allowed": ""}
			if listener == "TCP" {
				d["Pool"], d["Member"] = "PROXY", pm
			}
			rt := startRuntime(t, config(t, acceptProxyConfig, d))
			up1, up2 := fmt.Sprintf("127.0.0.1:%d", freePort(t)), fmt.Sprintf("127.0.0.1:%d", freePort(t))
			runHAProxy(t, fmt.Sprintf(`listen v1
  mode tcp
  bind %s
  server lbd 127.0.0.1:%d send-proxy
listen v2
  mode tcp
  bind %s
  server lbd 127.0.0.1:%d send-proxy-v2
`, up1, port, up2, port), up2)
			for _, up := range []string{up1, up2} {
				c := clientFrom("127.0.0.41")
				c.Transport.(*http.Transport).DisableKeepAlives = true
				status, body := get(t, c, "http://"+up+"/")
				if listener == "HTTP" {
					mustf(t, status == 200 && body == "web /" && web.lastXFF() == "127.0.0.41",
						"through %s: %d %q, X-Forwarded-For %q (want the client behind the upstream)", up, status, body, web.lastXFF())
				} else {
					host, _, _ := net.SplitHostPort(strings.Fields(body + " ")[0])
					mustf(t, status == 200 && host == "127.0.0.41", "through %s: %d %q (want the client behind the upstream)", up, status, body)
				}
			}

			// A trusted upstream without a header: refused.
			out := rawRequest(t, fmt.Sprintf("127.0.0.1:%d", port), "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
			mustf(t, out == "", "a trusted upstream without a header got %q", out)

			// Not a trusted upstream, sending a header: refused unread.
			before := web.requests()
			dialer := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}
			conn, err := dialer.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
			if err != nil {
				t.Fatal(err)
			}
			io.WriteString(conn, "PROXY TCP4 203.0.113.9 127.0.0.1 5555 80\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n")
			conn.SetReadDeadline(time.Now().Add(3 * time.Second))
			answer, _ := io.ReadAll(conn)
			conn.Close()
			if listener == "HTTP" {
				mustf(t, strings.HasPrefix(string(answer), "HTTP/1.1 400 ") && web.requests() == before,
					"untrusted header on HTTP: %q (want 400, nothing forwarded)", answer)
			} else {
				mustf(t, len(answer) == 0, "untrusted header on TCP: %q (want the connection closed, nothing forwarded)", answer)
			}

			// allowed_cidrs judges the address the header gives.
			d["Allowed"] = "127.0.0.41/32"
			if err := rt.Apply(context.Background(), config(t, acceptProxyConfig, d)); err != nil {
				t.Fatal(err)
			}
			c := clientFrom("127.0.0.42")
			c.Transport.(*http.Transport).DisableKeepAlives = true
			if resp, err := c.Get("http://" + up1 + "/"); err == nil {
				resp.Body.Close()
				t.Errorf("a client outside allowed_cidrs behind the upstream got %s", resp.Status)
			}
			c = clientFrom("127.0.0.41")
			c.Transport.(*http.Transport).DisableKeepAlives = true
			if status, _ := get(t, c, "http://"+up1+"/"); status != 200 {
				t.Errorf("a client inside allowed_cidrs behind the upstream got %d", status)
			}
		})
	}
}
