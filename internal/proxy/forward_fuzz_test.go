package proxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"lbd/internal/balancer"
	"lbd/internal/octavia"
)

// recordingMember is an HTTP member that keeps every byte it receives, per
// connection, and answers each complete request (as the reference parser
// sees it) with 200 and Connection: close, so lbd opens one member
// connection per request and anything more on a connection is a second
// request lbd should not have sent. It sends 100 Continue to a request
// that expects it.
type recordingMember struct {
	ln       net.Listener
	accepted atomic.Int64
	open     atomic.Int64
	mu       sync.Mutex
	conns    []*recordedConn // in accept order
}

type recordedConn struct {
	mu   sync.Mutex
	data []byte
}

func (rc *recordedConn) bytes() []byte {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return bytes.Clone(rc.data)
}

func startRecordingMember(tb testing.TB) *recordingMember {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	m := &recordingMember{ln: ln}
	var wg sync.WaitGroup
	tb.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			rc := &recordedConn{}
			m.mu.Lock()
			m.conns = append(m.conns, rc)
			m.mu.Unlock()
			m.open.Add(1)
			m.accepted.Add(1)
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer m.open.Add(-1)
				defer c.Close()
				m.serve(c, rc)
			}()
		}
	}()
	return m
}

func (m *recordingMember) serve(c net.Conn, rc *recordedConn) {
	c.SetDeadline(time.Now().Add(20 * time.Second)) // a stuck test ends
	buf := make([]byte, 16<<10)
	answered, continued := 0, -1
	for {
		n, err := c.Read(buf)
		rc.mu.Lock()
		rc.data = append(rc.data, buf[:n]...)
		data := rc.data
		rc.mu.Unlock()
		reqs, _ := refParse(data)
		for i := answered; i < len(reqs); i++ {
			r := reqs[i]
			if !r.complete {
				if r.expect100 && continued < i {
					io.WriteString(c, "HTTP/1.1 100 Continue\r\n\r\n")
					continued = i
				}
				break
			}
			resp := "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
			if r.method == "HEAD" {
				resp = strings.TrimSuffix(resp, "ok")
			}
			io.WriteString(c, resp)
			answered = i + 1
		}
		if err != nil {
			return
		}
	}
}

// since returns the connections accepted from index i on.
func (m *recordingMember) since(i int) []*recordedConn {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]*recordedConn(nil), m.conns[i:]...)
}

func (m *recordingMember) count() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.conns)
}

// forwardHarness is lbd serving one HTTP listener in front of one
// recordingMember.
type forwardHarness struct {
	rt     *Runtime
	addr   string
	member *recordingMember
	lst    *listener
	bm     *balancer.Member
}

func newForwardHarness(tb testing.TB) *forwardHarness {
	return newForwardHarnessWith(tb, "timeout_client_data: 3000")
}

// newForwardHarnessWith adds listener settings (YAML, one line) to the
// harness's listener.
func newForwardHarnessWith(tb testing.TB, listenerExtra string) *forwardHarness {
	h := &forwardHarness{member: startRecordingMember(tb)}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	p := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	_, mport, _ := net.SplitHostPort(h.member.ln.Addr().String())
	cfg, err := octavia.Parse("fuzz.yaml", []byte(fmt.Sprintf(`
loadbalancers:
  - name: lb
    vip_address: 127.0.0.1
    listeners:
      - name: web
        protocol: HTTP
        protocol_port: %d
        %s
        timeout_member_data: 3000
        timeout_member_connect: 1000
        default_pool:
          name: pool
          protocol: HTTP
          lb_algorithm: ROUND_ROBIN
          members: [{address: 127.0.0.1, protocol_port: %s}]
`, p, listenerExtra, mport)))
	if err != nil {
		tb.Fatal(err)
	}
	h.rt = New(slog.New(slog.DiscardHandler), Options{DrainTimeout: time.Second, NoEventLoop: goroutinesOnly()})
	if err := h.rt.Apply(context.Background(), cfg); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		h.rt.Shutdown(ctx)
	})
	h.addr = fmt.Sprintf("127.0.0.1:%d", p)
	for _, l := range h.rt.listeners {
		h.lst = l
	}
	for _, pl := range h.rt.pools {
		h.bm = pl.bal.Members()[0]
	}
	return h
}

// exchange sends in on a new client connection, half-closes it, reads the
// answers until lbd closes, waits until every member connection lbd opened
// meanwhile is closed, and returns what each of them received.
func (h *forwardHarness) exchange(tb testing.TB, in []byte) (answer []byte, member [][]byte) {
	first := h.member.count()
	c, err := net.Dial("tcp", h.addr)
	if err != nil {
		tb.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	go func() {
		c.Write(in) // lbd may refuse and close before reading everything
		c.(*net.TCPConn).CloseWrite()
	}()
	answer, err = io.ReadAll(c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		tb.Fatalf("lbd neither answered nor closed within 10s after the client's FIN; sent %q, got %q", in, answer)
	}
	// lbd's connection handler ends after closing or pooling its member
	// connections; the member closes each after lbd does.
	deadline := time.Now().Add(10 * time.Second)
	for h.lst.active.Load() != 0 || h.member.accepted.Load() != int64(h.bm.Traffic.Connections.Load()) || h.member.open.Load() != 0 {
		if time.Now().After(deadline) {
			tb.Fatalf("member connections did not settle: lbd active %d, member accepted %d of %d, open %d; sent %q",
				h.lst.active.Load(), h.member.accepted.Load(), h.bm.Traffic.Connections.Load(), h.member.open.Load(), in)
		}
		time.Sleep(time.Millisecond)
	}
	for _, rc := range h.member.since(first) {
		member = append(member, rc.bytes())
	}
	return answer, member
}

// checkForwarded: what the member received, parsed strictly, is a prefix of
// what the reference parser finds in the client's bytes: the same requests
// in the same order (method, target, end-to-end fields, body), at most one
// per member connection, only the last possibly cut short, and nothing the
// client's bytes did not hold as a request.
func checkForwarded(tb testing.TB, in []byte, member [][]byte) {
	tb.Helper()
	if err := forwardedMismatch(in, member, false); err != nil {
		tb.Fatal(err)
	}
}

// forwardedMismatch is checkForwarded's check: nil, or how what the member
// received departs from the client's bytes. foldNames compares field names
// regardless of case (HAProxy lower-cases them).
func forwardedMismatch(in []byte, member [][]byte, foldNames bool) error {
	ref, refErr := refParse(in)
	var got []refRequest
	for ci, data := range member {
		reqs, err := refParse(data)
		if err != nil && !errors.Is(err, errRefIncomplete) {
			return fmt.Errorf("member connection %d received bytes a strict parser refuses (%v):\n%q\nthe client sent:\n%q", ci, err, data, in)
		}
		if len(reqs) > 1 {
			return fmt.Errorf("member connection %d received %d requests where lbd may send one:\n%q\nthe client sent:\n%q", ci, len(reqs), data, in)
		}
		got = append(got, reqs...)
	}
	for i, g := range got {
		if i >= len(ref) {
			return fmt.Errorf("the member received request %d (%s %s), but the client's bytes hold %d (reference parse: %v):\n%q",
				i+1, g.method, g.target, len(ref), refErr, in)
		}
		r := ref[i]
		if g.method != r.method || g.target != r.target {
			return fmt.Errorf("request %d: member got %s %s, client sent %s %s:\n%q", i+1, g.method, g.target, r.method, r.target, in)
		}
		gh, rh := endToEnd(g.headers), mergeLengths(endToEnd(r.headers))
		if foldNames {
			gh, rh = lowerNames(gh), lowerNames(rh)
		}
		if !equalFields(gh, rh) {
			return fmt.Errorf("request %d: member got fields %q, client sent %q:\n%q", i+1, gh, rh, in)
		}
		switch {
		case g.complete && (!r.complete || !bytes.Equal(g.body, r.body)):
			return fmt.Errorf("request %d: member got a complete body %q, client sent %q (complete %v):\n%q", i+1, g.body, r.body, r.complete, in)
		case !g.complete && i != len(got)-1:
			return fmt.Errorf("request %d: cut short but followed by another:\n%q", i+1, in)
		case !g.complete && !bytes.HasPrefix(r.body, g.body):
			return fmt.Errorf("request %d: member got body %q, not a prefix of the client's %q:\n%q", i+1, g.body, r.body, in)
		}
	}
	return nil
}

// endToEnd drops the hop-by-hop fields (RFC 9110 §7.6.1) and those framing
// fields lbd rewrites.
func endToEnd(fields [][2]string) [][2]string {
	drop := map[string]bool{"connection": true, "keep-alive": true, "proxy-connection": true, "te": true,
		"transfer-encoding": true, "upgrade": true}
	for _, f := range fields {
		if strings.EqualFold(f[0], "connection") {
			for _, n := range strings.Split(f[1], ",") {
				if n = strings.ToLower(strings.Trim(n, " \t")); n != "" && n != "content-length" && n != "host" && n != "expect" {
					drop[n] = true
				}
			}
		}
	}
	var out [][2]string
	for _, f := range fields {
		if !drop[strings.ToLower(f[0])] {
			out = append(out, f)
		}
	}
	return out
}

func lowerNames(fields [][2]string) [][2]string {
	out := make([][2]string, len(fields))
	for i, f := range fields {
		out[i] = [2]string{strings.ToLower(f[0]), f[1]}
	}
	return out
}

// mergeLengths keeps the first of repeated Content-Length fields (the
// parser refuses repeats that differ): a member gets them as one.
func mergeLengths(fields [][2]string) [][2]string {
	var out [][2]string
	length := false
	for _, f := range fields {
		isLength := strings.EqualFold(f[0], "content-length")
		if isLength && length {
			continue
		}
		length = length || isLength
		out = append(out, f)
	}
	return out
}

func equalFields(a, b [][2]string) bool {
	// An HTTP/1.0 request without Host gets an empty one (HTTP/1.1 requires it).
	if len(a) == len(b)+1 && strings.EqualFold(a[len(a)-1][0], "host") && a[len(a)-1][1] == "" {
		a = a[:len(a)-1]
	}
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// forwardSeeds are requests, well-formed and not, that the fuzzer starts
// from: every smuggling shape the hostile-client tests try, pipelines,
// bodies of each framing, 100-continue and upgrades.
var forwardSeeds = []string{
	"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\n",
	"GET / HTTP/1.0\r\n\r\n",
	"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\nHEAD /h HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
	"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhelloGET /b HTTP/1.1\r\nHost: x\r\n\r\n",
	"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=\"v\"\r\nhello\r\n0\r\nX-T: 1\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n",
	"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n",
	"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nContent-Length: 40\r\n\r\n",
	"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: +4\r\n\r\nabcd",
	"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 4, 4\r\n\r\nabcd",
	"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 0004\r\n\r\nabcd",
	"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
	"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding:\tchunked \r\n\r\n0\r\n\r\n",
	"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n",
	"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\n0\n\n",
	"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;a=b\nc\r\nhello\r\n0\r\n\r\n",
	"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2;\r\nhi\r\n0\r\n\r\n",
	"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2 \r\nhi\r\n0\r\n\r\n",
	"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nContent-Length: 40\r\n\r\n",
	"POST /a HTTP/1.1\r\nHost: x\r\nConnection: content-length\r\nContent-Length: 35\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: x\r\nConnection: host\r\n\r\n",
	"POST /a HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc",
	"GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n b\r\n\r\n",
	"GET / HTTP/1.1\r\nHost : x\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n",
	"GET / HTTP/1.1\nHost: x\n\n",
	"GET / HTTP/1.1\rHost: x\r\n\r\n",
	"\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n",
	"GET  / HTTP/1.1\r\nHost: x\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: x\r\nX: \x00\r\n\r\n",
}

// FuzzForwardedRequests: arbitrary client bytes through a running HTTP
// listener never make the member receive a request that a strict
// reference parse of those bytes does not hold: never two requests where
// the client sent one, never a different method, target, field list or
// body.
func FuzzForwardedRequests(f *testing.F) {
	for _, s := range forwardSeeds {
		f.Add([]byte(s))
	}
	h := newForwardHarness(f)
	f.Fuzz(func(t *testing.T, in []byte) {
		_, member := h.exchange(t, in)
		checkForwarded(t, in, member)
	})
}
