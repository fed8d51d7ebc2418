package proxy

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

const oneTCPPool = `
loadbalancers:
  - name: lb
    vip_address: 127.0.0.1
    listeners:
      - name: tcp
        protocol: TCP
        protocol_port: {{.Port}}
        {{- if .Extra}}
        {{.Extra}}
        {{- end}}
        default_pool:
          name: pool
          protocol: TCP
          lb_algorithm: {{.Algorithm}}
          members:
          {{- range .Backends}}
            - {address: 127.0.0.1, protocol_port: {{port .}}}
          {{- end}}
`

// echoServer answers each connection with everything it received, after the
// client half-closes, then closes. It counts the connections it accepted.
func echoServer(t *testing.T) (addr string, conns *atomic.Int64) {
	return rawMember(t, func(c net.Conn) {
		if data, err := io.ReadAll(c); err == nil { // until the client's FIN
			c.Write(data)
		}
	})
}

// TestTCPEchoWithHalfClose: the client sends, half-closes, and still gets
// the whole answer back; the proxy passes the FIN on and keeps the other
// direction open.
func TestTCPEchoWithHalfClose(t *testing.T) {
	echo, _ := echoServer(t)
	p := freePort(t)
	rt := startRuntime(t, config(t, oneTCPPool, poolData{Port: p, Algorithm: "ROUND_ROBIN", Backends: []string{echo}}))
	payload := make([]byte, 3<<20)
	rand.Read(payload)
	c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", p))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	go func() {
		c.Write(payload)
		c.(*net.TCPConn).CloseWrite()
	}()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	got, err := io.ReadAll(c)
	mustf(t, err == nil, "read: %v", err)
	mustf(t, bytes.Equal(got, payload), "echo: %d bytes back, want %d identical", len(got), len(payload))
	// Stats count both directions.
	var id string
	for _, l := range rt.cfg.Load().LoadBalancers[0].Listeners {
		id = l.ID
	}
	st, ok := rt.ListenerStats(id)
	mustf(t, ok && st.BytesIn == int64(len(payload)) && st.BytesOut == int64(len(payload)) && st.TotalConnections == 1,
		"stats = %+v, want %d bytes each way and 1 connection", st, len(payload))
	if !goroutinesOnly() {
		mustf(t, rt.EventLoopStats().Tunnels == 1, "event loops relayed %d TCP connections, want 1", rt.EventLoopStats().Tunnels)
	}
}

// TestTCPTunnelSmallThenBulkThenSmall: one connection carries small
// request/answer pairs, then megabytes each way, then small messages again
// (an event loop relays small messages through its buffers and splices
// bulk); every byte arrives in order and each small answer comes back
// before the next request is sent.
func TestTCPTunnelSmallThenBulkThenSmall(t *testing.T) {
	echo, _ := rawMember(t, func(c net.Conn) { io.Copy(c, c) })
	p := freePort(t)
	rt := startRuntime(t, config(t, oneTCPPool, poolData{Port: p, Algorithm: "ROUND_ROBIN", Backends: []string{echo}}))
	c := dialT(t, fmt.Sprintf("127.0.0.1:%d", p))
	c.SetDeadline(time.Now().Add(20 * time.Second))
	pingPong := func(round int) {
		for i := range 50 {
			msg := []byte(fmt.Sprintf("round %d message %d", round, i))
			if _, err := c.Write(msg); err != nil {
				t.Fatalf("write: %v", err)
			}
			got := make([]byte, len(msg))
			if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, msg) {
				t.Fatalf("round %d message %d: got %q, %v", round, i, got, err)
			}
		}
	}
	pingPong(1)
	bulk := make([]byte, 5<<20)
	rand.Read(bulk)
	errc := make(chan error, 1)
	go func() { _, err := c.Write(bulk); errc <- err }()
	got := make([]byte, len(bulk))
	_, err := io.ReadFull(c, got)
	mustf(t, err == nil && bytes.Equal(got, bulk), "bulk: %v, equal %v", err, bytes.Equal(got, bulk))
	mustf(t, <-errc == nil, "bulk write failed")
	pingPong(2)
	c.(*net.TCPConn).CloseWrite()
	rest, err := io.ReadAll(c)
	mustf(t, err == nil && len(rest) == 0, "after the half-close: %q, %v", rest, err)
	if !goroutinesOnly() {
		mustf(t, rt.EventLoopStats().Tunnels == 1, "event loops relayed %d TCP connections, want 1", rt.EventLoopStats().Tunnels)
	}
}

func TestTCPRoundRobinAndRefusedMember(t *testing.T) {
	echo1, n1 := echoServer(t)
	echo2, n2 := echoServer(t)
	dead := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	p := freePort(t)
	startRuntime(t, config(t, oneTCPPool, poolData{Port: p, Algorithm: "ROUND_ROBIN", Backends: []string{echo1, dead, echo2}}))
	for i := range 60 {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			t.Fatal(err)
		}
		msg := []byte(fmt.Sprintf("hello %d", i))
		c.Write(msg)
		c.(*net.TCPConn).CloseWrite()
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		got, err := io.ReadAll(c)
		c.Close()
		mustf(t, err == nil && bytes.Equal(got, msg), "connection %d: got %q, %v (a refusing member must not cause errors)", i, got, err)
	}
	a, b := n1.Load(), n2.Load()
	mustf(t, a+b == 60 && a >= 25 && b >= 25, "members got %d and %d connections of 60", a, b)
}

// TestTimeouts checks each of the listener's timeouts fires.
func TestTimeouts(t *testing.T) {
	t.Run("timeout_client_data closes an idle client", func(t *testing.T) {
		echo, _ := echoServer(t)
		addr := serveOne(t, oneTCPPool, echo, "timeout_client_data: 300\n        timeout_member_data: 300")
		c := dialT(t, addr)
		start := time.Now()
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err := c.Read(make([]byte, 1))
		took := time.Since(start)
		mustf(t, err != nil && !isTimeout(err), "idle connection was not closed by the proxy: %v", err)
		mustf(t, took >= 250*time.Millisecond && took < 2*time.Second, "closed after %v, want about 300ms", took)
	})
	t.Run("timeout_client_data does not cut an active stream", func(t *testing.T) {
		echo, _ := echoServer(t)
		addr := serveOne(t, oneTCPPool, echo, "timeout_client_data: 300\n        timeout_member_data: 300")
		c := dialT(t, addr)
		// Trickle for 1.5s, five times the timeout, a byte every 100ms.
		for i := range 15 {
			time.Sleep(100 * time.Millisecond) // the traffic pattern under test, not synchronisation
			if _, err := c.Write([]byte{byte('a' + i)}); err != nil {
				t.Fatalf("write %d: %v", i, err)
			}
		}
		c.(*net.TCPConn).CloseWrite()
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		got, err := io.ReadAll(c)
		mustf(t, err == nil && string(got) == "abcdefghijklmno", "trickling stream: got %q, %v", got, err)
	})
	t.Run("timeout_member_data gives 504", func(t *testing.T) {
		silent, _ := rawMember(t, func(c net.Conn) { io.Copy(io.Discard, c) }) // accepts, never answers
		addr := serveOne(t, oneHTTPPool, silent, "timeout_member_data: 300")
		start := time.Now()
		resp := rawRequest(t, addr, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		mustf(t, len(resp) > 12 && resp[:12] == "HTTP/1.1 504", "got %q", resp)
		mustf(t, time.Since(start) < 2*time.Second, "504 took %v", time.Since(start))
	})
	t.Run("timeout_member_connect gives up on a member that does not accept", func(t *testing.T) {
		stuck := unacceptingListener(t)
		addr := serveOne(t, oneHTTPPool, stuck, "timeout_member_connect: 200")
		start := time.Now()
		// Connection: close, so the answer ends the exchange and took is
		// the connect attempts, not rawRequest's wait for more.
		resp := rawRequest(t, addr, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		took := time.Since(start)
		mustf(t, len(resp) > 12 && resp[:12] == "HTTP/1.1 503", "got %q", resp)
		// Attempts of 200ms each, on the same member since it is the only
		// one: up to four (retries 3), three when passive health ejects the
		// member after its third failure and ends the retries.
		mustf(t, took >= 550*time.Millisecond && took < 1000*time.Millisecond, "connect timeouts took %v, want 3 or 4 × 200ms", took)
	})
	t.Run("timeout_client_data cuts a slow request head", func(t *testing.T) {
		echo, _ := echoServer(t)
		addr := serveOne(t, oneHTTPPool, echo, "timeout_client_data: 300")
		c := dialT(t, addr)
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n") // and never the end
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		got, _ := io.ReadAll(c)
		mustf(t, bytes.HasPrefix(got, []byte("HTTP/1.1 408")), "slow head: got %q, want 408", got)
	})
}

// serveOne runs a listener of the template with one member and the extra
// listener fields, and returns its address.
func serveOne(t *testing.T, tmpl, member, extra string) string {
	p := freePort(t)
	startRuntime(t, config(t, tmpl, poolData{Port: p, Algorithm: "ROUND_ROBIN", Backends: []string{member}, Extra: extra}))
	return fmt.Sprintf("127.0.0.1:%d", p)
}

// dialT connects to addr for the rest of the test.
func dialT(t *testing.T, addr string) net.Conn {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// unacceptingListener returns the address of a socket whose accept queue is
// full (backlog 0, one connection already waiting) and that never accepts:
// further connects on loopback hang until they time out.
func unacceptingListener(t *testing.T) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, _ := syscall.Getsockname(fd)
	addr := fmt.Sprintf("127.0.0.1:%d", sa.(*syscall.SockaddrInet4).Port)
	// Fill the queue.
	for range 2 {
		d := net.Dialer{Timeout: 200 * time.Millisecond}
		if c, err := d.Dial("tcp", addr); err == nil {
			t.Cleanup(func() { c.Close() })
		}
	}
	d := net.Dialer{Timeout: 100 * time.Millisecond}
	if c, err := d.Dial("tcp", addr); err == nil {
		c.Close()
		t.Skip("this kernel accepts connections beyond a full backlog; cannot test connect timeouts")
	}
	return addr
}
