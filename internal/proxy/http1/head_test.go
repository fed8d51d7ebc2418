package http1

import (
	"bufio"
	"bytes"
	"errors"
	"strings"
	"testing"
)

// TestAbsoluteFormTargetMustMatchHost: an absolute-form target names the
// authority its Host field must repeat (RFC 9112 §3.2.2); a request whose
// two disagree, or whose authority is empty, is refused as HAProxy refuses
// it. Origin-form targets and matching authorities (case and a default
// port aside) pass; targets of no form are refused.
func TestAbsoluteFormTargetMustMatchHost(t *testing.T) {
	tests := []struct {
		head string
		ok   bool
	}{
		{"GET /x HTTP/1.1\r\nHost: a.example\r\n\r\n", true},
		{"GET http://a.example/x HTTP/1.1\r\nHost: a.example\r\n\r\n", true},
		{"GET HTTP://A.Example/x?q HTTP/1.1\r\nHost: a.example\r\n\r\n", true},
		{"GET https://a.example:8443 HTTP/1.1\r\nHost: a.example:8443\r\n\r\n", true},
		{"GET http://a.example/x HTTP/1.0\r\n\r\n", true},
		{"OPTIONS * HTTP/1.1\r\nHost: a.example\r\n\r\n", true},
		{"GET http://a.example/x HTTP/1.1\r\nHost: b.example\r\n\r\n", false},
		{"GET http://a.example:8080/x HTTP/1.1\r\nHost: a.example\r\n\r\n", false},
		{"GET http://a.example?x HTTP/1.1\r\nHost: b.example\r\n\r\n", false},
		{"GET http:///x HTTP/1.1\r\nHost: a.example\r\n\r\n", false},
		{"GET http://user@a.example/x HTTP/1.1\r\nHost: a.example\r\n\r\n", false},
		{"GET http://a.example/x HTTP/1.0\r\nHost: b.example\r\n\r\n", false},
		{"GET http://a.example:80/x HTTP/1.1\r\nHost: a.example\r\n\r\n", true},
		{"GET https://a.example/x HTTP/1.1\r\nHost: a.example:443\r\n\r\n", true},
		{"GET https://a.example:80/x HTTP/1.1\r\nHost: a.example\r\n\r\n", false},
		{"GET http:/x HTTP/1.1\r\nHost: a.example\r\n\r\n", false},
		{"GET x HTTP/1.1\r\nHost: a.example\r\n\r\n", false},
		{"CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n", true},
	}
	for _, tt := range tests {
		var h Head
		if err := h.ReadHead(bufio.NewReader(strings.NewReader(tt.head))); err != nil {
			t.Fatal(err)
		}
		err := h.ParseRequest()
		if tt.ok && err != nil || !tt.ok && !errors.Is(err, ErrBadHead) {
			t.Errorf("%q: %v, want ok %v", tt.head, err, tt.ok)
		}
	}
}

// TestRepeatedContentLengthForwardedOnce: Content-Length fields repeating
// one value are one length (RFC 9110 §8.6) and reach the far side as one
// field, in requests and responses, as HAProxy merges them.
func TestRepeatedContentLengthForwardedOnce(t *testing.T) {
	req := head(t, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nX-A: 1\r\ncontent-length: 5\r\n\r\n", true)
	var out bytes.Buffer
	w := bufio.NewWriter(&out)
	WriteRequestHead(w, req, &Forwarded{}, false)
	w.Flush()
	if want := "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nX-A: 1\r\n\r\n"; out.String() != want {
		t.Errorf("request forwarded as %q, want %q", out.String(), want)
	}
	resp := head(t, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n", false)
	out.Reset()
	WriteResponseHead(w, req, resp, Decide(req, resp, Conditions{}), nil)
	w.Flush()
	if want := "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n"; out.String() != want {
		t.Errorf("response forwarded as %q, want %q", out.String(), want)
	}
}
