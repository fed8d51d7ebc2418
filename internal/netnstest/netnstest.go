// Package netnstest builds small networks for tests out of Linux network
// namespaces, bridges and veth pairs (with the ip command), and lets the
// test process open sockets inside them. Everything it creates is named
// after the test process and removed when the test ends, and what a
// killed test process left is removed by the next one.
//
// Tests that need it skip, saying why, where the kernel refuses
// namespaces (not root, no CAP_SYS_ADMIN, no ip command).
//
// Only tests import it. It must not import any other lbd package: it
// knows networks, not load balancers.
package netnstest

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Lab is a set of namespaces a test made.
type Lab struct {
	t      testing.TB
	prefix string
	mu     sync.Mutex
	nss    []*NS
	veths  int
}

// NS is a network namespace of a Lab.
type NS struct {
	// Name is the namespace's name (ip netns).
	Name string
	lab  *Lab
}

var labs atomic.Int64

// nameRE matches the namespaces this package makes: lbdt<pid>x<n>-<name>.
var nameRE = regexp.MustCompile(`^lbdt(\d+)x\d+-`)

// New makes a Lab, or skips the test when namespaces cannot be made here.
func New(t testing.TB) *Lab {
	t.Helper()
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("network namespace tests need the ip command (iproute2)")
	}
	if os.Geteuid() != 0 {
		t.Skip("network namespace tests need root (CAP_SYS_ADMIN and CAP_NET_ADMIN); CI runs them as root")
	}
	sweep()
	l := &Lab{t: t, prefix: fmt.Sprintf("lbdt%dx%d", os.Getpid(), labs.Add(1))}
	probe := l.prefix + "-probe"
	if out, err := exec.Command("ip", "netns", "add", probe).CombinedOutput(); err != nil {
		t.Skipf("the kernel refuses network namespaces here (ip netns add: %v: %s)", err, strings.TrimSpace(string(out)))
	}
	exec.Command("ip", "netns", "del", probe).Run()
	t.Cleanup(l.cleanup)
	return l
}

// sweep removes the namespaces of test processes that are gone.
func sweep() {
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		return
	}
	for line := range strings.SplitSeq(string(out), "\n") {
		name, _, _ := strings.Cut(strings.TrimSpace(line), " ")
		m := nameRE.FindStringSubmatch(name)
		if m == nil {
			continue
		}
		pid, _ := strconv.Atoi(m[1])
		if pid == os.Getpid() || syscall.Kill(pid, 0) == nil {
			continue
		}
		killAll(name)
		exec.Command("ip", "netns", "del", name).Run()
	}
}

// killAll kills what runs in namespace name.
func killAll(name string) {
	out, _ := exec.Command("ip", "netns", "pids", name).Output()
	for f := range strings.FieldsSeq(string(out)) {
		if pid, err := strconv.Atoi(f); err == nil && pid != os.Getpid() {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

func (l *Lab) cleanup() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := len(l.nss) - 1; i >= 0; i-- {
		killAll(l.nss[i].Name)
	}
	for i := len(l.nss) - 1; i >= 0; i-- {
		if out, err := exec.Command("ip", "netns", "del", l.nss[i].Name).CombinedOutput(); err != nil {
			l.t.Logf("ip netns del %s: %v: %s", l.nss[i].Name, err, out)
		}
	}
	l.nss = nil
}

// run runs a command, failing the test with its output.
func (l *Lab) run(args ...string) {
	l.t.Helper()
	if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
		l.t.Fatalf("%s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// NS makes a namespace with lo up.
func (l *Lab) NS(name string) *NS {
	l.t.Helper()
	ns := &NS{Name: l.prefix + "-" + name, lab: l}
	l.run("ip", "netns", "add", ns.Name)
	l.mu.Lock()
	l.nss = append(l.nss, ns)
	l.mu.Unlock()
	l.run("ip", "-n", ns.Name, "link", "set", "lo", "up")
	return ns
}

// Bridge makes a bridge named name in ns, up.
func (l *Lab) Bridge(ns *NS, name string) {
	l.t.Helper()
	l.run("ip", "-n", ns.Name, "link", "add", name, "type", "bridge")
	l.run("ip", "-n", ns.Name, "link", "set", name, "up")
}

// Plug connects ns to bridge (in hub) with a veth pair: ifname in ns, up,
// with address cidr (none if empty).
func (l *Lab) Plug(ns *NS, ifname, cidr string, hub *NS, bridge string) {
	l.t.Helper()
	l.mu.Lock()
	l.veths++
	peer := fmt.Sprintf("v%d", l.veths)
	l.mu.Unlock()
	l.run("ip", "-n", hub.Name, "link", "add", peer, "type", "veth", "peer", "name", ifname, "netns", ns.Name)
	l.run("ip", "-n", hub.Name, "link", "set", peer, "master", bridge)
	l.run("ip", "-n", hub.Name, "link", "set", peer, "up")
	if cidr != "" {
		l.run("ip", "-n", ns.Name, "addr", "add", cidr, "dev", ifname)
	}
	l.run("ip", "-n", ns.Name, "link", "set", ifname, "up")
}

// Run runs a command in ns and returns its combined output.
func (n *NS) Run(args ...string) ([]byte, error) {
	return n.Command(args[0], args[1:]...).CombinedOutput()
}

// MustRun runs a command in ns, failing the test if it fails.
func (n *NS) MustRun(args ...string) {
	n.lab.t.Helper()
	if out, err := n.Run(args...); err != nil {
		n.lab.t.Fatalf("in %s: %s: %v: %s", n.Name, strings.Join(args, " "), err, out)
	}
}

// Command is a command that runs in ns (ip netns exec).
func (n *NS) Command(name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", n.Name, name}, args...)...)
}

// Do runs fn on an OS thread of its own inside ns: sockets fn opens belong
// to ns and stay there once made. The thread is discarded afterwards.
func (n *NS) Do(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
		f, err := os.Open("/var/run/netns/" + n.Name)
		if err != nil {
			errc <- err
			return
		}
		err = unix.Setns(int(f.Fd()), unix.CLONE_NEWNET)
		f.Close()
		if err != nil {
			errc <- fmt.Errorf("setns %s: %w", n.Name, err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// DialContext dials from inside ns.
func (n *NS) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	var c net.Conn
	err := n.Do(func() error {
		var err error
		c, err = (&net.Dialer{}).DialContext(ctx, network, addr)
		return err
	})
	return c, err
}

// Listen listens inside ns.
func (n *NS) Listen(network, addr string) (net.Listener, error) {
	var ln net.Listener
	err := n.Do(func() error {
		var err error
		ln, err = net.Listen(network, addr)
		return err
	})
	return ln, err
}

// HTTPClient is a client whose connections start inside ns. keepAlive
// false opens a connection per request.
func (n *NS) HTTPClient(timeout time.Duration, keepAlive bool) *http.Client {
	return &http.Client{Timeout: timeout, Transport: &http.Transport{
		DialContext:       n.DialContext,
		DisableKeepAlives: !keepAlive,
		Proxy:             nil,
	}}
}

// Start starts cmd so that it dies with the test process (SIGKILL from the
// kernel, PR_SET_PDEATHSIG) and returns a channel closed once it exited
// and was reaped. The parent-death signal fires when the thread that
// started the child ends, and Go ends threads (those of goroutines that
// locked one); so cmd starts from a locked thread of its own, which lives
// until cmd exits.
func Start(cmd *exec.Cmd) (exited <-chan struct{}, err error) {
	done := make(chan struct{})
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends after cmd
		if cmd.SysProcAttr == nil {
			cmd.SysProcAttr = &syscall.SysProcAttr{}
		}
		cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
		if err := cmd.Start(); err != nil {
			errc <- err
			return
		}
		errc <- nil
		cmd.Wait()
		close(done)
	}()
	return done, <-errc
}

// WaitFor polls cond every 10 ms until it holds or timeout passes.
func WaitFor(t testing.TB, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
