package bench

import (
	"bufio"
	"errors"
	"strings"
	"testing"
)

func TestReadResponse(t *testing.T) {
	names := []string{"a", "b"}
	tests := []struct {
		name string
		in   string
		want response
		rest string // what must be left unread: the next response
		err  bool
	}{
		{"content-length", "HTTP/1.1 200 OK\r\nX-Backend: b\r\nContent-Length: 5\r\n\r\nhelloNEXT", response{200, 1, true}, "NEXT", false},
		{"chunked with trailer", "HTTP/1.1 500 Internal Server Error\r\nx-backend: a\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n0\r\nT: 1\r\n\r\nNEXT", response{500, 0, true}, "NEXT", false},
		{"connection close", "HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", response{503, -1, false}, "", false},
		{"read to end", "HTTP/1.1 200 OK\r\nX-Backend: c\r\n\r\nbody until close", response{200, -1, false}, "", false},
		{"http/1.0 keep-alive", "HTTP/1.0 204 No Content\r\nConnection: keep-alive\r\n\r\nNEXT", response{204, -1, true}, "NEXT", false},
		{"100 continue first", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", response{200, -1, true}, "", false},
		{"not http", "SSH-2.0-OpenSSH\r\n\r\n", response{}, "", true},
		{"bad length", "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", response{}, "", true},
		{"bad chunk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", response{}, "", true},
		{"truncated", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", response{}, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			br := bufio.NewReader(strings.NewReader(tt.in))
			got, err := readResponse(br, names)
			if tt.err {
				if err == nil {
					t.Fatalf("no error, got %+v", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
			rest, _ := br.ReadString(0)
			if rest != tt.rest {
				t.Errorf("left %q unread, want %q", rest, tt.rest)
			}
		})
	}
	_, err := readResponse(bufio.NewReader(strings.NewReader("HTTP/1.1 2x0 OK\r\n\r\n")), names)
	if !errors.Is(err, errMalformed) {
		t.Errorf("bad status: %v, want errMalformed", err)
	}
}

func TestReadResponseAllocates0(t *testing.T) {
	msg := "HTTP/1.1 200 OK\r\nX-Backend: b\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello"
	names := []string{"a", "b"}
	r := strings.NewReader(msg)
	br := bufio.NewReader(r)
	if n := testing.AllocsPerRun(1000, func() {
		r.Reset(msg)
		br.Reset(r)
		if _, err := readResponse(br, names); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Fatalf("readResponse allocates %v times", n)
	}
}

func TestClientAddr(t *testing.T) {
	for i, want := range map[int]string{0: "127.0.0.2", 1: "127.0.0.3", 253: "127.0.0.255", 254: "127.0.1.0", 65535: "127.1.0.1"} {
		if got := clientAddr(i).String(); got != want {
			t.Errorf("clientAddr(%d) = %s, want %s", i, got, want)
		}
	}
}
