package health

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// seen is what a test HTTP server saw of the last request.
type seen struct {
	mu                       sync.Mutex
	method, uri, host, proto string
	connection, ua           string
}

// statusServer answers with the status code given by the path's last
// element ("/status/503"), or 200, and records the request.
func statusServer(t *testing.T, tls bool) (*httptest.Server, *seen) {
	t.Helper()
	s := &seen{}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.method, s.uri, s.host, s.proto = r.Method, r.RequestURI, r.Host, r.Proto
		s.connection, s.ua = r.Header.Get("Connection"), r.UserAgent()
		s.mu.Unlock()
		code := 200
		if i := strings.LastIndexByte(r.URL.Path, '/'); i >= 0 {
			if c, err := strconv.Atoi(r.URL.Path[i+1:]); err == nil {
				code = c
			}
		}
		w.WriteHeader(code)
		w.Write([]byte("hello from the member\n"))
	})
	var srv *httptest.Server
	if tls {
		srv = httptest.NewTLSServer(h)
	} else {
		srv = httptest.NewServer(h)
	}
	t.Cleanup(srv.Close)
	return srv, s
}

func addrOf(t *testing.T, srv *httptest.Server) netip.AddrPort {
	t.Helper()
	return netip.MustParseAddrPort(srv.Listener.Addr().String())
}

// codes is the set of the ranges given as lo, hi pairs.
func codes(bounds ...int) Codes {
	var set Codes
	for i := 0; i+1 < len(bounds); i += 2 {
		set.Add(bounds[i], bounds[i+1])
	}
	return set
}

func checkCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestHTTPCheckerExpectedCodes(t *testing.T) {
	srv, _ := statusServer(t, false)
	addr := addrOf(t, srv)
	tests := []struct {
		expect        Codes
		path, wantErr string
	}{
		{codes(200, 200), "/", ""},
		{codes(200, 200), "/status/503", "status 503 not in 200"},
		{codes(200, 200, 202, 202), "/status/202", ""},
		{codes(200, 200, 202, 202), "/status/201", "status 201 not in 200,202"},
		{codes(200, 204), "/status/204", ""},
		{codes(200, 204), "/status/200", ""},
		{codes(200, 204), "/status/205", "status 205 not in 200-204"},
		{codes(200, 204), "/status/503", "status 503 not in 200-204"},
		{codes(301, 302), "/status/302", ""},
		{codes(404, 404), "/status/404", ""},
	}
	for _, tt := range tests {
		t.Run(tt.expect.String()+" "+tt.path, func(t *testing.T) {
			c := &HTTPChecker{Path: tt.path, Expect: tt.expect}
			err := c.Check(checkCtx(t), addr)
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || err.Error() != tt.wantErr) {
				t.Fatalf("Check = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

func TestHTTPCheckerRequest(t *testing.T) {
	srv, s := statusServer(t, false)
	addr := addrOf(t, srv)
	tests := []struct {
		name                         string
		c                            HTTPChecker
		method, uri, proto, host, cn string
	}{
		{
			name:   "defaults: GET / HTTP/1.0 without Host",
			method: "GET", uri: "/", proto: "HTTP/1.0", host: "",
		},
		{
			name:   "HEAD with a path and query",
			c:      HTTPChecker{Method: "HEAD", Path: "/healthz?deep=1"},
			method: "HEAD", uri: "/healthz?deep=1", proto: "HTTP/1.0",
		},
		{
			name:   "POST",
			c:      HTTPChecker{Method: "POST", Path: "/check"},
			method: "POST", uri: "/check", proto: "HTTP/1.0",
		},
		{
			name:   "HTTP/1.1 with domain_name",
			c:      HTTPChecker{Version: "1.1", Host: "app.example.org"},
			method: "GET", uri: "/", proto: "HTTP/1.1", host: "app.example.org", cn: "close",
		},
		{
			name:   "HTTP/1.1 without domain_name sends the target as Host",
			c:      HTTPChecker{Version: "1.1", Path: "/x"},
			method: "GET", uri: "/x", proto: "HTTP/1.1", host: addr.String(), cn: "close",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.c
			c.Expect = codes(200, 200)
			if err := c.Check(checkCtx(t), addr); err != nil {
				t.Fatalf("Check: %v", err)
			}
			s.mu.Lock()
			defer s.mu.Unlock()
			if s.method != tt.method || s.uri != tt.uri || s.proto != tt.proto || s.host != tt.host || s.connection != tt.cn {
				t.Fatalf("server saw %s %s %s Host=%q Connection=%q, want %s %s %s Host=%q Connection=%q",
					s.method, s.uri, s.proto, s.host, s.connection, tt.method, tt.uri, tt.proto, tt.host, tt.cn)
			}
			if s.ua != "lbd-health-check" {
				t.Errorf("User-Agent %q", s.ua)
			}
		})
	}
}

func TestHTTPSChecker(t *testing.T) {
	srv, s := statusServer(t, true) // self-signed certificate
	addr := addrOf(t, srv)
	c := &HTTPChecker{TLS: true, Version: "1.1", Host: "example.com", Path: "/status/204", Expect: codes(200, 204)}
	if err := c.Check(checkCtx(t), addr); err != nil {
		t.Fatalf("HTTPS check against a self-signed server: %v", err)
	}
	if s.proto != "HTTP/1.1" || s.host != "example.com" || s.uri != "/status/204" {
		t.Fatalf("server saw %s %s Host=%q", s.proto, s.uri, s.host)
	}
	c.Path = "/status/500"
	if err := c.Check(checkCtx(t), addr); err == nil || err.Error() != "status 500 not in 200-204" {
		t.Fatalf("HTTPS 500: %v", err)
	}
	// Plain HTTP against the TLS port: Go's server answers 400.
	plain := &HTTPChecker{Expect: codes(200, 200)}
	if err := plain.Check(checkCtx(t), addr); err == nil || err.Error() != "status 400 not in 200" {
		t.Fatalf("HTTP against HTTPS: %v", err)
	}
	// HTTPS against a plain HTTP server: the handshake fails.
	hs, _ := statusServer(t, false)
	if err := c.Check(checkCtx(t), addrOf(t, hs)); err == nil || !strings.HasPrefix(err.Error(), "tls handshake") {
		t.Fatalf("HTTPS against HTTP: %v", err)
	}
}

// rawServer accepts connections and hands each to serve.
func rawServer(t *testing.T, serve func(net.Conn)) netip.AddrPort {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { defer c.Close(); serve(c) })
		}
	})
	return netip.MustParseAddrPort(ln.Addr().String())
}

// closedPort returns a loopback port nothing listens on.
func closedPort(t *testing.T) netip.AddrPort {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := netip.MustParseAddrPort(ln.Addr().String())
	ln.Close()
	return addr
}

func TestHTTPCheckerFailures(t *testing.T) {
	silent := rawServer(t, func(c net.Conn) {
		// Read the request, never answer; hold until the client gives up.
		buf := make([]byte, 1024)
		for {
			if _, err := c.Read(buf); err != nil {
				return
			}
		}
	})
	hangup := rawServer(t, func(c net.Conn) {
		buf := make([]byte, 1024)
		c.Read(buf)
	})
	garbage := rawServer(t, func(c net.Conn) {
		buf := make([]byte, 1024)
		c.Read(buf)
		c.Write([]byte("SSH-2.0-OpenSSH_9.6\r\n"))
	})
	bigBody := rawServer(t, func(c net.Conn) {
		buf := make([]byte, 1024)
		c.Read(buf)
		c.Write([]byte("HTTP/1.0 200 OK\r\nContent-Length: 104857600\r\n\r\n"))
		chunk := make([]byte, 64<<10)
		for range 1600 { // 100 MiB, if anyone read it all
			if _, err := c.Write(chunk); err != nil {
				return
			}
		}
	})
	tests := []struct {
		name    string
		target  netip.AddrPort
		wantErr string
	}{
		{"refused", closedPort(t), "connect refused"},
		{"no response within the timeout", silent, "response timeout"},
		{"closed without a response", hangup, "connection closed before a response"},
		{"not HTTP", garbage, "malformed response: malformed HTTP response \"SSH-2.0-OpenSSH_9.6\""},
		{"large body is not read in full", bigBody, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &HTTPChecker{Timeouts: Timeouts{Connect: time.Second, Response: 300 * time.Millisecond}, Expect: codes(200, 200)}
			start := time.Now()
			err := c.Check(checkCtx(t), tt.target)
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || err.Error() != tt.wantErr) {
				t.Fatalf("Check = %v, want %q", err, tt.wantErr)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Fatalf("check took %s", d)
			}
		})
	}
}

func TestCheckerHonoursContext(t *testing.T) {
	silent := rawServer(t, func(c net.Conn) {
		buf := make([]byte, 1024)
		for {
			if _, err := c.Read(buf); err != nil {
				return
			}
		}
	})
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	c := &HTTPChecker{Expect: codes(200, 200)} // no phase timeouts: ctx alone bounds it
	start := time.Now()
	err := c.Check(ctx, silent)
	if err == nil || err.Error() != "response timeout" {
		t.Fatalf("Check = %v, want response timeout", err)
	}
	if d := time.Since(start); d < 150*time.Millisecond || d > time.Second {
		t.Fatalf("check took %s, want about the ctx's 200ms", d)
	}
}
