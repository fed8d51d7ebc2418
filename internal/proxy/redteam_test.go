package proxy

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// The differential harness (make redteam; part of make test when haproxy is
// installed): every request of the corpus goes through lbd and through
// HAProxy configured alike, each in front of a recording member. The test
// fails if what a member received departs from the client's bytes through
// lbd (a desync: the member parses a request lbd did not forward as one),
// and on any difference from HAProxy that the corpus does not explain; the
// report lists every difference with its reason.

// redteamCase is a request of the corpus. why, when set, is the one-line
// reason lbd's outcome differs from HAProxy's.
type redteamCase struct {
	name, req string
	why       string
}

// redteamCorpus is the hostile-client corpus (hostile_test.go) and what it
// lacks: control bytes, line endings, chunk grammar, absolute-form targets,
// Expect, Upgrade without 101, pipelining.
func redteamCorpus() []redteamCase {
	const next = "GET /next HTTP/1.1\r\nHost: x\r\n\r\n"
	post := func(fields, body string) string {
		return "POST /a HTTP/1.1\r\nHost: x\r\n" + fields + "\r\n" + body
	}
	chunked := func(body string) string { return post("Transfer-Encoding: chunked\r\n", body) }
	var cases []redteamCase
	seen := map[string]bool{}
	add := func(c redteamCase) {
		if !seen[c.req] {
			seen[c.req] = true
			cases = append(cases, c)
		}
	}
	for _, c := range smugglingCases() {
		add(redteamCase{name: c.name, req: c.req})
	}
	for _, c := range []redteamCase{
		// Control bytes
		{name: "DEL in a field value", req: "GET / HTTP/1.1\r\nHost: x\r\nX: a\x7fb\r\n\r\n" + next},
		{name: "obs-text in a field value", req: "GET / HTTP/1.1\r\nHost: x\r\nX: caf\xe9\r\n\r\n" + next},
		{name: "control byte in the method", req: "G\x01T / HTTP/1.1\r\nHost: x\r\n\r\n" + next},
		{name: "NUL in the target", req: "GET /a\x00b HTTP/1.1\r\nHost: x\r\n\r\n" + next},
		{name: "byte above 0x7e in the target", req: "GET /caf\xe9 HTTP/1.1\r\nHost: x\r\n\r\n" + next},
		{name: "escape in the field name", req: "GET / HTTP/1.1\r\nHost: x\r\nX\x1b: 1\r\n\r\n" + next},
		{name: "CL with a NUL", req: post("Content-Length: 5\x00\r\n", "hello") + next},
		{name: "TE with a NUL", req: post("Transfer-Encoding: chunked\x00\r\n", "0\r\n\r\n") + next},
		{name: "space before the colon in Host", req: "GET / HTTP/1.1\r\nHost : x\r\n\r\n" + next},
		{name: "two Host fields", req: "GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n" + next},
		{name: "target without a slash", req: "GET x HTTP/1.1\r\nHost: x\r\n\r\n" + next},
		// Line endings
		{name: "empty lines before the request", req: "\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n" + next},
		{name: "LF-only head", req: "GET / HTTP/1.1\nHost: x\n\n" + next},
		{name: "bare CR between the request line and a field", req: "GET / HTTP/1.1\rHost: x\r\n\r\n" + next},
		{name: "LF-only head with a body", req: "POST /a HTTP/1.1\nHost: x\nContent-Length: 5\n\nhello" + next},
		{name: "CR CR LF ending a field", req: "GET / HTTP/1.1\r\nHost: x\r\nX: 1\r\r\n\r\n" + next},
		{name: "bare CR ending the head", req: "GET / HTTP/1.1\r\nHost: x\r\n\r" + next},
		{name: "LF CR LF ending the head", req: "GET / HTTP/1.1\r\nHost: x\n\r\n" + next},
		{name: "bare CR in the request line", req: "GET /a\rb HTTP/1.1\r\nHost: x\r\n\r\n" + next},
		{name: "chunk data followed by CR only", req: chunked("5\r\nhello\r0\r\n\r\n") + next},
		{name: "trailer ended by LF only", req: chunked("5\r\nhello\r\n0\r\nX-T: 1\n\r\n") + next},
		// Chunk grammar
		{name: "chunk size in upper-case hex", req: chunked("A\r\n0123456789\r\n0\r\n\r\n") + next},
		{name: "chunk size with leading zeros", req: chunked("0005\r\nhello\r\n0\r\n\r\n") + next},
		{name: "chunk size of 16 f's", req: chunked("ffffffffffffffff\r\nhello\r\n0\r\n\r\n") + next},
		{name: "chunk size negative", req: chunked("-1\r\nhello\r\n0\r\n\r\n") + next},
		{name: "chunk size missing", req: chunked("\r\nhello\r\n0\r\n\r\n") + next},
		{name: "last chunk without the final CRLF", req: chunked("5\r\nhello\r\n0\r\n") + next},
		{name: "last chunk with an extension", req: chunked("5\r\nhello\r\n0;x=1\r\n\r\n") + next},
		{name: "chunk extension quoted pair", req: chunked("5;a=\"b\\\"c\"\r\nhello\r\n0\r\n\r\n") + next},
		{name: "chunk extension without a name", req: chunked("5;=b\r\nhello\r\n0\r\n\r\n") + next},
		{name: "chunked body then a smuggled request inside", req: chunked("2d\r\nGET /inner HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\n\r\n0\r\n\r\n") + next},
		// Absolute-form targets
		{name: "absolute-form https, Host agrees", req: "GET https://x/a HTTP/1.1\r\nHost: x\r\n\r\n" + next},
		{name: "absolute-form with a port, Host without", req: "GET http://x:80/a HTTP/1.1\r\nHost: x\r\n\r\n" + next},
		{name: "absolute-form, Host differs in case", req: "GET http://X/a HTTP/1.1\r\nHost: x\r\n\r\n" + next},
		{name: "absolute-form, HTTP/1.0 without Host", req: "GET http://x/a HTTP/1.0\r\n\r\n"},
		{name: "absolute-form without a path", req: "GET http://x HTTP/1.1\r\nHost: x\r\n\r\n" + next},
		{name: "scheme without authority", req: "GET http:/a HTTP/1.1\r\nHost: x\r\n\r\n" + next},
		// Expect
		{name: "Expect with a body sent at once", req: post("Expect: 100-continue\r\nContent-Length: 5\r\n", "hello") + next},
		{name: "Expect with no body", req: post("Expect: 100-continue\r\nContent-Length: 0\r\n", "") + next},
		{name: "Expect with a chunked body", req: post("Expect: 100-continue\r\nTransfer-Encoding: chunked\r\n", "5\r\nhello\r\n0\r\n\r\n") + next},
		{name: "Expect with an unknown expectation", req: post("Expect: 200-ok\r\nContent-Length: 5\r\n", "hello") + next},
		{name: "Expect in HTTP/1.0", req: "POST /a HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\nhello"},
		{name: "Expect with a body that never comes", req: post("Expect: 100-continue\r\nContent-Length: 5\r\n", "")},
		// Upgrade without 101 (the member answers 200)
		{name: "Upgrade refused, then a request", req: "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n" + next},
		{name: "WebSocket handshake answered 200, then a request", req: "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n" + next},
		{name: "WebSocket handshake answered 200, then raw bytes", req: "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n\x81\x05hello"},
		{name: "Upgrade refused, then raw bytes", req: "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n\x81\x05hello"},
		{name: "h2c upgrade refused, then a request", req: "GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n" + next},
		{name: "Upgrade without Connection: upgrade", req: "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\r\n" + next},
		{name: "Upgrade with a body", req: post("Connection: Upgrade\r\nUpgrade: websocket\r\nContent-Length: 5\r\n", "hello") + next},
		// Pipelining
		{name: "three pipelined GETs", req: "GET /1 HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\n" + next},
		{name: "HEAD then GET", req: "HEAD /h HTTP/1.1\r\nHost: x\r\n\r\n" + next},
		{name: "GET with a body then GET", req: "GET /b HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello" + next},
		{name: "chunked POST then POST", req: chunked("5\r\nhello\r\n0\r\n\r\n") + post("Content-Length: 3\r\n", "abc")},
		{name: "pipelined after Connection: close", req: "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" + next},
		{name: "HTTP/1.0 keep-alive, GET then HEAD", req: "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\nHEAD /h HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"},
		{name: "HTTP/1.0 keep-alive then HTTP/1.1", req: "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n" + next},
		{name: "body shorter than CL, then a request", req: post("Content-Length: 50\r\n", "hello") + next},
	} {
		add(c)
	}
	for i := range cases {
		cases[i].why = redteamWhy[cases[i].name]
	}
	return cases
}

// redteamWhy is why lbd's outcome differs from HAProxy's 2.6 (Debian 12),
// by case: lbd is the stricter, but for a WebSocket handshake it leaves to
// the member and the status of a refused transfer coding.
var redteamWhy = map[string]string{
	"CL leading zeros":                        "lbd refuses a Content-Length with leading zeros, which some parsers read as octal; HAProxy strips them.",
	"CL list":                                 "lbd refuses a Content-Length list; HAProxy merges repeats of one value.",
	"DEL in a field value":                    "lbd refuses DEL in a field value (RFC 9110 §5.5); HAProxy forwards it, and the strict member never answers.",
	"NUL in a field":                          "lbd refuses NUL in a field value (RFC 9110 §5.5); HAProxy forwards it, and the strict member never answers.",
	"TE and CL":                               "lbd refuses a request framed both ways (RFC 9112 §6.3 lets it); HAProxy drops Content-Length, forwards the chunked body and closes.",
	"TE chunked then identity":                "both refuse; lbd answers 501 for a transfer coding it does not implement (RFC 9112 §6.1), HAProxy 400.",
	"TE chunked, chunked":                     "both refuse; lbd answers 501 for a transfer coding it does not implement (RFC 9112 §6.1), HAProxy 400.",
	"TE empty":                                "both refuse; lbd answers 501 for a transfer coding it does not implement (RFC 9112 §6.1), HAProxy 400.",
	"TE only commas, no CL":                   "both refuse; lbd answers 501 for a transfer coding it does not implement (RFC 9112 §6.1), HAProxy 400.",
	"TE twice":                                "both refuse; lbd answers 501 for a transfer coding it does not implement (RFC 9112 §6.1), HAProxy 400.",
	"TE xchunked":                             "both refuse; lbd answers 501 for a transfer coding it does not implement (RFC 9112 §6.1), HAProxy 400.",
	"TE folded":                               "lbd refuses obs-fold (RFC 9112 §5.2 lets it); HAProxy unfolds it.",
	"TE in HTTP/1.0":                          "lbd refuses Transfer-Encoding in HTTP/1.0 (RFC 9112 §6.1: faulty framing); HAProxy forwards it, and the strict member never answers.",
	"Upgrade refused, then a request":         "HAProxy refuses a WebSocket upgrade without Sec-WebSocket-Key; lbd leaves the handshake to the member, which answers 200, and serves the next request.",
	"Upgrade refused, then raw bytes":         "HAProxy refuses a WebSocket upgrade without Sec-WebSocket-Key; lbd forwards it, the member answers 200, and lbd refuses the bytes after it as a request.",
	"absolute-form with a port, Host without": "both take :80 as http's default port; HAProxy drops it from the target, lbd forwards the target as sent.",
	"absolute-form with userinfo":             "lbd refuses userinfo in the target's authority, which never equals Host; HAProxy forwards it.",
	"absolute-form, empty authority":          "lbd refuses an absolute-form target without an authority; HAProxy forwards it.",
	"chunk data LF only":                      "lbd holds request chunk framing to CRLF (RFC 9112 §7.1); HAProxy accepts a bare LF.",
	"chunk size LF only":                      "lbd holds request chunk framing to CRLF (RFC 9112 §7.1); HAProxy accepts a bare LF.",
	"last chunk LF only":                      "lbd holds request chunk framing to CRLF (RFC 9112 §7.1); HAProxy accepts a bare LF.",
	"trailer ended by LF only":                "lbd holds request chunk framing to CRLF (RFC 9112 §7.1); HAProxy accepts a bare LF.",
	"chunk extension bad value":               "lbd checks chunk extensions against RFC 9112 §7.1.1; HAProxy skips them unchecked.",
	"chunk extension unterminated quote":      "lbd checks chunk extensions against RFC 9112 §7.1.1; HAProxy skips them unchecked.",
	"chunk extension without a name":          "lbd checks chunk extensions against RFC 9112 §7.1.1; HAProxy skips them unchecked.",
	"empty chunk extension":                   "lbd checks chunk extensions against RFC 9112 §7.1.1; HAProxy skips them unchecked.",
	"chunk extension oversized":               "lbd bounds a chunk line at 4 KiB; HAProxy takes an 8 KiB extension.",
	"chunk shorter than its size":             "lbd refuses chunk data not followed by CRLF; HAProxy takes the CR as data and the bare LF as the line end.",
	"chunk size of 17 digits":                 "lbd refuses a chunk size of more than 16 hex digits; HAProxy skips leading zeros.",
	"chunk size with trailing space":          "lbd refuses whitespace after a chunk size, which RFC 9112's grammar allows only before a ';'; HAProxy skips it.",
	"tab in the request line":                 "lbd requires single spaces in the request line (RFC 9112 §3); HAProxy takes a tab.",
	"two spaces in the request line":          "lbd requires single spaces in the request line (RFC 9112 §3); HAProxy takes repeated spaces.",
	"target without a slash":                  "lbd refuses a target in none of RFC 9112 §3.2's forms; HAProxy forwards it.",
	"trailer Content-Length":                  "lbd refuses trailer fields that frame or route a message (RFC 9110 §6.5.1); HAProxy forwards them.",
	"trailer Host":                            "lbd refuses trailer fields that frame or route a message (RFC 9110 §6.5.1); HAProxy forwards them.",
	"trailer Transfer-Encoding":               "lbd refuses trailer fields that frame or route a message (RFC 9110 §6.5.1); HAProxy forwards them.",
	"trailer folded":                          "lbd refuses obs-fold in trailers; HAProxy unfolds it.",
}

// proxyOutcome is what one proxy did with a case.
type proxyOutcome struct {
	statuses  string // of the final answers, in order ("" when none)
	forwarded string // the complete requests the member received
	desync    error
}

func (o proxyOutcome) String() string {
	f := o.forwarded
	if f == "" {
		f = "nothing"
	}
	s := o.statuses
	if s == "" {
		s = "no answer"
	}
	return s + "; forwarded " + f
}

// outcome sums up an exchange: the answers' statuses and what the member
// received as complete requests.
// HAProxy sends field names in lower case, which foldNames forgives.
func outcome(in, answer []byte, member [][]byte, foldNames bool) proxyOutcome {
	var o proxyOutcome
	br := bufio.NewReader(bytes.NewReader(answer))
	var st []string
	for {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			break
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode >= 200 { // interim answers depend on timing
			st = append(st, fmt.Sprint(resp.StatusCode))
		}
	}
	o.statuses = strings.Join(st, " ")
	var fw []string
	for _, data := range member {
		reqs, _ := refParse(data)
		for _, r := range reqs {
			if r.complete {
				fw = append(fw, fmt.Sprintf("%s %s (%d-byte body)", r.method, r.target, len(r.body)))
			}
		}
	}
	o.forwarded = strings.Join(fw, ", ")
	o.desync = forwardedMismatch(in, member, foldNames)
	return o
}

// haproxyHarness is HAProxy serving one HTTP frontend in front of one
// recordingMember, configured as the forwardHarness's listener.
type haproxyHarness struct {
	addr   string
	member *recordingMember
}

func startHAProxy(t *testing.T) *haproxyHarness {
	bin, err := exec.LookPath("haproxy")
	if err != nil {
		if os.Getenv("LBD_REDTEAM") != "" {
			t.Fatalf("haproxy not installed (make redteam installs it): %v", err)
		}
		t.Skip("haproxy not installed: make redteam")
	}
	h := &haproxyHarness{member: startRecordingMember(t)}
	h.addr = fmt.Sprintf("127.0.0.1:%d", freePort(t))
	// As an Octavia amphora configures an HTTP listener and its pool, with
	// the harness's timeouts.
	cfg := fmt.Sprintf(`global
    maxconn 1000
defaults
    mode http
    timeout connect 1s
    timeout client 3s
    timeout server 3s
    retries 3
    option redispatch
frontend web
    bind %s
    default_backend pool
backend pool
    balance roundrobin
    server m1 %s
`, h.addr, h.member.ln.Addr())
	path := filepath.Join(t.TempDir(), "haproxy.cfg")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd := exec.Command(bin, "-db", "-f", path)
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", h.addr)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("haproxy did not listen on %s: %v\n%s", h.addr, err, stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	return h
}

// exchange is forwardHarness.exchange for HAProxy: the answers until it
// closes, and what each member connection received, once all are closed.
// The client half-closes only once HAProxy's answers stop coming for
// quiet: HAProxy drops pipelined requests it has not read yet when the
// client's FIN comes, which lbd does not, and which a client waiting for
// its answers never sees.
func (h *haproxyHarness) exchange(t *testing.T, in []byte) (answer []byte, member [][]byte) {
	const quiet = 300 * time.Millisecond
	first := h.member.count()
	c, err := net.Dial("tcp", h.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	go c.Write(in)
	buf := make([]byte, 64<<10)
	closed := false
	for !closed {
		c.SetReadDeadline(time.Now().Add(quiet))
		n, err := c.Read(buf)
		answer = append(answer, buf[:n]...)
		var ne net.Error
		switch {
		case errors.As(err, &ne) && ne.Timeout():
			c.(*net.TCPConn).CloseWrite()
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			rest, err := io.ReadAll(c)
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("haproxy neither answered nor closed within 10s; sent %q, got %q", in, answer)
			}
			answer = append(answer, rest...)
			closed = true
		case err != nil:
			closed = true
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for h.member.open.Load() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("haproxy's member connections did not close; sent %q", in)
		}
		time.Sleep(time.Millisecond)
	}
	for _, rc := range h.member.since(first) {
		member = append(member, rc.bytes())
	}
	return answer, member
}

// TestDifferentialHAProxy runs the corpus through lbd and HAProxy: no
// desync through lbd, and every difference from HAProxy explained. The
// HAProxy side runs on a few instances at once: its client waits for
// answers to stop before it half-closes.
func TestDifferentialHAProxy(t *testing.T) {
	cases := redteamCorpus()
	if len(cases) < 60 {
		t.Errorf("the corpus has %d cases, want at least 60", len(cases))
	}
	const instances = 4
	hps := make([]*haproxyHarness, instances)
	for i := range hps {
		hps[i] = startHAProxy(t)
	}
	theirs := make([]proxyOutcome, len(cases))
	members := make([][][]byte, len(cases))
	var wg sync.WaitGroup
	for i, hp := range hps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := i; j < len(cases); j += instances {
				in := []byte(cases[j].req)
				answer, member := hp.exchange(t, in)
				theirs[j], members[j] = outcome(in, answer, member, true), member
			}
		}()
	}
	lbd := newForwardHarness(t)
	ours := make([]proxyOutcome, len(cases))
	for i, c := range cases {
		in := []byte(c.req)
		answer, member := lbd.exchange(t, in)
		ours[i] = outcome(in, answer, member, false)
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	var report []string
	for i, c := range cases {
		lo, ho := ours[i], theirs[i]
		if lo.desync != nil {
			t.Errorf("%s: desync through lbd: %v", c.name, lo.desync)
		}
		differ := lo.statuses != ho.statuses || lo.forwarded != ho.forwarded
		switch {
		case differ && c.why == "":
			t.Errorf("%s: lbd %v; haproxy %v; unexplained\n%q", c.name, lo, ho, c.req)
		case !differ && c.why != "":
			t.Errorf("%s: lbd and haproxy agree (%v), but the corpus says they differ: %s", c.name, lo, c.why)
		}
		if !differ {
			continue
		}
		strict := ""
		if ho.desync != nil {
			strict = " (not what a strict parser reads in the client's bytes)"
			if testing.Verbose() {
				t.Logf("%s: haproxy's member got %q: %v", c.name, members[i], ho.desync)
			}
		}
		report = append(report, fmt.Sprintf("- %s: lbd %v; haproxy %v%s. %s", c.name, lo, ho, strict, c.why))
	}
	t.Logf("%d cases, %d where lbd and haproxy differ:\n%s", len(cases), len(report), strings.Join(report, "\n"))
	if out := os.Getenv("LBD_REDTEAM_REPORT"); out != "" {
		text := fmt.Sprintf("%d cases through lbd (%s) and haproxy; %d differ:\n%s\n", len(cases), engineName(), len(report), strings.Join(report, "\n"))
		if err := os.WriteFile(out, []byte(text), 0o644); err != nil {
			t.Error(err)
		}
	}
}

func engineName() string {
	if goroutinesOnly() {
		return "goroutines only"
	}
	return "event loop on"
}
