package proxy

import (
	"net"
	"net/http"
	"sync"
	"time"
)

// promServer serves PROMETHEUS listeners: their accepted connections are
// handed to one net/http server that answers /metrics. Scrapes are rare, so
// the standard server's cost does not matter here.
type promServer struct {
	once  sync.Once
	conns chan net.Conn
	srv   *http.Server
}

// serve hands c to the metrics server, which the first call starts with h
// (nil answers 404), and returns when the server has closed c.
func (ps *promServer) serve(c net.Conn, h http.Handler) {
	ps.once.Do(func() {
		if h == nil {
			h = http.NotFoundHandler()
		}
		mux := http.NewServeMux()
		mux.Handle("/metrics", h)
		ps.conns = make(chan net.Conn)
		ps.srv = &http.Server{
			Handler:           mux,
			ReadHeaderTimeout: 10 * time.Second,
			IdleTimeout:       60 * time.Second,
		}
		go ps.srv.Serve(&chanListener{conns: ps.conns})
	})
	nc := &notifyConn{Conn: c, closed: make(chan struct{})}
	ps.conns <- nc
	<-nc.closed
}

type notifyConn struct {
	net.Conn
	once   sync.Once
	closed chan struct{}
}

func (c *notifyConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { close(c.closed) })
	return err
}

// chanListener is a net.Listener fed by the listeners' accept loops.
type chanListener struct {
	conns chan net.Conn
}

func (l *chanListener) Accept() (net.Conn, error) { return <-l.conns, nil }
func (l *chanListener) Close() error              { return nil }
func (l *chanListener) Addr() net.Addr            { return &net.TCPAddr{} }
