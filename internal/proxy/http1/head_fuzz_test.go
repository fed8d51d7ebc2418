package http1

import (
	"bufio"
	"bytes"
	"strings"
	"testing"
)

// FuzzRequestHead: no input makes the head parser panic, and every head it
// accepts has one unambiguous framing: never both Content-Length and
// chunked, never chunked on HTTP/1.0, exactly one Host on HTTP/1.1, no
// control characters in what will be forwarded. Forwarding it (as
// WriteRequestHead does) and parsing the result gives the same framing.
func FuzzRequestHead(f *testing.F) {
	for _, s := range []string{
		"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
		"POST /a?b=c HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
		"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
		"GET / HTTP/1.0\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\nConnection: close, X-A\r\nX-A: 1\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n b\r\n\r\n",
		"\r\nGET / HTTP/1.1\nHost: x\n\n",
		"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, chunked\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var h Head
		if h.ReadHead(bufio.NewReader(bytes.NewReader(in))) != nil || h.ParseRequest() != nil {
			return
		}
		switch {
		case h.Chunked && h.ContentLength >= 0:
			t.Fatalf("accepted both chunked and Content-Length: %q", in)
		case h.Chunked && h.Minor == 0:
			t.Fatalf("accepted chunked HTTP/1.0: %q", in)
		case h.Minor == 1 && h.hosts != 1:
			t.Fatalf("accepted HTTP/1.1 with %d Host fields: %q", h.hosts, in)
		case h.teOther:
			t.Fatalf("accepted a transfer coding other than chunked: %q", in)
		}
		for _, hd := range h.fields {
			if bytes.ContainsAny(hd.name, "\r\n: \t") || bytes.ContainsAny(hd.value, "\r\n\x00") {
				t.Fatalf("accepted a field that would break the forwarded head: %q: %q", hd.name, hd.value)
			}
		}
		// Forward it as the member would receive it, and parse that.
		var out bytes.Buffer
		w := bufio.NewWriter(&out)
		w.Write(h.Method)
		w.WriteByte(' ')
		w.Write(h.Target)
		w.WriteString(" HTTP/1.1\r\n")
		for _, hd := range h.fields {
			if !h.hopByHop(hd.name) {
				WriteField(w, hd.name, hd.value)
			}
		}
		if h.Chunked {
			w.WriteString("Transfer-Encoding: chunked\r\n")
		}
		w.WriteString("\r\n")
		w.Flush()
		var g Head
		if err := g.ReadHead(bufio.NewReader(&out)); err != nil {
			t.Fatalf("forwarded head unreadable: %v\n%q", err, out.String())
		}
		if err := g.ParseRequest(); err != nil && !(h.Minor == 0 && h.hosts == 0) {
			t.Fatalf("forwarded head refused: %v\n%q", err, out.String())
		}
		if g.Chunked != h.Chunked || g.ContentLength != h.ContentLength || !strings.EqualFold(string(g.Method), string(h.Method)) {
			t.Fatalf("framing changed in forwarding: %q → %q", in, out.String())
		}
	})
}

// FuzzChunkSize: the chunk-size parser never panics and accepts only hex
// digits, optionally followed by extensions.
func FuzzChunkSize(f *testing.F) {
	for _, s := range []string{"0", "1a", "FFFFFFFFFFFFFFFF", "5;ext=1", "-1", " 5", "5 ", "0x5", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseChunkSize([]byte(s))
		if err != nil {
			return
		}
		digits, _, _ := strings.Cut(s, ";")
		digits = strings.TrimRight(digits, " \t")
		if digits == "" || strings.TrimLeft(digits, "0123456789abcdefABCDEF") != "" {
			t.Fatalf("accepted chunk size %q as %d", s, n)
		}
	})
}

// FuzzHeadScan: the event loop's incremental head scan (HeadScan) finds the
// same head as Head.ReadHead, the goroutine path's reader, whatever the
// bytes and however they are split across reads: otherwise the two engines
// would frame one connection's messages differently.
func FuzzHeadScan(f *testing.F) {
	for _, s := range []string{
		"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
		"\r\n\nGET / HTTP/1.1\nHost: x\n\nbody",
		"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nab\n\n",
		"\r\rGET / HTTP/1.1\r\n\r\n",
		"GET / HTTP/1.1\r\nX: \r\r\n\r\n",
		"\n",
	} {
		f.Add([]byte(s), uint8(3))
	}
	f.Fuzz(func(t *testing.T, in []byte, step uint8) {
		if len(in) > FastRoom {
			return
		}
		var h Head
		readErr := h.ReadHead(bufio.NewReader(bytes.NewReader(in)))
		// Feed the scan in pieces of step bytes (1 to 256).
		var s HeadScan
		n := int(step) + 1
		skip, end, ok := 0, 0, false
		for got := min(n, len(in)); ; got = min(got+n, len(in)) {
			if skip, end, ok = s.Next(in[:got]); ok || got == len(in) {
				break
			}
		}
		switch {
		case ok && readErr != nil:
			t.Fatalf("scan found head %q, readHead failed (%v): %q", in[skip:end], readErr, in)
		case !ok && readErr == nil:
			t.Fatalf("readHead found head %q, the scan did not: %q", h.Buf, in)
		case ok && !bytes.Equal(in[skip:end], h.Buf):
			t.Fatalf("scan found head %q, readHead %q: %q", in[skip:end], h.Buf, in)
		}
	})
}
