package proxy

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"lbd/internal/demo"
	"lbd/internal/proxy/http1"
)

const oneHTTPPool = `
loadbalancers:
  - name: lb
    vip_address: 127.0.0.1
    listeners:
      - name: web
        protocol: HTTP
        protocol_port: {{.Port}}
        {{- if .Headers}}
        insert_headers: {X-Forwarded-For: "true", X-Forwarded-Port: "true", X-Forwarded-Proto: "true"}
        {{- end}}
        {{- if .Extra}}
        {{.Extra}}
        {{- end}}
        default_pool:
          name: pool
          protocol: HTTP
          lb_algorithm: {{.Algorithm}}
          members:
          {{- range .Backends}}
            - {address: 127.0.0.1, protocol_port: {{port .}}}
          {{- end}}
`

type poolData struct {
	Port      int
	Algorithm string
	Backends  []string
	Headers   bool
	Extra     string
}

func TestHTTPRoundRobinThroughProxy(t *testing.T) {
	b1, b2, b3 := startBackend(t, "s1", demo.Options{}), startBackend(t, "s2", demo.Options{}), startBackend(t, "s3", demo.Options{})
	p := freePort(t)
	startRuntime(t, config(t, oneHTTPPool, poolData{Port: p, Algorithm: "ROUND_ROBIN", Backends: []string{b1.Addr(), b2.Addr(), b3.Addr()}}))
	c := clientFrom("127.0.0.1")
	counts := map[string]int{}
	for range 300 {
		code, body := get(t, c, fmt.Sprintf("http://127.0.0.1:%d/", p))
		mustf(t, code == 200, "status %d", code)
		counts[backendName(body)]++
	}
	for _, n := range []string{"s1", "s2", "s3"} {
		if counts[n] != 100 {
			t.Errorf("round robin over 3: %v, want 100 each", counts)
		}
	}
}

func TestHTTPLeastConnectionsAvoidsSlowMember(t *testing.T) {
	slow := startBackend(t, "slow", demo.Options{Latency: 200 * time.Millisecond})
	fast := startBackend(t, "fast", demo.Options{})
	p := freePort(t)
	startRuntime(t, config(t, oneHTTPPool, poolData{Port: p, Algorithm: "LEAST_CONNECTIONS", Backends: []string{slow.Addr(), fast.Addr()}}))
	c := clientFrom("127.0.0.1")
	var wg sync.WaitGroup
	var mu sync.Mutex
	counts := map[string]int{}
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 25 {
				_, body := get(t, c, fmt.Sprintf("http://127.0.0.1:%d/", p))
				mu.Lock()
				counts[backendName(body)]++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	// Round robin would give each half; least connections keeps the slow
	// member at about one request in flight.
	if counts["slow"] >= counts["fast"]/4 {
		t.Errorf("least connections sent %v; the slow member should get far fewer", counts)
	}
}

func TestHTTPSourceIPSticky(t *testing.T) {
	var addrs []string
	for i := range 4 {
		addrs = append(addrs, startBackend(t, fmt.Sprintf("s%d", i), demo.Options{}).Addr())
	}
	p := freePort(t)
	startRuntime(t, config(t, oneHTTPPool, poolData{Port: p, Algorithm: "SOURCE_IP", Backends: addrs}))
	seen := map[string]bool{}
	for i := 2; i < 42; i++ {
		src := fmt.Sprintf("127.0.0.%d", i)
		c := clientFrom(src)
		_, first := get(t, c, fmt.Sprintf("http://127.0.0.1:%d/", p))
		for range 10 {
			// New connections each time: stickiness must come from the address.
			c.Transport.(*http.Transport).CloseIdleConnections()
			_, body := get(t, c, fmt.Sprintf("http://127.0.0.1:%d/", p))
			mustf(t, body == first, "client %s moved from %q to %q", src, first, body)
		}
		seen[first] = true
	}
	mustf(t, len(seen) == 4, "40 clients used only %d of 4 members", len(seen))
}

func TestHTTPInsertAndHopByHopHeaders(t *testing.T) {
	b := startBackend(t, "s1", demo.Options{})
	p := freePort(t)
	startRuntime(t, config(t, oneHTTPPool, poolData{Port: p, Algorithm: "ROUND_ROBIN", Backends: []string{b.Addr()}, Headers: true}))
	resp := rawRequest(t, fmt.Sprintf("127.0.0.1:%d", p), "GET /headers HTTP/1.1\r\nHost: x\r\n"+
		"Connection: close, X-Private\r\nX-Private: secret\r\nKeep-Alive: timeout=5\r\nTE: trailers\r\n"+
		"X-Forwarded-For: 198.51.100.7\r\nX-Forwarded-Proto: https\r\nX-Keep: yes\r\n\r\n")
	_, body, _ := strings.Cut(resp, "\r\n\r\n")
	for _, want := range []string{"X-Forwarded-For: 198.51.100.7\r\nX-Forwarded-For: 127.0.0.1", "X-Forwarded-Port: " + fmt.Sprint(p), "X-Forwarded-Proto: http", "X-Keep: yes"} {
		mustf(t, strings.Contains(body, want), "member did not receive %q:\n%s", want, body)
	}
	for _, gone := range []string{"X-Private", "Keep-Alive", "Te:", "X-Forwarded-Proto: https"} {
		mustf(t, !strings.Contains(body, gone), "member received hop-by-hop or replaced %q:\n%s", gone, body)
	}
	mustf(t, strings.Contains(resp, "Connection: close\r\n"), "response to Connection: close lacks it:\n%s", resp)
}

func TestHTTPNoMemberIs503(t *testing.T) {
	b := startBackend(t, "s1", demo.Options{})
	p := freePort(t)
	rt := startRuntime(t, config(t, oneHTTPPool, poolData{Port: p, Algorithm: "ROUND_ROBIN", Backends: []string{b.Addr()}}))
	for _, m := range rt.pools {
		for _, bm := range m.bal.Members() {
			m.bal.SetHealthy(bm.ID, false)
		}
	}
	resp := rawRequest(t, fmt.Sprintf("127.0.0.1:%d", p), "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	mustf(t, strings.HasPrefix(resp, "HTTP/1.1 503 Service Unavailable\r\n"), "got %q", resp)
	mustf(t, strings.Contains(resp, "No server is available"), "503 body missing: %q", resp)
}

func TestHTTPRefusingMemberCausesNoErrors(t *testing.T) {
	b := startBackend(t, "up", demo.Options{})
	deadPort := freePort(t) // nothing listens: connections are refused
	p := freePort(t)
	startRuntime(t, config(t, oneHTTPPool, poolData{Port: p, Algorithm: "ROUND_ROBIN", Backends: []string{b.Addr(), fmt.Sprintf("127.0.0.1:%d", deadPort)}}))
	c := clientFrom("127.0.0.1")
	for range 200 {
		c.Transport.(*http.Transport).CloseIdleConnections()
		code, body := get(t, c, fmt.Sprintf("http://127.0.0.1:%d/", p))
		mustf(t, code == 200 && backendName(body) == "up", "got %d %q with one member refusing", code, body)
	}
}

// TestHTTPMemberFailsMidResponse: a member that dies after sending half a
// body gets the client's connection cut, not a silently short body; one that
// dies before answering gives 502.
func TestHTTPMemberFailure(t *testing.T) {
	member, _ := rawMember(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		line, _ := br.ReadString('\n')
		for {
			l, err := br.ReadString('\n')
			if err != nil || l == "\r\n" {
				break
			}
		}
		if strings.Contains(line, "/half") {
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part")
		}
		// "/none": close without answering.
	})
	p := freePort(t)
	startRuntime(t, config(t, oneHTTPPool, poolData{Port: p, Algorithm: "ROUND_ROBIN", Backends: []string{member}}))
	addr := fmt.Sprintf("127.0.0.1:%d", p)
	resp := rawRequest(t, addr, "GET /none HTTP/1.1\r\nHost: x\r\n\r\n")
	mustf(t, strings.HasPrefix(resp, "HTTP/1.1 502 "), "member closing without answer: got %q", resp)
	resp = rawRequest(t, addr, "GET /half HTTP/1.1\r\nHost: x\r\n\r\n")
	mustf(t, strings.HasPrefix(resp, "HTTP/1.1 200 OK\r\n") && strings.HasSuffix(resp, "only part"), "got %q", resp)
	// The client saw the connection close before 100 bytes: it knows the body is short.
}

func TestHTTPLargeBodiesByteIdentical(t *testing.T) {
	b := startBackend(t, "s1", demo.Options{})
	p := freePort(t)
	startRuntime(t, config(t, oneHTTPPool, poolData{Port: p, Algorithm: "ROUND_ROBIN", Backends: []string{b.Addr()}}))
	payload := make([]byte, 8<<20+123)
	rand.Read(payload)
	want := sha256.Sum256(payload)
	c := clientFrom("127.0.0.1")
	for _, chunked := range []bool{false, true} {
		var body io.Reader = bytes.NewReader(payload)
		if chunked {
			body = io.MultiReader(bytes.NewReader(payload)) // no length: the client sends chunked
		}
		req, _ := http.NewRequest("POST", fmt.Sprintf("http://127.0.0.1:%d/echo", p), body)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.New()
		n, err := io.Copy(h, resp.Body)
		resp.Body.Close()
		mustf(t, err == nil, "chunked=%v: reading echo: %v", chunked, err)
		mustf(t, n == int64(len(payload)) && bytes.Equal(h.Sum(nil), want[:]), "chunked=%v: echo of %d bytes came back as %d different bytes", chunked, len(payload), n)
	}
	// A large download through the splice path.
	resp, err := c.Get(fmt.Sprintf("http://127.0.0.1:%d/bytes/%d", p, 50<<20))
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	mustf(t, err == nil && n == 50<<20, "download: %d bytes, %v", n, err)
}

// TestHTTPBodiesAroundTheSpliceThreshold: bodies on either side of
// http1.SpliceMin, request and response, come back byte for byte over one
// keep-alive connection, whose framing survives each switch between
// copying and splicing.
func TestHTTPBodiesAroundTheSpliceThreshold(t *testing.T) {
	b := startBackend(t, "s1", demo.Options{})
	p := freePort(t)
	startRuntime(t, config(t, oneHTTPPool, poolData{Port: p, Algorithm: "ROUND_ROBIN", Backends: []string{b.Addr()}}))
	c := clientFrom("127.0.0.1")
	const spliceMin = http1.SpliceMin
	for _, size := range []int{spliceMin - 1, spliceMin, spliceMin + 1, 20 << 10, 33<<10 + 7, 2*spliceMin + 1, 64<<10 - 1, 64 << 10, 100_000} {
		payload := make([]byte, size)
		rand.Read(payload)
		req, _ := http.NewRequest("POST", fmt.Sprintf("http://127.0.0.1:%d/echo", p), bytes.NewReader(payload))
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("%d bytes: %v", size, err)
		}
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		mustf(t, err == nil && bytes.Equal(got, payload), "%d bytes: echo came back as %d bytes (equal: %v), %v", size, len(got), bytes.Equal(got, payload), err)
	}
}

func TestHTTPWebSocketUpgrade(t *testing.T) {
	b := startBackend(t, "ws", demo.Options{})
	p := freePort(t)
	startRuntime(t, config(t, oneHTTPPool, poolData{Port: p, Algorithm: "ROUND_ROBIN", Backends: []string{b.Addr()}}))
	c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", p))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	key := "dGhlIHNhbXBsZSBub25jZQ=="
	fmt.Fprintf(c, "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n", key)
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	mustf(t, resp.StatusCode == 101, "status %d", resp.StatusCode)
	mustf(t, resp.Header.Get("Sec-WebSocket-Accept") == demo.WebSocketAccept(key), "bad accept header %q", resp.Header.Get("Sec-WebSocket-Accept"))
	mustf(t, strings.EqualFold(resp.Header.Get("Upgrade"), "websocket"), "Upgrade header lost: %v", resp.Header)
	bw := bufio.NewWriter(c)
	for i := range 50 {
		msg := []byte(fmt.Sprintf("message %d %s", i, strings.Repeat("x", i*100)))
		demo.WriteFrame(bw, 1, msg, []byte{1, 2, 3, 4})
		bw.Flush()
		op, got, err := demo.ReadFrame(br)
		mustf(t, err == nil && op == 1 && bytes.Equal(got, msg), "frame %d: op %d err %v", i, op, err)
	}
}

func TestHTTPConnectionLimit(t *testing.T) {
	b := startBackend(t, "s1", demo.Options{})
	p := freePort(t)
	startRuntime(t, config(t, oneHTTPPool, poolData{Port: p, Algorithm: "ROUND_ROBIN", Backends: []string{b.Addr()}, Extra: "connection_limit: 2"}))
	addr := fmt.Sprintf("127.0.0.1:%d", p)
	open := func() (net.Conn, *bufio.Reader) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c, bufio.NewReader(c)
	}
	ask := func(c net.Conn, br *bufio.Reader, wait time.Duration) error {
		c.SetDeadline(time.Now().Add(wait))
		if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			return err
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		return resp.Body.Close()
	}
	c1, r1 := open()
	c2, r2 := open()
	mustf(t, ask(c1, r1, 5*time.Second) == nil && ask(c2, r2, 5*time.Second) == nil, "the first two connections must be served")
	// The third connects (kernel backlog) but is not served while two are open.
	c3, r3 := open()
	err := ask(c3, r3, 300*time.Millisecond)
	mustf(t, err != nil, "a third connection was served beyond connection_limit 2")
	c1.Close()
	c3.Close()
	c4, r4 := open()
	mustf(t, ask(c4, r4, 5*time.Second) == nil, "after one closed, a new connection must be served")
}

func TestHTTPMalformedRequestsRefused(t *testing.T) {
	b := startBackend(t, "s1", demo.Options{})
	p := freePort(t)
	startRuntime(t, config(t, oneHTTPPool, poolData{Port: p, Algorithm: "ROUND_ROBIN", Backends: []string{b.Addr()}}))
	addr := fmt.Sprintf("127.0.0.1:%d", p)
	tests := []struct {
		name, req, status string
	}{
		{"CL and TE", "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "400"},
		{"two CLs", "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", "400"},
		{"obs-fold", "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n", "400"},
		{"space before colon", "GET / HTTP/1.1\r\nHost : x\r\n\r\n", "400"},
		{"no host", "GET / HTTP/1.1\r\n\r\n", "400"},
		{"TE gzip", "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", "501"},
		{"HTTP/2.0 line", "GET / HTTP/2.0\r\nHost: x\r\n\r\n", "505"},
		{"bad chunk size", "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n", "400"},
		{"huge header", "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 40<<10) + "\r\n\r\n", "431"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := rawRequest(t, addr, tt.req)
			mustf(t, strings.HasPrefix(resp, "HTTP/1.1 "+tt.status+" "), "%s: got %.80q, want %s", tt.name, resp, tt.status)
		})
	}
}
