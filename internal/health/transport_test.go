package health

import (
	"crypto/tls"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestTCPChecker(t *testing.T) {
	accepted := make(chan struct{}, 1)
	open := rawServer(t, func(net.Conn) { accepted <- struct{}{} })
	c := &TCPChecker{Timeouts{Connect: time.Second}}
	if err := c.Check(checkCtx(t), open); err != nil {
		t.Fatalf("open port: %v", err)
	}
	select {
	case <-accepted:
	case <-time.After(5 * time.Second):
		t.Fatal("the listener never saw the connection")
	}
	if err := c.Check(checkCtx(t), closedPort(t)); err == nil || err.Error() != "connect refused" {
		t.Fatalf("closed port: %v, want connect refused", err)
	}
}

// tlsListener is a TLS server with httptest's self-signed certificate that
// completes handshakes and then closes.
func tlsListener(t *testing.T) netip.AddrPort {
	srv := httptest.NewUnstartedServer(http.NotFoundHandler())
	srv.StartTLS()
	cert := srv.TLS.Certificates
	srv.Close()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: cert})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(5 * time.Second))
				c.(*tls.Conn).Handshake()
				c.Read(make([]byte, 1)) // until the client's close_notify
			}()
		}
	}()
	return netip.MustParseAddrPort(ln.Addr().String())
}

func TestTLSHelloChecker(t *testing.T) {
	mute := rawServer(t, func(c net.Conn) {
		// A plain TCP service that never speaks: the handshake never completes.
		buf := make([]byte, 1024)
		for {
			if _, err := c.Read(buf); err != nil {
				return
			}
		}
	})
	plainHTTP := rawServer(t, func(c net.Conn) {
		c.Read(make([]byte, 1024))
		c.Write([]byte("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"))
	})
	tests := []struct {
		name    string
		target  netip.AddrPort
		wantErr string // prefix
	}{
		{"TLS listener", tlsListener(t), ""},
		{"plain TCP that never answers", mute, "tls handshake timeout"},
		{"plain HTTP", plainHTTP, "tls handshake: "},
		{"closed port", closedPort(t), "connect refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &TLSHelloChecker{Timeouts: Timeouts{Connect: time.Second, Response: 300 * time.Millisecond}}
			err := c.Check(checkCtx(t), tt.target)
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.HasPrefix(err.Error(), tt.wantErr)) {
				t.Fatalf("Check = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

// udpServer listens on a loopback UDP port and reads (and, with echo,
// answers) every datagram; got receives each one's length.
func udpServer(t *testing.T, echo bool) (netip.AddrPort, chan int) {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	got := make(chan int, 16)
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			got <- n
			if echo {
				pc.WriteTo([]byte("pong"), from)
			}
		}
	}()
	return netip.MustParseAddrPort(pc.LocalAddr().String()), got
}

func closedUDPPort(t *testing.T) netip.AddrPort {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := netip.MustParseAddrPort(pc.LocalAddr().String())
	pc.Close()
	return addr
}

func TestUDPChecker(t *testing.T) {
	const wait = 300 * time.Millisecond
	c := &UDPChecker{Timeouts{Response: wait}}

	open, got := udpServer(t, false)
	start := time.Now()
	if err := c.Check(checkCtx(t), open); err != nil {
		t.Fatalf("open port: %v", err)
	}
	if d := time.Since(start); d < wait {
		t.Fatalf("silent open port passed after %s, before the %s timeout", d, wait)
	}
	select {
	case n := <-got:
		if n != 0 {
			t.Fatalf("probe datagram has %d bytes, want an empty one", n)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the server never received the probe")
	}

	echo, _ := udpServer(t, true)
	start = time.Now()
	if err := c.Check(checkCtx(t), echo); err != nil {
		t.Fatalf("answering port: %v", err)
	}
	if d := time.Since(start); d >= wait {
		t.Fatalf("an answer did not end the probe early (%s)", d)
	}

	start = time.Now()
	if err := c.Check(checkCtx(t), closedUDPPort(t)); err == nil || err.Error() != "port unreachable" {
		t.Fatalf("closed port: %v, want port unreachable", err)
	}
	if d := time.Since(start); d >= wait {
		t.Fatalf("port unreachable took %s to notice", d)
	}
}
