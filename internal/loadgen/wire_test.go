package loadgen

import (
	"bufio"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

func TestReadResponse(t *testing.T) {
	type want struct {
		status  int
		backend string
		keep    bool
	}
	tests := []struct {
		name string
		in   string
		want want
		rest string // what must be left unread: the next response
		err  bool
	}{
		{"content-length", "HTTP/1.1 200 OK\r\nX-Backend: b\r\nContent-Length: 5\r\n\r\nhelloNEXT", want{200, "b", true}, "NEXT", false},
		{"chunked with trailer", "HTTP/1.1 500 Internal Server Error\r\nx-backend: a\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n0\r\nT: 1\r\n\r\nNEXT", want{500, "a", true}, "NEXT", false},
		{"connection close", "HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", want{503, "", false}, "", false},
		{"read to end", "HTTP/1.1 200 OK\r\nX-Backend: c\r\n\r\nbody until close", want{200, "c", false}, "", false},
		{"http/1.0 keep-alive", "HTTP/1.0 204 No Content\r\nConnection: keep-alive\r\n\r\nNEXT", want{204, "", true}, "NEXT", false},
		{"100 continue first", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", want{200, "", true}, "", false},
		{"not http", "SSH-2.0-OpenSSH\r\n\r\n", want{}, "", true},
		{"bad length", "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", want{}, "", true},
		{"bad chunk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", want{}, "", true},
		{"truncated", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", want{}, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			br := bufio.NewReader(strings.NewReader(tt.in))
			r, err := readResponse(br, make([]byte, 0, 64))
			if tt.err {
				if err == nil {
					t.Fatalf("no error, got %+v", r)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := (want{r.status, string(r.backend), r.keep}); got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
			rest, _ := br.ReadString(0)
			if rest != tt.rest {
				t.Errorf("left %q unread, want %q", rest, tt.rest)
			}
		})
	}
	_, err := readResponse(bufio.NewReader(strings.NewReader("HTTP/1.1 2x0 OK\r\n\r\n")), nil)
	if !errors.Is(err, errMalformed) {
		t.Errorf("bad status: %v, want errMalformed", err)
	}
}

// TestReadResponseTruncatedAndCopied: a body cut short is an unexpected EOF
// that keeps the head's status, and the backend's name survives the reads
// that follow its header (the reader's buffer slides under them).
func TestReadResponseTruncatedAndCopied(t *testing.T) {
	r, err := readResponse(bufio.NewReader(strings.NewReader("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")), nil)
	if !errors.Is(err, io.ErrUnexpectedEOF) || r.status != 200 {
		t.Errorf("truncated body: status %d, %v; want 200 and io.ErrUnexpectedEOF", r.status, err)
	}
	msg := "HTTP/1.1 200 OK\r\nX-Backend: m1\r\nX-Pad: " + strings.Repeat("p", 40) + "\r\nContent-Length: 0\r\n\r\n"
	br := bufio.NewReaderSize(iotest.OneByteReader(strings.NewReader(msg)), 64)
	r, err = readResponse(br, make([]byte, 0, 64))
	if err != nil || string(r.backend) != "m1" {
		t.Errorf("backend %q, %v; want m1", r.backend, err)
	}
}

func TestReadResponseAllocates0(t *testing.T) {
	msg := "HTTP/1.1 200 OK\r\nX-Backend: b\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello"
	r := strings.NewReader(msg)
	br := bufio.NewReader(r)
	scratch := make([]byte, 0, 64)
	if n := testing.AllocsPerRun(1000, func() {
		r.Reset(msg)
		br.Reset(r)
		if _, err := readResponse(br, scratch); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Fatalf("readResponse allocates %v times", n)
	}
}

func TestClientAddr(t *testing.T) {
	for i, want := range map[int]string{0: "127.0.0.2", 1: "127.0.0.3", 253: "127.0.0.255", 254: "127.0.1.0", 65535: "127.1.0.1"} {
		if got := ClientAddr(i).String(); got != want {
			t.Errorf("ClientAddr(%d) = %s, want %s", i, got, want)
		}
	}
}
