package http1

import (
	"bufio"
	"strings"
	"testing"
)

func head(t *testing.T, raw string, request bool) *Head {
	t.Helper()
	var h Head
	if err := h.ReadHead(bufio.NewReader(strings.NewReader(raw))); err != nil {
		t.Fatalf("read %q: %v", raw, err)
	}
	parse := h.ParseResponse
	if request {
		parse = h.ParseRequest
	}
	if err := parse(); err != nil {
		t.Fatalf("parse %q: %v", raw, err)
	}
	return &h
}

// TestDecide: the rules both engines follow, one case per rule: framing
// (HEAD, 204, 304, chunked, until close, decoded for HTTP/1.0), keep-alive
// of either connection, and what the event loop serves.
func TestDecide(t *testing.T) {
	const (
		get      = "GET / HTTP/1.1\r\nHost: x\r\n\r\n"
		ok5      = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"
		chunked  = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
		none     = ""
		noReuse  = false
		reuse    = true
		notFast  = false
		fast     = true
		noKeep   = false
		keepConn = true
	)
	big := "HTTP/1.1 200 OK\r\nContent-Length: " + itoa(FastRoom) + "\r\n\r\n"
	for _, tt := range []struct {
		name      string
		req, resp string
		c         Conditions
		body      BodyKind
		length    int64
		decode    bool
		keep      bool
		reuse     bool
		fast      bool
	}{
		{"request alone", get, none, Conditions{}, BodyNone, 0, false, keepConn, noReuse, fast},
		{"request with a body alone", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\n", none, Conditions{}, BodyNone, 0, false, keepConn, noReuse, fast},
		{"chunked request alone", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n", none, Conditions{}, BodyNone, 0, false, keepConn, noReuse, notFast},
		{"request asking for 100 Continue", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n", none, Conditions{}, BodyNone, 0, false, keepConn, noReuse, notFast},
		{"a body with a length", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\n", ok5, Conditions{}, BodyFixed, 5, false, keepConn, reuse, fast},
		{"fixed length", get, ok5, Conditions{}, BodyFixed, 5, false, keepConn, reuse, fast},
		{"HEAD", "HEAD / HTTP/1.1\r\nHost: x\r\n\r\n", ok5, Conditions{}, BodyNone, 0, false, keepConn, reuse, fast},
		{"204", get, "HTTP/1.1 204 No Content\r\n\r\n", Conditions{}, BodyNone, 0, false, keepConn, reuse, fast},
		{"304 with a length", get, "HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n", Conditions{}, BodyNone, 0, false, keepConn, reuse, fast},
		{"HEAD answered chunked", "HEAD / HTTP/1.1\r\nHost: x\r\n\r\n", chunked, Conditions{}, BodyNone, 0, false, keepConn, reuse, notFast},
		{"chunked", get, chunked, Conditions{}, BodyChunked, 0, false, keepConn, reuse, notFast},
		{"chunked to HTTP/1.0", "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", chunked, Conditions{}, BodyChunked, 0, true, noKeep, reuse, notFast},
		{"until close", get, "HTTP/1.1 200 OK\r\n\r\n", Conditions{}, BodyUntilClose, 0, false, noKeep, noReuse, notFast},
		{"length and chunked", get, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", Conditions{}, BodyChunked, 0, false, keepConn, noReuse, notFast},
		{"HTTP/1.0 client", "GET / HTTP/1.0\r\n\r\n", ok5, Conditions{}, BodyFixed, 5, false, noKeep, reuse, fast},
		{"HTTP/1.0 client keeping alive", "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", ok5, Conditions{}, BodyFixed, 5, false, keepConn, reuse, fast},
		{"client closes", "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", ok5, Conditions{}, BodyFixed, 5, false, noKeep, reuse, fast},
		{"member closes", get, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\n", Conditions{}, BodyFixed, 5, false, keepConn, noReuse, fast},
		{"HTTP/1.0 member", get, "HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\n", Conditions{}, BodyFixed, 5, false, keepConn, noReuse, fast},
		{"interim", get, "HTTP/1.1 103 Early Hints\r\n\r\n", Conditions{}, BodyUntilClose, 0, false, noKeep, noReuse, notFast},
		{"after an interim", get, ok5, Conditions{Interim: true}, BodyFixed, 5, false, keepConn, reuse, notFast},
		{"longer than the loop's room: spliced", get, big, Conditions{}, BodyFixed, FastRoom, false, keepConn, reuse, fast},
		{"a body", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n", ok5, Conditions{}, BodyFixed, 5, false, keepConn, reuse, notFast},
		{"upgrade", "GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n", "HTTP/1.1 101 Switching Protocols\r\n\r\n", Conditions{}, BodyUntilClose, 0, false, noKeep, noReuse, notFast},
		{"draining", get, ok5, Conditions{Draining: true}, BodyFixed, 5, false, noKeep, reuse, fast},
		{"final answer before the body", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n", ok5, Conditions{BodyPending: true}, BodyFixed, 5, false, noKeep, noReuse, notFast},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var resp *Head
			if tt.resp != "" {
				resp = head(t, tt.resp, false)
			}
			d := Decide(head(t, tt.req, true), resp, tt.c)
			if d.Body != tt.body || d.Length != tt.length || d.Decode != tt.decode ||
				d.ClientKeep != tt.keep || d.MemberKeep != tt.reuse || d.Fast != tt.fast {
				t.Fatalf("got body %d length %d decode %v, client keep %v, member keep %v, fast %v;\nwant body %d length %d decode %v, client keep %v, member keep %v, fast %v",
					d.Body, d.Length, d.Decode, d.ClientKeep, d.MemberKeep, d.Fast,
					tt.body, tt.length, tt.decode, tt.keep, tt.reuse, tt.fast)
			}
			if want := tt.fast && tt.keep && tt.reuse; d.Steady() != want {
				t.Fatalf("steady %v, want %v", d.Steady(), want)
			}
			if want := tt.body == BodyChunked && !tt.decode; d.ChunkedOut() != want {
				t.Fatalf("chunked out %v, want %v", d.ChunkedOut(), want)
			}
		})
	}
}

func itoa(n int) string {
	var w strings.Builder
	writeUint(&w, uint64(n))
	return w.String()
}
