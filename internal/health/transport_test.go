package health

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestTCPChecker(t *testing.T) {
	accepted := make(chan error, 1)
	open := rawServer(t, func(c net.Conn) {
		_, err := c.Read(make([]byte, 1))
		accepted <- err
	})
	c := &TCPChecker{Timeouts{Connect: time.Second}}
	if err := c.Check(checkCtx(t), open); err != nil {
		t.Fatalf("open port: %v", err)
	}
	select {
	case err := <-accepted:
		// The check closes with a reset, as HAProxy's do: no TIME_WAIT.
		if !errors.Is(err, syscall.ECONNRESET) {
			t.Errorf("the member read %v after the check, want a reset", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the listener never saw the connection")
	}
	if err := c.Check(checkCtx(t), closedPort(t)); err == nil || err.Error() != "connect refused" {
		t.Fatalf("closed port: %v, want connect refused", err)
	}

	// A listener whose queue is full drops the SYN: the connect is still
	// in progress when connect returns, and waits until its timeout, or
	// until the check is cancelled.
	full := fullListener(t)
	c = &TCPChecker{Timeouts{Connect: 100 * time.Millisecond}}
	if err := c.Check(checkCtx(t), full); err == nil || err.Error() != "connect timeout" {
		t.Fatalf("full listener: %v, want connect timeout", err)
	}
	ctx, cancel := context.WithCancel(checkCtx(t))
	cancel()
	if err := (&TCPChecker{Timeouts{Connect: time.Minute}}).Check(ctx, full); err == nil || err.Error() != "check cancelled" {
		t.Fatalf("cancelled check: %v, want check cancelled", err)
	}
}

// fullListener is a loopback listener with a backlog of 0 that never
// accepts, with one connection already queued: it drops the next SYN.
func fullListener(t *testing.T) netip.AddrPort {
	t.Helper()
	_, addr := listenSocket(t, 0, 0)
	queued, err := net.Dial("tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { queued.Close() })
	return addr
}

// listenSocket is a socket listening on loopback with the backlog and
// socket flags given, closed when the test ends.
func listenSocket(t *testing.T, backlog, flags int) (int, netip.AddrPort) {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC|flags, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, backlog); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	in := sa.(*syscall.SockaddrInet4)
	return fd, netip.AddrPortFrom(netip.AddrFrom4(in.Addr), uint16(in.Port))
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
