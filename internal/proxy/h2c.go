package proxy

import (
	"bytes"
	"net"
	"time"

	"lbd/internal/octavia"
)

// h2c: HTTP/2 with prior knowledge on a plain HTTP listener. Its
// connection preface starts like a request ("PRI * HTTP/2.0", then an
// empty line), which the HTTP/1.1 path reads as one and hands over here;
// the connection is then an HTTP/2 one, served as TERMINATED_HTTPS's are
// (h2serve.go), without TLS.

// h2Preface is the first part of HTTP/2's connection preface, the part
// that reads as a request head.
var h2Preface = []byte("PRI * HTTP/2.0\r\n\r\n")

// h2cPreface serves the connection as HTTP/2 when the head just read is
// HTTP/2's connection preface, and reports whether it did.
func (hc *httpConn) h2cPreface() bool {
	rt, ok := hc.l.eng.(*Runtime)
	cfg := hc.l.cfg.Load()
	if !ok || !bytes.Equal(hc.req.Buf, h2Preface) || cfg.protocol != octavia.ProtocolHTTP {
		return false
	}
	pending := append([]byte(nil), h2Preface...)
	if n := hc.br.Buffered(); n > 0 {
		b, _ := hc.br.Peek(n)
		pending = append(pending, b...)
	}
	c := hc.client.Conn
	c.SetDeadline(time.Time{})
	cc := &corkConn{Conn: &replayConn{Conn: c, pending: pending}}
	cc.cork(cfg.clientTimeout)
	rt.serveH2Conn(hc.l, cc, cfg, peer{remote: hc.remote, local: hc.local}, hc.st, true)
	return true
}

// replayConn reads bytes read elsewhere before its connection's.
type replayConn struct {
	net.Conn
	pending []byte
}

func (c *replayConn) Read(p []byte) (int, error) {
	if len(c.pending) > 0 {
		n := copy(p, c.pending)
		c.pending = c.pending[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}
