package proxy

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"lbd/internal/accesslog"
	"lbd/internal/demo"
)

// lines collects the access log's JSON lines.
type lines struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (l *lines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// records parses the lines written so far.
func (l *lines) records(t *testing.T) []map[string]any {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(l.buf.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("%v: %s", err, line)
		}
		out = append(out, m)
	}
	return out
}

// await waits until n lines have been written (the writer runs on a
// goroutine of its own).
func (l *lines) await(t *testing.T, n int) []map[string]any {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if r := l.records(t); len(r) >= n {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d access log lines, want %d:\n%s", len(l.records(t)), n, l.buf.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// loggingRuntime runs cfg with connection logging on (global: on) into
// sinks; with none, JSON lines go to the returned collector.
func loggingRuntime(t testing.TB, global bool, sinks ...*accesslog.Sink) (*Runtime, *lines, *accesslog.Logger) {
	return loggingRuntimeQueue(t, 1024, global, sinks...)
}

// loggingRuntimeQueue is loggingRuntime with the access log's queue size.
func loggingRuntimeQueue(t testing.TB, queue int, global bool, sinks ...*accesslog.Sink) (*Runtime, *lines, *accesslog.Logger) {
	t.Helper()
	out := &lines{}
	if len(sinks) == 0 {
		s, err := accesslog.OpenSink("stderr", accesslog.SinkOptions{Stderr: out})
		if err != nil {
			t.Fatal(err)
		}
		sinks = append(sinks, s)
	}
	al, err := accesslog.New(sinks, queue, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	rt := New(testLogger(t), Options{DrainTimeout: 5 * time.Second, NoEventLoop: goroutinesOnly(), AccessLog: al, ConnectionLogging: global})
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		rt.Shutdown(ctx)
		al.Close(ctx)
	})
	return rt, out, al
}

const accessConfig = `
loadbalancers:
  - name: shop
    vip_address: 127.0.0.1
    provider: lbd
    listeners:
      - name: web
        protocol: HTTP
        protocol_port: {{.Web}}
        timeout_member_data: 300
        default_pool:
          name: web-pool
          protocol: HTTP
          lb_algorithm: ROUND_ROBIN
          members:
            - {name: a, address: 127.0.0.1, protocol_port: {{port .A}}}
      - name: raw
        protocol: TCP
        protocol_port: {{.Raw}}
        default_pool:
          name: raw-pool
          protocol: TCP
          lb_algorithm: ROUND_ROBIN
          members:
            - {name: b, address: 127.0.0.1, protocol_port: {{port .B}}}
      - name: quiet
        protocol: HTTP
        protocol_port: {{.Quiet}}
        connection_logging: false
        default_pool:
          name: quiet-pool
          protocol: HTTP
          lb_algorithm: ROUND_ROBIN
          members:
            - {name: c, address: 127.0.0.1, protocol_port: {{port .A}}}
`

type accessPorts struct {
	Web, Raw, Quiet int
	A, B            string
}

// wantFields checks a record's fields.
func wantFields(t *testing.T, what string, rec map[string]any, want map[string]any) {
	t.Helper()
	for k, v := range want {
		if got := rec[k]; got != v {
			t.Errorf("%s: %s = %v (%T), want %v", what, k, got, got, v)
		}
	}
}

// TestAccessLogHTTP: each request through an HTTP listener is one line,
// whichever engine served it (the event loop takes the connection once its
// exchanges are steady), with the client, the names and IDs of the load
// balancer, listener, pool and member, the request line, the status, the
// bytes each way as they crossed the wire, the timings and the termination
// state; a listener whose connection_logging is false writes none.
func TestAccessLogHTTP(t *testing.T) {
	a := startBackend(t, "a", demo.Options{})
	ports := accessPorts{Web: freePort(t), Raw: freePort(t), Quiet: freePort(t), A: a.Addr(), B: a.Addr()}
	cfg := config(t, accessConfig, ports)
	rt, out, _ := loggingRuntime(t, true)
	if err := rt.Apply(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	lb := cfg.LoadBalancers[0]
	web := lb.Listeners[0]
	pool := lb.ListenerPool(web)

	// One kept-alive connection, raw, so that every byte is known.
	c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", ports.Web))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	const n = 20
	var respBytes []int
	for i := range n {
		req := fmt.Sprintf("GET /item/%d?q=1 HTTP/1.1\r\nHost: shop\r\n\r\n", i)
		if _, err := io.WriteString(c, req); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		respBytes = append(respBytes, len(body))
	}
	// The quiet listener: no line. A request to web after it is the
	// marker: lines are written in order, so once the marker's is in, a
	// line of the quiet listener's would be too.
	if code, _ := get(t, http.DefaultClient, fmt.Sprintf("http://127.0.0.1:%d/", ports.Quiet)); code != 200 {
		t.Fatalf("quiet listener: %d", code)
	}
	get(t, http.DefaultClient, fmt.Sprintf("http://127.0.0.1:%d/marker", ports.Web))
	recs := out.await(t, n+1)
	local := c.LocalAddr().(*net.TCPAddr)
	for i, rec := range recs[:n] {
		what := fmt.Sprintf("request %d", i)
		wantFields(t, what, rec, map[string]any{
			"msg": "access", "protocol": "HTTP",
			"loadbalancer": "shop", "loadbalancer_id": lb.ID,
			"listener": "web", "listener_id": web.ID, "listener_address": fmt.Sprintf("127.0.0.1:%d", ports.Web),
			"pool": "web-pool", "pool_id": pool.ID,
			"member": "a", "member_id": pool.Members[0].ID, "member_address": a.Addr(),
			"client_ip": "127.0.0.1", "client_port": float64(local.Port),
			"request": fmt.Sprintf("GET /item/%d?q=1 HTTP/1.1", i), "status": 200.0,
			"bytes_in":    float64(len(fmt.Sprintf("GET /item/%d?q=1 HTTP/1.1\r\nHost: shop\r\n\r\n", i))),
			"termination": "--",
		})
		if out, ok := rec["bytes_out"].(float64); !ok || int(out) <= respBytes[i] {
			t.Errorf("%s: bytes_out %v, want the head and the %d-byte body", what, rec["bytes_out"], respBytes[i])
		}
		for _, k := range []string{"wait_request_ms", "connect_ms", "response_ms", "total_ms"} {
			if v, ok := rec[k].(float64); !ok || v < 0 {
				t.Errorf("%s: %s = %v", what, k, rec[k])
			}
		}
		if rec["total_ms"].(float64) < rec["response_ms"].(float64) {
			t.Errorf("%s: total %v < response %v", what, rec["total_ms"], rec["response_ms"])
		}
	}
	if !goroutinesOnly() && rt.EventLoopStats().Requests == 0 {
		t.Error("the event loop served none of the requests: only one engine was tested")
	}
	if recs[1]["connect_ms"] != 0.0 {
		t.Errorf("a request on a kept-alive member connection: connect_ms %v, want 0", recs[1]["connect_ms"])
	}
	if got := out.records(t); len(got) != n+1 || got[n]["request"] != "GET /marker HTTP/1.1" {
		t.Errorf("%d lines, the last %v: the listener with connection_logging: false logged", len(got), got[len(got)-1])
	}
	if st := rt.AccessLogStats(); st.Written != n+1 || st.Dropped != 0 {
		t.Errorf("stats %+v", st)
	}
}

// TestAccessLogFailures: what went wrong reads in each line: a malformed
// request is refused by lbd ("<BADREQ>", PR), a member that never answers
// times out (504, sH), a pool without a member that takes the connection
// is a 503 (SC), each with its status and termination state.
func TestAccessLogFailures(t *testing.T) {
	hang, _ := hangingMember(t)
	dead := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	ports := accessPorts{Web: freePort(t), Raw: freePort(t), Quiet: freePort(t), A: hang, B: dead}
	rt, out, _ := loggingRuntime(t, true)
	if err := rt.Apply(context.Background(), config(t, accessConfig, ports)); err != nil {
		t.Fatal(err)
	}
	web := fmt.Sprintf("127.0.0.1:%d", ports.Web)
	if resp := rawRequest(t, web, "NOT A REQUEST\r\n\r\n"); !strings.HasPrefix(resp, "HTTP/1.1 400") {
		t.Fatalf("malformed request: %q", resp)
	}
	if resp := rawRequest(t, web, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n"); !strings.HasPrefix(resp, "HTTP/1.1 504") {
		t.Fatalf("hanging member: %q", resp)
	}
	recs := out.await(t, 2)
	wantFields(t, "malformed", recs[0], map[string]any{"status": 400.0, "termination": "PR", "listener": "web"})
	for _, k := range []string{"request", "member", "pool"} {
		if _, ok := recs[0][k]; ok {
			t.Errorf("malformed request: %s = %v, want none", k, recs[0][k])
		}
	}
	wantFields(t, "hanging member", recs[1], map[string]any{"status": 504.0, "termination": "sH", "member": "a", "request": "GET /slow HTTP/1.1"})
	if _, ok := recs[1]["response_ms"]; ok {
		t.Errorf("no response came, yet response_ms = %v", recs[1]["response_ms"])
	}

	// TCP to a member that refuses: the connection is closed, SC.
	c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", ports.Raw))
	if err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	io.ReadAll(c)
	c.Close()
	recs = out.await(t, 3)
	wantFields(t, "refused TCP", recs[2], map[string]any{"protocol": "TCP", "listener": "raw", "pool": "raw-pool", "termination": "SC"})
	if _, ok := recs[2]["status"]; ok {
		t.Errorf("a TCP line has a status: %v", recs[2])
	}
}

// TestAccessLogTCP: a TCP connection is one line when it ends, with the
// bytes each way and a normal termination.
func TestAccessLogTCP(t *testing.T) {
	echo, _ := rawMember(t, func(c net.Conn) { io.Copy(c, c) })
	ports := accessPorts{Web: freePort(t), Raw: freePort(t), Quiet: freePort(t), A: echo, B: echo}
	cfg := config(t, accessConfig, ports)
	rt, out, _ := loggingRuntime(t, true)
	if err := rt.Apply(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", ports.Raw))
	if err != nil {
		t.Fatal(err)
	}
	msg := strings.Repeat("x", 1000)
	io.WriteString(c, msg)
	c.(*net.TCPConn).CloseWrite()
	got, _ := io.ReadAll(c)
	c.Close()
	if string(got) != msg {
		t.Fatalf("echo: %d bytes", len(got))
	}
	rec := out.await(t, 1)[0]
	pool := cfg.LoadBalancers[0].ListenerPool(cfg.LoadBalancers[0].Listeners[1])
	wantFields(t, "tcp", rec, map[string]any{
		"protocol": "TCP", "listener": "raw", "pool": "raw-pool", "member": "b", "member_id": pool.Members[0].ID,
		"member_address": echo, "bytes_in": 1000.0, "bytes_out": 1000.0, "termination": "--",
	})
	if _, ok := rec["connect_ms"].(float64); !ok {
		t.Errorf("no connect time: %v", rec)
	}
}

// TestAccessLogGlobalSwitch: with the global switch off, only listeners
// whose connection_logging is true log.
func TestAccessLogGlobalSwitch(t *testing.T) {
	a := startBackend(t, "a", demo.Options{})
	ports := accessPorts{Web: freePort(t), Raw: freePort(t), Quiet: freePort(t), A: a.Addr(), B: a.Addr()}
	src := strings.Replace(accessConfig, "connection_logging: false", "connection_logging: true", 1)
	rt, out, _ := loggingRuntime(t, false)
	if err := rt.Apply(context.Background(), config(t, src, ports)); err != nil {
		t.Fatal(err)
	}
	get(t, http.DefaultClient, fmt.Sprintf("http://127.0.0.1:%d/", ports.Web))
	get(t, http.DefaultClient, fmt.Sprintf("http://127.0.0.1:%d/first", ports.Quiet))
	get(t, http.DefaultClient, fmt.Sprintf("http://127.0.0.1:%d/", ports.Web))
	get(t, http.DefaultClient, fmt.Sprintf("http://127.0.0.1:%d/second", ports.Quiet))
	// Lines are written in order: once the second line is in, a line of
	// web's would be too.
	out.await(t, 2)
	if recs := out.records(t); len(recs) != 2 || recs[0]["request"] != "GET /first HTTP/1.1" || recs[1]["request"] != "GET /second HTTP/1.1" {
		t.Errorf("with the switch off: %v", recs)
	}
}

// TestStalledAccessLogDoesNotHoldRequests: with a syslog receiver that
// stopped reading, the access log's writer blocks on its socket, and
// requests go on being served in full; the lines that do not fit in the
// queue are dropped and counted.
func TestStalledAccessLogDoesNotHoldRequests(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log")
	pc, err := net.ListenPacket("unixgram", path)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	format, _ := accesslog.ParseFormat(accesslog.AmphoraFormat)
	sink, err := accesslog.OpenSink("unix:"+path, accesslog.SinkOptions{Format: format})
	if err != nil {
		t.Fatal(err)
	}
	a := startBackend(t, "a", demo.Options{})
	ports := accessPorts{Web: freePort(t), Raw: freePort(t), Quiet: freePort(t), A: a.Addr(), B: a.Addr()}
	rt, _, al := loggingRuntimeQueue(t, 16, true, sink)
	if err := rt.Apply(context.Background(), config(t, accessConfig, ports)); err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Timeout: 10 * time.Second}
	url := fmt.Sprintf("http://127.0.0.1:%d/", ports.Web)
	const n = 3000
	for i := range n {
		if code, body := get(t, client, url); code != 200 || backendName(body) != "a" {
			t.Fatalf("request %d: %d %q", i, code, body)
		}
	}
	st := al.Stats()
	t.Logf("%d requests with a stalled sink: %+v", n, st)
	if st.Dropped == 0 || st.Written+st.Dropped+st.Failed > n {
		t.Errorf("stats %+v: the stalled sink should have cost dropped lines, never requests", st)
	}
	pc.Close() // the writer's socket fails now, and it returns
}

func TestDescribe(t *testing.T) {
	for _, c := range []struct{ name, origin, want string }{
		{"web", "lbd.yaml:7", `listener "web" (id1, lbd.yaml:7)`},
		{"web", "", `listener "web" (id1)`},
		{"", "lbd.yaml:7", `listener id1 (lbd.yaml:7)`},
		{"", "", `listener id1`},
	} {
		if got := describe("listener", "id1", c.name, c.origin); got != c.want {
			t.Errorf("got %s, want %s", got, c.want)
		}
	}
}
