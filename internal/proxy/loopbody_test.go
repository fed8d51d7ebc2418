package proxy

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// The event loop relays request bodies delimited by Content-Length itself,
// from client to member as they come, and hands the exchange to a
// goroutine only when something goes wrong. These tests send bodies through
// a connection the loop holds and check what the member received, byte for
// byte, and the loop's counters: without the loop's body relay every POST
// is a handoffRequest.

// bodyDigest is what digestMember answers a request whose body is b with.
func bodyDigest(b []byte) string {
	sum := sha256.Sum256(b)
	return fmt.Sprintf("%d %s", len(b), hex.EncodeToString(sum[:]))
}

// bodySeen is a request body a member read, and how reading it ended.
type bodySeen struct {
	body []byte
	err  error
}

// digestMember answers every request, over keep-alive, with its body's
// length and SHA-256 (bodyDigest), and reports each body it read, whole or
// not, on the channel. A request to /die has its member read dieAfter bytes
// of the body and close the connection; one to /early is answered "early"
// as soon as its head is in, before its body is read, as nginx's "return
// 200" answers, and one to /earlybig likewise with 100,000 bytes.
func digestMember(t *testing.T, dieAfter int) (string, chan bodySeen) {
	addr, seen, _ := digestMemberEarly(t, dieAfter)
	return addr, seen
}

// digestMemberEarly is digestMember, which also says on answered when it
// answered a request to /early.
func digestMemberEarly(t *testing.T, dieAfter int) (string, chan bodySeen, chan struct{}) {
	seen, answered := make(chan bodySeen, 64), make(chan struct{}, 64)
	addr, _ := rawMember(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			if req.URL.Path == "/die" {
				b := make([]byte, dieAfter)
				n, err := io.ReadFull(req.Body, b)
				seen <- bodySeen{b[:n], err}
				return // with the rest unread: the member resets the connection
			}
			early := map[string]string{"/early": "early", "/earlybig": strings.Repeat("x", 100000)}[req.URL.Path]
			if early != "" {
				if _, err := fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(early), early); err != nil {
					return
				}
				answered <- struct{}{}
			}
			body, err := io.ReadAll(req.Body)
			seen <- bodySeen{body, err}
			if early != "" {
				continue
			}
			if err != nil {
				return
			}
			d := bodyDigest(body)
			if _, err := fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(d), d); err != nil {
				return
			}
		}
	})
	return addr, seen, answered
}

func randomBody(n int) []byte {
	b := make([]byte, n)
	r := rand.NewChaCha8([32]byte{byte(n), byte(n >> 8), byte(n >> 16)})
	r.Read(b)
	return b
}

func post(path string, body []byte) string {
	return fmt.Sprintf("POST %s HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n%s", path, len(body), body)
}

// TestEventLoopRelaysRequestBodies: bodies of every size, from nothing to
// several times the loop's buffer and the sockets' buffers, reach the
// member exactly, through the loop, one after another on one connection,
// with a request pipelined behind one; none is handed to a goroutine.
func TestEventLoopRelaysRequestBodies(t *testing.T) {
	needEventLoop(t)
	member, seen, answered := digestMemberEarly(t, 0)
	p := freePort(t)
	rt := startRuntime(t, config(t, oneHTTPPool, poolData{Port: p, Algorithm: "ROUND_ROBIN", Backends: []string{member}, Headers: true}))
	c, br := loopConn(t, rt, p, bodyDigest(nil))
	for len(seen) > 0 {
		<-seen
	}
	before := rt.EventLoopStats()
	sizes := []int{0, 1, 1 << 10, 16 << 10, 16<<10 + 1, 64 << 10, 1 << 20, 4 << 20}
	for _, n := range sizes {
		body := randomBody(n)
		// The client writes as the proxy reads: a body larger than the
		// socket buffers cannot be written whole before the response is
		// read.
		errc := make(chan error, 1)
		go func() { _, err := io.WriteString(c, post("/", body)); errc <- err }()
		exchangeOn(t, c, br, "POST", "", 200, bodyDigest(body))
		if err := <-errc; err != nil {
			t.Fatalf("%d-byte body: %v", n, err)
		}
		got := <-seen
		mustf(t, got.err == nil && bytes.Equal(got.body, body), "%d-byte body: the member read %d bytes (%v), not the body sent", n, len(got.body), got.err)
	}
	// Answered before the member read the body, while the client has
	// sent only part of it: the answer waits for the body's end.
	for _, n := range []int{1 << 10, 64 << 10, 1 << 20} {
		body := randomBody(n)
		req := post("/early", body)
		errc := make(chan error, 1)
		go func() {
			part := len(req) - n + 512
			if _, err := io.WriteString(c, req[:part]); err != nil {
				errc <- err
				return
			}
			<-answered
			_, err := io.WriteString(c, req[part:])
			errc <- err
		}()
		exchangeOn(t, c, br, "POST", "", 200, "early")
		if err := <-errc; err != nil {
			t.Fatalf("%d-byte body answered early: %v", n, err)
		}
		got := <-seen
		mustf(t, got.err == nil && bytes.Equal(got.body, body), "%d-byte body answered early: the member read %d bytes (%v), not the body sent", n, len(got.body), got.err)
	}
	// A request pipelined behind a POST, in the same segment.
	body := randomBody(1000)
	io.WriteString(c, post("/", body)+"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
	exchangeOn(t, c, br, "POST", "", 200, bodyDigest(body))
	exchangeOn(t, c, br, "GET", "", 200, bodyDigest(nil))
	got := <-seen
	mustf(t, bytes.Equal(got.body, body), "pipelined: the member read %d bytes, not the body sent", len(got.body))
	mustf(t, len((<-seen).body) == 0, "the GET behind the POST reached the member with a body")

	st := rt.EventLoopStats()
	mustf(t, st.Handoffs == before.Handoffs, "handoffs went from %v to %v: the loop did not relay the bodies itself", before.Handoffs, st.Handoffs)
	want := uint64(len(sizes) + 3 + 2)
	mustf(t, st.Requests-before.Requests == want, "the loop served %d requests, want %d", st.Requests-before.Requests, want)
}

// TestEventLoopHandsOffChunkedBodies: a chunked body is the goroutine
// path's, which relays it exactly.
func TestEventLoopHandsOffChunkedBodies(t *testing.T) {
	needEventLoop(t)
	member, seen := digestMember(t, 0)
	p := freePort(t)
	rt := startRuntime(t, config(t, oneHTTPPool, poolData{Port: p, Algorithm: "ROUND_ROBIN", Backends: []string{member}}))
	c, br := loopConn(t, rt, p, bodyDigest(nil))
	for len(seen) > 0 {
		<-seen
	}
	exchangeOn(t, c, br, "POST", "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nhello \r\n5\r\nworld\r\n0\r\n\r\n",
		200, bodyDigest([]byte("hello world")))
	mustf(t, string((<-seen).body) == "hello world", "the member did not read the chunked body")
	mustf(t, rt.EventLoopStats().Handoffs[handoffRequest] == 1, "handoffs %v, want the chunked request's", rt.EventLoopStats().Handoffs)
}

// TestEventLoopClientStallsMidBody: a client that stops sending its body
// is handed to the goroutine path once timeout_client_data passed, which
// ends the exchange; the member got what the client sent, and no more.
func TestEventLoopClientStallsMidBody(t *testing.T) {
	needEventLoop(t)
	member, seen := digestMember(t, 0)
	p := freePort(t)
	rt := startRuntime(t, config(t, oneHTTPPool, poolData{Port: p, Algorithm: "ROUND_ROBIN", Backends: []string{member},
		Extra: "timeout_client_data: 500"}))
	c, br := loopConn(t, rt, p, bodyDigest(nil))
	for len(seen) > 0 {
		<-seen
	}
	body := randomBody(100 << 10)
	sent := body[:30<<10]
	io.WriteString(c, fmt.Sprintf("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n%s", len(body), sent))
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	rest, err := io.ReadAll(br)
	mustf(t, err == nil && !strings.Contains(string(rest), " 200 OK"), "after the stall: read %.40q, %v; want the connection ended without a 200", rest, err)
	got := <-seen
	mustf(t, got.err != nil && bytes.Equal(got.body, sent), "the member read %d bytes (%v), want the %d sent and then an error", len(got.body), got.err, len(sent))
	st := rt.EventLoopStats()
	mustf(t, st.Handoffs[handoffTimeout] == 1 && st.Handoffs[handoffRequest] == 0, "handoffs %v, want one timeout", st.Handoffs)
}

// TestEventLoopMemberDiesMidBody: a member that closes its connection
// halfway through a body: the client gets 502, or its connection ended,
// never a 200; the loop handed the exchange over only then.
func TestEventLoopMemberDiesMidBody(t *testing.T) {
	needEventLoop(t)
	const dieAfter = 64 << 10
	member, seen := digestMember(t, dieAfter)
	p := freePort(t)
	rt := startRuntime(t, config(t, oneHTTPPool, poolData{Port: p, Algorithm: "ROUND_ROBIN", Backends: []string{member}}))
	c, br := loopConn(t, rt, p, bodyDigest(nil))
	for len(seen) > 0 {
		<-seen
	}
	before := rt.EventLoopStats()
	body := randomBody(4 << 20)
	go io.WriteString(c, post("/die", body)) // fails once the proxy gives up on it
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(br, nil)
	if err == nil {
		resp.Body.Close()
		mustf(t, resp.StatusCode == http.StatusBadGateway, "status %d, want 502", resp.StatusCode)
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatalf("no answer and the connection still open: %v", err)
	}
	got := <-seen
	mustf(t, got.err == nil && bytes.Equal(got.body, body[:dieAfter]), "the member read %d bytes (%v), not the body's first %d", len(got.body), got.err, dieAfter)
	st := rt.EventLoopStats()
	mustf(t, st.Handoffs[handoffRequest] == before.Handoffs[handoffRequest] && st.Handoffs[handoffResponse] == before.Handoffs[handoffResponse]+1,
		"handoffs went from %v to %v, want the one exchange whose member died", before.Handoffs, st.Handoffs)
}

// TestEventLoopLongAnswerBeforeBodyEnd: a response longer than the loop's
// buffer that comes before the request body's end goes to the goroutine
// path, which relays both at once; the member gets the whole body.
func TestEventLoopLongAnswerBeforeBodyEnd(t *testing.T) {
	needEventLoop(t)
	member, seen, answered := digestMemberEarly(t, 0)
	p := freePort(t)
	rt := startRuntime(t, config(t, oneHTTPPool, poolData{Port: p, Algorithm: "ROUND_ROBIN", Backends: []string{member}}))
	c, br := loopConn(t, rt, p, bodyDigest(nil))
	for len(seen) > 0 {
		<-seen
	}
	before := rt.EventLoopStats()
	body := randomBody(64 << 10)
	req := post("/earlybig", body)
	part := len(req) - len(body) + 512
	io.WriteString(c, req[:part])
	<-answered
	// The answer reaches the client before the body's end: the loop took
	// it first (a body end that came before it would have left the loop
	// to relay the answer itself, and the test nothing to check), and
	// only the goroutine path relays an answer while the body still comes.
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err := br.Peek(1)
	mustf(t, err == nil, "no answer before the body's end: %v", err)
	go io.WriteString(c, req[part:])
	exchangeOn(t, c, br, "POST", "", 200, strings.Repeat("x", 100000))
	got := <-seen
	mustf(t, got.err == nil && bytes.Equal(got.body, body), "the member read %d bytes (%v), not the body sent", len(got.body), got.err)
	exchangeOn(t, c, br, "GET", "GET / HTTP/1.1\r\nHost: t\r\n\r\n", 200, bodyDigest(nil))
	st := rt.EventLoopStats()
	mustf(t, st.Handoffs[handoffResponse] == before.Handoffs[handoffResponse]+1, "handoffs went from %v to %v, want the long early answer's", before.Handoffs, st.Handoffs)
}
