// Package etcdtest runs a real etcd server (Debian's etcd-server, which
// make test installs) for tests: one member, its data in a temporary
// directory, on loopback or on an address of a network namespace the test
// made, or a cluster of several members on loopback. The test can stop,
// kill and restart each member.
//
// Only tests import it. It must not import any lbd package but etcdstore,
// which it checks the server with.
package etcdtest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"lbd/internal/statestore/etcdstore"
)

// Binary finds etcd; without it the test fails, naming the package, unless
// LBD_SKIP_ETCD=1 lets it skip.
func Binary(t testing.TB) string {
	t.Helper()
	path, err := exec.LookPath("etcd")
	if err != nil {
		if os.Getenv("LBD_SKIP_ETCD") == "1" {
			t.Skip("etcd not installed and LBD_SKIP_ETCD=1")
		}
		t.Fatal("etcd not found: install Debian's etcd-server package (make test does: scripts/ensure-deps.sh test)")
	}
	return path
}

// Options place the server.
type Options struct {
	// Host is the address it listens on; default 127.0.0.1 on free ports.
	// With another host, ports 2379 and 2380.
	Host string
	// Wrap prefixes the command (ip netns exec NS).
	Wrap []string
	// Args are more etcd flags (TLS, limits).
	Args []string
	// Client configures the readiness check and Config's TLS and
	// credentials; its endpoints and prefix are filled in.
	Client etcdstore.Config
}

// Server is a running etcd.
type Server struct {
	// Endpoint is the client address, host:port.
	Endpoint string
	Dir      string

	t       testing.TB
	opts    Options
	peer    string
	name    string // the member's name
	cluster string // --initial-cluster
	logf    *os.File
	mu      sync.Mutex
	cmd     *exec.Cmd
	exited  chan struct{}
}

// Start runs etcd until the test ends.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	bin := Binary(t)
	s := newServer(t, opts, "lbdtest")
	host := opts.Host
	if host == "" {
		host = "127.0.0.1"
		s.Endpoint = net.JoinHostPort(host, strconv.Itoa(freePort(t)))
		s.peer = net.JoinHostPort(host, strconv.Itoa(freePort(t)))
	} else {
		s.Endpoint = net.JoinHostPort(host, "2379")
		s.peer = net.JoinHostPort(host, "2380")
	}
	s.cluster = s.name + "=http://" + s.peer
	s.launch(bin)
	s.waitReady(s.exited)
	return s
}

// newServer prepares a member: its directory, its log, its end with the
// test.
func newServer(t testing.TB, opts Options, name string) *Server {
	t.Helper()
	s := &Server{t: t, opts: opts, Dir: t.TempDir(), name: name}
	logf, err := os.Create(filepath.Join(s.Dir, "etcd.log"))
	if err != nil {
		t.Fatal(err)
	}
	s.logf = logf
	t.Cleanup(func() {
		s.Kill()
		logf.Close()
		if t.Failed() {
			if data, err := os.ReadFile(logf.Name()); err == nil && len(data) > 0 {
				if len(data) > 3000 {
					data = data[len(data)-3000:]
				}
				t.Logf("etcd %s's log (end):\n%s", s.name, data)
			}
		}
	})
	return s
}

// Cluster is several etcd members on loopback, one cluster.
type Cluster struct {
	Members []*Server
}

// StartCluster runs an etcd cluster of n members on loopback until the
// test ends.
func StartCluster(t testing.TB, n int) *Cluster {
	t.Helper()
	bin := Binary(t)
	c := &Cluster{}
	var initial []string
	for i := range n {
		s := newServer(t, Options{}, fmt.Sprintf("m%d", i+1))
		s.Endpoint = net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t)))
		s.peer = net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t)))
		initial = append(initial, s.name+"=http://"+s.peer)
		c.Members = append(c.Members, s)
	}
	for _, s := range c.Members {
		s.cluster = strings.Join(initial, ",")
		s.launch(bin) // all first: a member answers once a quorum runs
	}
	for _, s := range c.Members {
		s.waitReady(s.exited)
	}
	return c
}

// Config is a client configuration for every member, under prefix.
func (c *Cluster) Config(prefix string) etcdstore.Config {
	cfg := c.Members[0].Config(prefix)
	cfg.Endpoints = nil
	for _, s := range c.Members {
		cfg.Endpoints = append(cfg.Endpoints, s.Endpoint)
	}
	return cfg
}

// Leader is the member that leads the cluster now (nil if none answers
// as the leader).
func (c *Cluster) Leader(ctx context.Context) *Server {
	for _, s := range c.Members {
		if s.running() {
			if s.isLeader(ctx) {
				return s
			}
		}
	}
	return nil
}

// isLeader asks the member whether it leads.
func (s *Server) isLeader(ctx context.Context) bool {
	c, err := clientv3.New(clientv3.Config{Endpoints: []string{s.Endpoint}, DialTimeout: time.Second, Logger: zap.NewNop()})
	if err != nil {
		return false
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	st, err := c.Status(ctx, s.Endpoint)
	return err == nil && st.Leader == st.Header.MemberId
}

func (s *Server) running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cmd != nil
}

// launch starts the etcd process.
func (s *Server) launch(bin string) {
	s.t.Helper()
	scheme := "http"
	if s.opts.Client.TLS || s.opts.Client.CACert != "" {
		scheme = "https"
	}
	args := append([]string{}, s.opts.Wrap...)
	args = append(args, bin,
		"--name", s.name,
		"--data-dir", filepath.Join(s.Dir, "data"),
		"--listen-client-urls", scheme+"://"+s.Endpoint,
		"--advertise-client-urls", scheme+"://"+s.Endpoint,
		"--listen-peer-urls", "http://"+s.peer,
		"--initial-advertise-peer-urls", "http://"+s.peer,
		"--initial-cluster", s.cluster,
		"--initial-cluster-state", "new",
		"--logger", "zap", "--log-outputs", "stderr",
	)
	args = append(args, s.opts.Args...)
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdout, cmd.Stderr = s.logf, s.logf
	// If the test process dies, etcd goes with it: SIGKILL when the
	// thread that started it ends, so it starts from a thread of its own
	// that lives until etcd exits (Go ends the threads of goroutines that
	// locked one, and any thread may have started etcd).
	exited := make(chan struct{})
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			errc <- err
			return
		}
		errc <- nil
		cmd.Wait()
		close(exited)
	}()
	if err := <-errc; err != nil {
		s.t.Fatalf("start etcd: %v", err)
	}
	s.mu.Lock()
	s.cmd, s.exited = cmd, exited
	s.mu.Unlock()
}

// Config is a client configuration for this server under prefix.
func (s *Server) Config(prefix string) etcdstore.Config {
	c := s.opts.Client
	c.Endpoints = []string{s.Endpoint}
	c.Prefix = prefix
	return c
}

// URL is lbd's --state value for this server under prefix.
func (s *Server) URL(prefix string) string { return s.Config(prefix).URL() }

func (s *Server) waitReady(exited chan struct{}) {
	s.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		cfg := s.Config("/ready")
		cfg.DialTimeout = time.Second
		c, err := etcdstore.Dial(context.Background(), cfg)
		if err == nil {
			c.Close()
			return
		}
		select {
		case <-exited:
			s.t.Fatalf("etcd exited at start; see its log in %s", s.logf.Name())
		default:
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("etcd not ready after 30 s: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop ends etcd with SIGTERM and waits for it.
func (s *Server) Stop() { s.signal(syscall.SIGTERM) }

// Kill ends etcd with SIGKILL and waits for it.
func (s *Server) Kill() { s.signal(syscall.SIGKILL) }

func (s *Server) signal(sig syscall.Signal) {
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Signal(sig)
	<-exited
}

// Restart starts etcd again on the same data and addresses, and waits
// until it answers.
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	s.launch(Binary(s.t))
	s.waitReady(s.exited)
}

func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// String is the server's client URL.
func (s *Server) String() string { return fmt.Sprintf("etcd at %s", s.Endpoint) }
