package proxy

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"lbd/internal/demo"
)

// smugglingCase is a request smuggling shape, the status of its first
// answer, and how many complete requests the member receives.
type smugglingCase struct {
	name, req string
	status    string // of the first answer
	forwarded int    // complete requests the member receives
}

func smugglingCases() []smugglingCase {
	const next = "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"
	post := func(fields, body string) string {
		return "POST /a HTTP/1.1\r\nHost: x\r\n" + fields + "\r\n" + body
	}
	chunked := func(body string) string { return post("Transfer-Encoding: chunked\r\n", body) }
	return []smugglingCase{
		// Content-Length
		{"CL leading zeros", post("Content-Length: 05\r\n", "hello") + next, "400", 0},
		{"CL plus sign", post("Content-Length: +5\r\n", "hello") + next, "400", 0},
		{"CL minus sign", post("Content-Length: -5\r\n", "hello") + next, "400", 0},
		{"CL list", post("Content-Length: 5, 5\r\n", "hello") + next, "400", 0},
		{"CL hex", post("Content-Length: 0x5\r\n", "hello") + next, "400", 0},
		{"CL overflow", post("Content-Length: 99999999999999999999\r\n", "hello") + next, "400", 0},
		{"CL empty", post("Content-Length: \r\n", "hello") + next, "400", 0},
		{"CL two equal", post("Content-Length: 5\r\nContent-Length: 5\r\n", "hello") + next, "200", 2},
		{"CL with OWS", post("Content-Length:  5 \r\n", "hello") + next, "200", 2},
		{"CL listed in Connection", post("Connection: content-length\r\nContent-Length: 35\r\n", next), "200", 1},
		{"Host listed in Connection", "GET / HTTP/1.1\r\nHost: x\r\nConnection: Host\r\n\r\n", "200", 1},
		{"CL with vertical tab", post("Content-Length:\x0b5\r\n", "hello") + next, "400", 0},
		// Transfer-Encoding
		{"TE twice", post("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", "0\r\n\r\n") + next, "501", 0},
		{"TE chunked, chunked", post("Transfer-Encoding: chunked, chunked\r\n", "0\r\n\r\n") + next, "501", 0},
		{"TE chunked then identity", post("Transfer-Encoding: chunked, identity\r\n", "0\r\n\r\n") + next, "501", 0},
		{"TE xchunked", post("Transfer-Encoding: xchunked\r\n", "0\r\n\r\n") + next, "501", 0},
		{"TE with a tab", post("Transfer-Encoding:\tchunked\t\r\n", "0\r\n\r\n") + next, "200", 2},
		{"TE with a vertical tab", post("Transfer-Encoding: \x0bchunked\r\n", "0\r\n\r\n") + next, "400", 0},
		{"TE with a form feed", post("Transfer-Encoding: chunked\x0c\r\n", "0\r\n\r\n") + next, "400", 0},
		{"TE space before colon", post("Transfer-Encoding : chunked\r\n", "0\r\n\r\n") + next, "400", 0},
		{"TE folded", post("Transfer-Encoding:\r\n chunked\r\n", "0\r\n\r\n") + next, "400", 0},
		{"TE empty", post("Transfer-Encoding: \r\n", "0\r\n\r\n") + next, "501", 0},
		{"TE only commas", post("Transfer-Encoding: , ,\r\nContent-Length: 5\r\n", "hello") + next, "400", 0},
		{"TE only commas, no CL", post("Transfer-Encoding: ,\r\n", "0\r\n\r\n") + next, "501", 0},
		{"TE and CL", post("Transfer-Encoding: chunked\r\nContent-Length: 3\r\n", "0\r\n\r\n") + next, "400", 0},
		{"TE in HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + next, "400", 0},
		{"TE upper case", post("TRANSFER-ENCODING: CHUNKED\r\n", "5\r\nhello\r\n0\r\n\r\n") + next, "200", 2},
		// Chunk framing
		{"chunk size LF only", chunked("5\nhello\r\n0\r\n\r\n") + next, "400", 0},
		{"chunk data LF only", chunked("5\r\nhello\n0\r\n\r\n") + next, "400", 0},
		{"last chunk LF only", chunked("5\r\nhello\r\n0\n\n") + next, "400", 0},
		{"chunk size with 0x", chunked("0x5\r\nhello\r\n0\r\n\r\n") + next, "400", 0},
		{"chunk size with sign", chunked("+5\r\nhello\r\n0\r\n\r\n") + next, "400", 0},
		{"chunk size with leading space", chunked(" 5\r\nhello\r\n0\r\n\r\n") + next, "400", 0},
		{"chunk size with trailing space", chunked("5 \r\nhello\r\n0\r\n\r\n") + next, "400", 0},
		{"chunk size of 17 digits", chunked("00000000000000005\r\nhello\r\n0\r\n\r\n") + next, "400", 0},
		{"chunk longer than its size", chunked("3\r\nhello\r\n0\r\n\r\n") + next, "400", 0},
		{"chunk shorter than its size", chunked("6\r\nhello\r\n0\r\n\r\n") + next, "400", 0},
		{"empty chunk extension", chunked("5;\r\nhello\r\n0\r\n\r\n") + next, "400", 0},
		{"chunk extension with bare LF", chunked("5;a\nb\r\nhello\r\n0\r\n\r\n") + next, "400", 0},
		{"chunk extension with bare CR", chunked("5;a\rb\r\nhello\r\n0\r\n\r\n") + next, "400", 0},
		{"chunk extension unterminated quote", chunked("5;a=\"b\r\nhello\r\n0\r\n\r\n") + next, "400", 0},
		{"chunk extension bad value", chunked("5;a=b c\r\nhello\r\n0\r\n\r\n") + next, "400", 0},
		{"chunk extensions valid", chunked("5 ; a = \"x;y\" ;b;c=d\r\nhello\r\n0;e\r\n\r\n") + next, "200", 2},
		{"chunk extension oversized", chunked("5;a="+strings.Repeat("b", 8<<10)+"\r\nhello\r\n0\r\n\r\n") + next, "400", 0},
		{"trailer Content-Length", chunked("5\r\nhello\r\n0\r\nContent-Length: 40\r\n\r\n") + next, "400", 0},
		{"trailer Transfer-Encoding", chunked("5\r\nhello\r\n0\r\nTransfer-Encoding: chunked\r\n\r\n") + next, "400", 0},
		{"trailer Host", chunked("5\r\nhello\r\n0\r\nHost: evil\r\n\r\n") + next, "400", 0},
		{"trailer folded", chunked("5\r\nhello\r\n0\r\nX-T: a\r\n b\r\n\r\n") + next, "400", 0},
		{"trailer without colon", chunked("5\r\nhello\r\n0\r\nX-T\r\n\r\n") + next, "400", 0},
		{"trailer valid", chunked("5\r\nhello\r\n0\r\nX-Checksum: 1\r\n\r\n") + next, "200", 2},
		// Heads
		{"bare CR in a field", "GET / HTTP/1.1\r\nHost: x\r\nX: a\rb\r\n\r\n" + next, "400", 0},
		{"NUL in a field", "GET / HTTP/1.1\r\nHost: x\r\nX: a\x00b\r\n\r\n" + next, "400", 0},
		{"field name with a bracket", "GET / HTTP/1.1\r\nHost: x\r\nX[a]: 1\r\n\r\n" + next, "400", 0},
		{"two spaces in the request line", "GET  / HTTP/1.1\r\nHost: x\r\n\r\n" + next, "400", 0},
		{"tab in the request line", "GET\t/ HTTP/1.1\r\nHost: x\r\n\r\n" + next, "400", 0},
		{"space in the target", "GET /a b HTTP/1.1\r\nHost: x\r\n\r\n" + next, "400", 0},
		{"HTTP/1.0 without Host", "GET / HTTP/1.0\r\n\r\n", "200", 1},
		{"lower-case version", "GET / http/1.1\r\nHost: x\r\n\r\n" + next, "400", 0},
		// Absolute-form targets (RFC 9112 §3.2.2)
		{"absolute-form, Host agrees", "GET http://x/a HTTP/1.1\r\nHost: x\r\n\r\n" + next, "200", 2},
		{"absolute-form, another Host", "GET http://a.example/a HTTP/1.1\r\nHost: x\r\n\r\n" + next, "400", 0},
		{"absolute-form, empty authority", "GET http:///a HTTP/1.1\r\nHost: x\r\n\r\n" + next, "400", 0},
		{"absolute-form with userinfo", "GET http://x@x/a HTTP/1.1\r\nHost: x\r\n\r\n" + next, "400", 0},
		{"HTTP/0.9", "GET /\r\n\r\n" + next, "400", 0},
	}
}

// TestSmugglingAttempts: request smuggling shapes beyond the basic ones in
// TestHTTPMalformedRequestsRefused. Each is answered with the status shown
// (the ambiguous ones refused), and what reaches the member is checked
// against the reference parse of the client's bytes: never a second
// request hidden in the first, never a complete request that was refused.
func TestSmugglingAttempts(t *testing.T) {
	h := newForwardHarness(t)
	tests := smugglingCases()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			answer, member := h.exchange(t, []byte(tt.req))
			if want := "HTTP/1.1 " + tt.status + " "; !bytes.HasPrefix(answer, []byte(want)) {
				t.Errorf("answer %.60q, want %s", answer, want)
			}
			// Refusing a bad body must not wait for timeout_member_data
			// (3s here): the member will never answer a body cut short.
			if took := time.Since(start); took > 1500*time.Millisecond {
				t.Errorf("answered after %v", took)
			}
			checkForwarded(t, []byte(tt.req), member)
			complete := 0
			for _, data := range member {
				reqs, _ := refParse(data)
				for _, r := range reqs {
					if r.complete {
						complete++
					}
				}
			}
			if complete != tt.forwarded {
				t.Errorf("the member received %d complete requests, want %d: %q", complete, tt.forwarded, member)
			}
		})
	}
}

// slowListener serves one HTTP listener with timeout_client_data 500 ms in
// front of a recording member.
func slowListener(t *testing.T) *forwardHarness {
	return newForwardHarnessWith(t, "timeout_client_data: 500")
}

// TestSlowlorisCutByClientTimeout: a head trickling in a byte every 50 ms,
// a tenth of timeout_client_data, is cut with 408 once the timeout has
// passed since it began (the idle timeout alone would never fire), and
// nothing reaches the member.
func TestSlowlorisCutByClientTimeout(t *testing.T) {
	h := slowListener(t)
	c, err := net.Dial("tcp", h.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	closed := make(chan []byte)
	go func() {
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		b, _ := io.ReadAll(c)
		closed <- b
	}()
	head := "GET / HTTP/1.1\r\nHost: x\r\nX-Slow: " + strings.Repeat("a", 1000)
	start := time.Now()
	var answer []byte
trickle:
	for i := range len(head) {
		select {
		case answer = <-closed:
			break trickle
		case <-time.After(50 * time.Millisecond): // the attack's pace, not synchronisation
		}
		if _, err := c.Write([]byte{head[i]}); err != nil {
			answer = <-closed
			break
		}
	}
	took := time.Since(start)
	if !bytes.HasPrefix(answer, []byte("HTTP/1.1 408 ")) {
		t.Errorf("slowloris answer %q, want 408", answer)
	}
	if took < 400*time.Millisecond || took > 2*time.Second {
		t.Errorf("slowloris cut after %v, want about 500ms", took)
	}
	if n := h.member.accepted.Load(); n != 0 {
		t.Errorf("the member got %d connections from a head that never ended", n)
	}
}

// TestSlowBodyCutByClientTimeout: a body that stops arriving is cut after
// timeout_client_data; the member, which got the head and part of the body,
// sees its connection closed rather than waiting forever, and lbd holds no
// connection afterwards. (A body that keeps trickling with pauses shorter
// than the timeout is served, as HAProxy's timeout client does: uploads
// have no total time limit.)
func TestSlowBodyCutByClientTimeout(t *testing.T) {
	h := slowListener(t)
	c, err := net.Dial("tcp", h.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789")
	start := time.Now()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	answer, _ := io.ReadAll(c)
	took := time.Since(start)
	if took < 400*time.Millisecond || took > 2*time.Second {
		t.Errorf("stalled body cut after %v, want about 500ms (answer %q)", took, answer)
	}
	deadline := time.Now().Add(5 * time.Second)
	for h.member.open.Load() != 0 || h.lst.active.Load() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("after the cut: %d member connections and %d client connections still open", h.member.open.Load(), h.lst.active.Load())
		}
		time.Sleep(5 * time.Millisecond)
	}
	conns := h.member.since(0)
	if len(conns) != 1 {
		t.Fatalf("member connections: %d, want 1", len(conns))
	}
	reqs, _ := refParse(conns[0].bytes())
	if len(reqs) != 1 || reqs[0].complete || string(reqs[0].body) != "0123456789" {
		t.Errorf("the member received %q, want the head and the 10 bytes sent, incomplete", conns[0].bytes())
	}
}

// TestOversizedHeadersRefused: heads over 32 KiB, in one field or many, and
// more than 128 fields get 431 and never reach the member.
func TestOversizedHeadersRefused(t *testing.T) {
	h := newForwardHarness(t)
	many := strings.Builder{}
	for i := range 129 {
		fmt.Fprintf(&many, "X-%d: y\r\n", i)
	}
	tests := map[string]string{
		"one big field":     "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 33<<10) + "\r\n\r\n",
		"many small fields": "GET / HTTP/1.1\r\nHost: x\r\n" + strings.Repeat("X-Field: "+strings.Repeat("b", 100)+"\r\n", 400) + "\r\n",
		"129 fields":        "GET / HTTP/1.1\r\nHost: x\r\n" + many.String() + "\r\n",
		"a long target":     "GET /" + strings.Repeat("t", 33<<10) + " HTTP/1.1\r\nHost: x\r\n\r\n",
	}
	for name, req := range tests {
		t.Run(name, func(t *testing.T) {
			answer, member := h.exchange(t, []byte(req))
			if !bytes.HasPrefix(answer, []byte("HTTP/1.1 431 ")) {
				t.Errorf("answer %.40q, want 431", answer)
			}
			if len(member) != 0 {
				t.Errorf("the member got %d connections", len(member))
			}
		})
	}
	// Just under the limit passes.
	req := "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 31<<10) + "\r\n\r\n"
	answer, member := h.exchange(t, []byte(req))
	if !bytes.HasPrefix(answer, []byte("HTTP/1.1 200 ")) || len(member) != 1 {
		t.Errorf("a 31 KiB head: answer %.40q, %d member connections", answer, len(member))
	}
}

// TestAllowedCIDRsRefusesOtherSources: with allowed_cidrs set, clients from
// other source addresses (distinct loopback addresses here) are cut at
// accept time, before any byte is read, and never reach a member; allowed
// ones are served. A reload changing the list applies to new connections.
func TestAllowedCIDRsRefusesOtherSources(t *testing.T) {
	b := startBackend(t, "s1", demo.Options{})
	p := freePort(t)
	data := poolData{Port: p, Algorithm: "ROUND_ROBIN", Backends: []string{b.Addr()}, Extra: "allowed_cidrs: [127.0.0.2/32, 127.0.1.0/24]"}
	rt := startRuntime(t, config(t, oneHTTPPool, data))
	addr := fmt.Sprintf("127.0.0.1:%d", p)
	ask := func(src string) (string, error) {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 2 * time.Second}
		c, err := d.Dial("tcp", addr)
		if err != nil {
			return "", err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		got, err := io.ReadAll(c)
		return string(got), err
	}
	allowed := []string{"127.0.0.2", "127.0.1.1", "127.0.1.254"}
	refused := []string{"127.0.0.1", "127.0.0.3", "127.0.2.1", "127.1.0.2", "127.255.255.254"}
	for _, src := range allowed {
		if got, err := ask(src); err != nil || !strings.HasPrefix(got, "HTTP/1.1 200 ") {
			t.Errorf("allowed source %s: %.30q, %v", src, got, err)
		}
	}
	for _, src := range refused {
		if got, _ := ask(src); got != "" {
			t.Errorf("refused source %s got an answer: %.30q", src, got)
		}
	}
	if n := b.Served(); n != uint64(len(allowed)) {
		t.Errorf("the member served %d requests, want %d (the allowed sources only)", n, len(allowed))
	}
	var id string
	for _, lb := range rt.Config().LoadBalancers {
		id = lb.Listeners[0].ID
	}
	if d := rt.trafficOf(id).Denied.Load(); d != uint64(len(refused)) {
		t.Errorf("denied counter %d, want %d", d, len(refused))
	}
	data.Extra = "allowed_cidrs: [127.0.0.3/32]"
	if err := rt.Apply(context.Background(), config(t, oneHTTPPool, data)); err != nil {
		t.Fatal(err)
	}
	if got, err := ask("127.0.0.3"); err != nil || !strings.HasPrefix(got, "HTTP/1.1 200 ") {
		t.Errorf("after the reload, 127.0.0.3: %.30q, %v", got, err)
	}
	if got, _ := ask("127.0.0.2"); got != "" {
		t.Errorf("after the reload, 127.0.0.2 got an answer: %.30q", got)
	}
}
