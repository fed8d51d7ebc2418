package http1

import (
	"bufio"
	"bytes"
	"strings"
	"testing"
)

// TestForwardedSetReplacesClientFields checks that the fields the proxy
// sets (X-SSL-*, as HAProxy's set-header) replace any of the same name a
// client sent, whatever their case, so a client cannot forge them, and
// that X-Forwarded-Proto says https for a TLS client.
func TestForwardedSetReplacesClientFields(t *testing.T) {
	var req Head
	req.Buf = []byte("GET / HTTP/1.1\r\nHost: a\r\nx-ssl-client-verify: 0\r\nX-SSL-Client-CN: admin\r\nX-Forwarded-Proto: http\r\nX-Other: kept\r\n\r\n")
	if err := req.ParseRequest(); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	w := bufio.NewWriter(&out)
	WriteRequestHead(w, &req, &Forwarded{Proto: true, HTTPS: true, Set: []Field{
		{"X-SSL-Client-Verify", "0"}, {"X-SSL-Client-CN", "alice"},
	}}, false)
	w.Flush()
	got := out.String()
	for _, want := range []string{"X-Other: kept\r\n", "X-Forwarded-Proto: https\r\n", "X-SSL-Client-Verify: 0\r\n", "X-SSL-Client-CN: alice\r\n"} {
		if strings.Count(got, want) != 1 {
			t.Errorf("want %q once in\n%s", want, got)
		}
	}
	for _, gone := range []string{"admin", "x-ssl-client-verify", "Proto: http\r\n"} {
		if strings.Contains(got, gone) {
			t.Errorf("%q forwarded:\n%s", gone, got)
		}
	}
}
