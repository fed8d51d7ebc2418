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
	conns chan net.Conn
	srv   *http.Server
}

func (rt *Runtime) promServer() *promServer {
	rt.metricsOnce.Do(func() {
		h := rt.opts.Metrics
		if h == nil {
			h = http.NotFoundHandler()
		}
		mux := http.NewServeMux()
		mux.Handle("/metrics", h)
		ps := &promServer{
			conns: make(chan net.Conn),
			srv: &http.Server{
				Handler:           mux,
				ReadHeaderTimeout: 10 * time.Second,
				IdleTimeout:       60 * time.Second,
			},
		}
		go ps.srv.Serve(&chanListener{conns: ps.conns})
		rt.metrics = ps
	})
	return rt.metrics
}

// servePrometheus hands c to the metrics server and returns when the server
// has closed it.
func (rt *Runtime) servePrometheus(c *net.TCPConn) {
	nc := &notifyConn{TCPConn: c, closed: make(chan struct{})}
	rt.promServer().conns <- nc
	<-nc.closed
}

type notifyConn struct {
	*net.TCPConn
	once   sync.Once
	closed chan struct{}
}

func (c *notifyConn) Close() error {
	err := c.TCPConn.Close()
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
