package proxy

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"lbd/internal/proxy/http1"
)

// These tests check that the event loop relays responses longer than its
// buffer itself (loopstream.go): whole and in order, whatever the sizes
// around the buffer's, to a client that takes them slowly, and that a
// member cut short ends the connection. Without the streaming the loop
// hands such exchanges to a goroutine, and the counters say so.

// pattern is n bytes that change with their position, so that a byte
// lost, repeated or moved shows.
func pattern(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('a' + (i*7+i/251)%26)
	}
	return string(b)
}

// streamMember answers GET / with "ok" and GET /n/<size> with a body of
// that size (pattern); GET /cut/<size> announces that size and closes
// after half of it; GET /stall/<size> sends half of it and then nothing.
func streamMember(t *testing.T) string {
	addr, _ := rawMember(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			path := req.URL.Path
			switch {
			case path == "/":
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
			case strings.HasPrefix(path, "/n/"):
				n, _ := strconv.Atoi(path[len("/n/"):])
				if _, err := io.WriteString(c, fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", n, pattern(n))); err != nil {
					return
				}
			case strings.HasPrefix(path, "/cut/"):
				n, _ := strconv.Atoi(path[len("/cut/"):])
				io.WriteString(c, fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", n, pattern(n/2)))
				return
			case strings.HasPrefix(path, "/stall/"):
				n, _ := strconv.Atoi(path[len("/stall/"):])
				io.WriteString(c, fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", n, pattern(n/2)))
				io.Copy(io.Discard, c) // and nothing more, until lbd closes
				return
			default:
				io.WriteString(c, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
			}
		}
	})
	return addr
}

// TestEventLoopStreamsLongResponses: responses around and far past the
// loop's buffer, over one keep-alive connection the loop holds, arrive
// whole and in order, the loop serves every one of them without a
// handoff, and the listener counts their bytes.
func TestEventLoopStreamsLongResponses(t *testing.T) {
	needEventLoop(t)
	p := freePort(t)
	rt := startRuntime(t, config(t, oneHTTPPool, poolData{Port: p, Algorithm: "ROUND_ROBIN", Backends: []string{streamMember(t)}}))
	c, br := loopConn(t, rt, p, "ok")
	tr := rt.ListenerTraffic(rt.Config().LoadBalancers[0].Listeners[0].ID)
	st0, out0 := rt.EventLoopStats(), tr.BytesOut.Load()
	sizes := []int{http1.FastRoom - 100, http1.FastRoom, http1.FastRoom + 1, 64 << 10, 1<<20 + 3, 3 << 20}
	total := 0
	for _, n := range sizes {
		exchangeOn(t, c, br, "GET", fmt.Sprintf("GET /n/%d HTTP/1.1\r\nHost: t\r\n\r\n", n), 200, pattern(n))
		total += n
	}
	st := rt.EventLoopStats()
	mustf(t, st.Requests-st0.Requests == uint64(len(sizes)), "the loop served %d of %d long responses", st.Requests-st0.Requests, len(sizes))
	mustf(t, st.Handoffs == st0.Handoffs, "handoffs went from %v to %v", st0.Handoffs, st.Handoffs)
	out := int(tr.BytesOut.Load() - out0)
	mustf(t, out >= total && out < total+200*len(sizes), "the listener counted %d bytes out for %d bytes of bodies", out, total)
}

// TestEventLoopStreamsToASlowClient: a client with a small receive buffer
// that reads a few bytes at a time gets a 4 MiB response whole (the loop
// waits for its room again and again), and the connection serves on.
func TestEventLoopStreamsToASlowClient(t *testing.T) {
	needEventLoop(t)
	p := freePort(t)
	rt := startRuntime(t, config(t, oneHTTPPool, poolData{Port: p, Algorithm: "ROUND_ROBIN", Backends: []string{streamMember(t)}}))
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		rc.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
		return serr
	}}
	c, err := d.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", p))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	br := bufio.NewReaderSize(c, 512)
	before := rt.EventLoopStats().Requests
	for range 10 {
		exchangeOn(t, c, br, "GET", "GET / HTTP/1.1\r\nHost: t\r\n\r\n", 200, "ok")
		if rt.EventLoopStats().Requests > before {
			break
		}
	}
	st0 := rt.EventLoopStats()
	mustf(t, st0.Requests > before, "the event loop did not take the connection")
	const n = 4 << 20
	exchangeOn(t, c, br, "GET", fmt.Sprintf("GET /n/%d HTTP/1.1\r\nHost: t\r\n\r\n", n), 200, pattern(n))
	exchangeOn(t, c, br, "GET", "GET / HTTP/1.1\r\nHost: t\r\n\r\n", 200, "ok")
	st := rt.EventLoopStats()
	mustf(t, st.Requests-st0.Requests == 2 && st.Handoffs == st0.Handoffs, "the loop served %d of 2, handoffs %v -> %v",
		st.Requests-st0.Requests, st0.Handoffs, st.Handoffs)
}

// TestEventLoopStreamCutByMember: a member that closes halfway through a
// long body ends the client's connection after what it sent (the client
// sees a short body, then EOF), counted as the member's abort; the next
// connection is served.
func TestEventLoopStreamCutByMember(t *testing.T) {
	needEventLoop(t)
	p := freePort(t)
	cfg := config(t, oneHTTPPool, poolData{Port: p, Algorithm: "ROUND_ROBIN", Backends: []string{streamMember(t)}})
	rt := startRuntime(t, cfg)
	c, br := loopConn(t, rt, p, "ok")
	st0 := rt.EventLoopStats()
	const n = 200000
	if _, err := io.WriteString(c, fmt.Sprintf("GET /cut/%d HTTP/1.1\r\nHost: t\r\n\r\n", n)); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(br, &http.Request{Method: "GET"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(resp.Body)
	mustf(t, errors.Is(err, io.ErrUnexpectedEOF) && string(got) == pattern(n/2),
		"a body cut at %d of %d bytes: read %d bytes (intact: %v), %v; want the half, then io.ErrUnexpectedEOF",
		n/2, n, len(got), string(got) == pattern(len(got)), err)
	if k, err := br.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("after the cut: read %d, %v; want EOF", k, err)
	}
	st := rt.EventLoopStats()
	mustf(t, st.Requests-st0.Requests == 1 && st.Handoffs == st0.Handoffs, "the loop served %d, handoffs %v -> %v; want 1, none",
		st.Requests-st0.Requests, st0.Handoffs, st.Handoffs)
	members := rt.PoolMembers(cfg.LoadBalancers[0].Pools[0].ID)
	mustf(t, members[0].Traffic.MemberAborts.Load() == 1 && members[0].Traffic.ClientAborts.Load() == 0,
		"member aborts %d, client aborts %d; want 1, 0", members[0].Traffic.MemberAborts.Load(), members[0].Traffic.ClientAborts.Load())
	loopConn(t, rt, p, "ok")
}

// TestEventLoopStreamMemberStalls: a member that stops sending halfway
// through a long body, its connection open, ends the client's connection
// after timeout_member_data (the client sees a short body, then EOF),
// counted as the member's abort.
func TestEventLoopStreamMemberStalls(t *testing.T) {
	needEventLoop(t)
	p := freePort(t)
	const timeout = 500 * time.Millisecond
	cfg := config(t, oneHTTPPool, poolData{Port: p, Algorithm: "ROUND_ROBIN", Backends: []string{streamMember(t)},
		Extra: fmt.Sprintf("timeout_member_data: %d", timeout.Milliseconds())})
	rt := startRuntime(t, cfg)
	c, br := loopConn(t, rt, p, "ok")
	const n = 200000
	start := time.Now()
	if _, err := io.WriteString(c, fmt.Sprintf("GET /stall/%d HTTP/1.1\r\nHost: t\r\n\r\n", n)); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(br, &http.Request{Method: "GET"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(resp.Body)
	took := time.Since(start)
	mustf(t, errors.Is(err, io.ErrUnexpectedEOF) && string(got) == pattern(n/2),
		"a body stalled at %d of %d bytes: read %d bytes (intact: %v), %v; want the half, then io.ErrUnexpectedEOF",
		n/2, n, len(got), string(got) == pattern(len(got)), err)
	mustf(t, took >= timeout-timeout/8 && took < 2*timeout, "closed after %v, want about %v", took, timeout)
	members := rt.PoolMembers(cfg.LoadBalancers[0].Pools[0].ID)
	mustf(t, members[0].Traffic.MemberAborts.Load() == 1, "member aborts %d, want 1", members[0].Traffic.MemberAborts.Load())
}
