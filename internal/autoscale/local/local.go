// Package local is the autoscaler's provider for one machine: its servers
// are `lbctl backend` processes on free loopback ports, so that the whole
// loop (lbd, Prometheus, the controller) runs without a cloud
// (`lbctl autoscale --provider local`, `make demo-autoscale`).
//
// Like Nova, it keeps no list of its own: each backend carries the group's
// name in its arguments (--autoscale-group), and Servers finds them in
// /proc. The backends run in sessions of their own, so a controller that
// dies (or is stopped) leaves them serving, and the next one finds them.
//
// It must not import the data plane, the control plane, lbd's metrics, nor
// gophercloud or internal/octavia/cloud: it starts processes, nothing more.
package local

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"lbd/internal/autoscale"
)

// GroupFlag is the backend flag that names the group a backend belongs to.
const GroupFlag = "--autoscale-group"

// Provider starts and stops `lbctl backend` processes.
type Provider struct {
	// Exe is the lbctl binary; "" is this process's own executable.
	Exe   string
	Group string
	// Host is the loopback address the backends listen on (default
	// 127.0.0.1).
	Host string
	// Args are more flags for every backend (--latency 20ms, ...).
	Args []string
	// LogDir receives each backend's output (name.log); "" discards it.
	LogDir string

	mu       sync.Mutex
	children map[int]*exec.Cmd // started by this process, reaped when they exit
}

var _ autoscale.Provider = (*Provider)(nil)

func (p *Provider) host() string {
	if p.Host != "" {
		return p.Host
	}
	return "127.0.0.1"
}

// Memberships returns ms as this provider's servers need them: a backend
// lists as ACTIVE only once it accepts connections (Servers and Create
// dial it), so its members need no warm-up for a health check's verdict
// (autoscale.Membership.Warmup 0): they join at their weight. With one,
// make demo-autoscale's first new member was ONLINE after 4.5 s instead
// of 1.5, and the group settled after 29.5 s instead of 9.5.
func (p *Provider) Memberships(ms []autoscale.Membership) []autoscale.Membership {
	out := slices.Clone(ms)
	for i := range out {
		out[i].Warmup = 0
	}
	return out
}

// Servers lists the group's backends: processes running `backend` with
// the group's flag. One that does not accept connections yet is BUILD.
func (p *Provider) Servers(ctx context.Context) ([]autoscale.Server, error) {
	procs, err := p.scan()
	if err != nil {
		return nil, err
	}
	out := make([]autoscale.Server, 0, len(procs))
	for _, pr := range procs {
		s := autoscale.Server{ID: strconv.Itoa(pr.pid), Name: pr.name, Address: pr.host, Port: pr.port, Status: autoscale.StatusBuild, Created: pr.started}
		d := net.Dialer{Timeout: 300 * time.Millisecond}
		if c, err := d.DialContext(ctx, "tcp", net.JoinHostPort(pr.host, strconv.Itoa(pr.port))); err == nil {
			c.Close()
			s.Status = autoscale.StatusActive
		}
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b autoscale.Server) int { return a.Created.Compare(b.Created) })
	return out, nil
}

// proc is a backend process found in /proc.
type proc struct {
	pid        int
	name, host string
	port       int
	started    time.Time
}

// scan reads /proc for the group's backends. Zombies (exited, not yet
// reaped) are gone.
func (p *Provider) scan() ([]proc, error) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil, fmt.Errorf("list processes: %w", err)
	}
	boot, err := bootTime()
	if err != nil {
		return nil, err
	}
	var out []proc
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		pr, ok := p.read(pid, boot)
		if ok {
			out = append(out, pr)
		}
	}
	return out, nil
}

// read reads one process; ok is false when it is not one of the group's
// backends (or no longer runs).
func (p *Provider) read(pid int, boot time.Time) (proc, bool) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || len(raw) == 0 {
		return proc{}, false
	}
	args := strings.Split(strings.TrimSuffix(string(raw), "\x00"), "\x00")
	if len(args) < 2 || args[1] != "backend" || flagValue(args, GroupFlag) != p.Group {
		return proc{}, false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return proc{}, false
	}
	// The fields after the command's name in parentheses: state is the
	// first, starttime the 20th.
	i := bytes.LastIndexByte(stat, ')')
	fields := strings.Fields(string(stat[i+1:]))
	if len(fields) < 20 || fields[0] == "Z" || fields[0] == "X" {
		return proc{}, false
	}
	ticks, _ := strconv.ParseInt(fields[19], 10, 64)
	host, port, err := net.SplitHostPort(flagValue(args, "--listen"))
	if err != nil {
		return proc{}, false
	}
	n, err := strconv.Atoi(port)
	if err != nil {
		return proc{}, false
	}
	return proc{pid: pid, name: flagValue(args, "--name"), host: host, port: n, started: boot.Add(time.Duration(ticks) * time.Second / clockTicks)}, true
}

// clockTicks is USER_HZ, 100 on every Linux Go runs on.
const clockTicks = 100

func bootTime() (time.Time, error) {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return time.Time{}, fmt.Errorf("boot time: %w", err)
	}
	for line := range strings.Lines(string(data)) {
		if v, ok := strings.CutPrefix(line, "btime "); ok {
			sec, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				return time.Time{}, fmt.Errorf("boot time: %w", err)
			}
			return time.Unix(sec, 0), nil
		}
	}
	return time.Time{}, errors.New("boot time: no btime in /proc/stat")
}

// flagValue finds "--name value" or "--name=value" among args.
func flagValue(args []string, name string) string {
	short := "-" + strings.TrimPrefix(name, "--")
	for i, a := range args {
		for _, n := range []string{name, short} {
			if a == n && i+1 < len(args) {
				return args[i+1]
			}
			if v, ok := strings.CutPrefix(a, n+"="); ok {
				return v
			}
		}
	}
	return ""
}

// Create starts a backend named name on a free port and returns once it
// accepts connections.
func (p *Provider) Create(ctx context.Context, name string) (autoscale.Server, error) {
	exe := p.Exe
	if exe == "" {
		var err error
		if exe, err = os.Executable(); err != nil {
			return autoscale.Server{}, fmt.Errorf("start backend %s: %w", name, err)
		}
	}
	var lastErr error
	for range 3 { // a free port may be taken between finding and binding it
		port, err := freePort(p.host())
		if err != nil {
			return autoscale.Server{}, fmt.Errorf("start backend %s: %w", name, err)
		}
		s, err := p.start(ctx, exe, name, port)
		if err == nil {
			return s, nil
		}
		lastErr = err
		if ctx.Err() != nil {
			break
		}
	}
	return autoscale.Server{}, lastErr
}

func (p *Provider) start(ctx context.Context, exe, name string, port int) (autoscale.Server, error) {
	addr := net.JoinHostPort(p.host(), strconv.Itoa(port))
	args := append([]string{"backend", "--listen", addr, "--name", name, GroupFlag, p.Group}, p.Args...)
	cmd := exec.Command(exe, args...)
	// A session of its own: the backend outlives the controller (and a
	// Ctrl-C meant for it), as a server outlives whoever created it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	out, err := p.logFile(name)
	if err != nil {
		return autoscale.Server{}, err
	}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		out.Close()
		return autoscale.Server{}, fmt.Errorf("start backend %s: %w", name, err)
	}
	out.Close()
	exited := make(chan struct{})
	p.mu.Lock()
	if p.children == nil {
		p.children = map[int]*exec.Cmd{}
	}
	p.children[cmd.Process.Pid] = cmd
	p.mu.Unlock()
	go func() {
		cmd.Wait()
		p.mu.Lock()
		delete(p.children, cmd.Process.Pid)
		p.mu.Unlock()
		close(exited)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return autoscale.Server{ID: strconv.Itoa(cmd.Process.Pid), Name: name, Address: p.host(), Port: port,
				Status: autoscale.StatusActive, Created: time.Now()}, nil
		}
		select {
		case <-exited:
			return autoscale.Server{}, fmt.Errorf("start backend %s on %s: it exited: %s%s", name, addr, cmd.ProcessState, p.logTail(name))
		case <-ctx.Done():
			cmd.Process.Kill()
			return autoscale.Server{}, fmt.Errorf("start backend %s: %w", name, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			return autoscale.Server{}, fmt.Errorf("start backend %s: not listening on %s after 10s%s", name, addr, p.logTail(name))
		}
	}
}

func (p *Provider) logFile(name string) (*os.File, error) {
	if p.LogDir == "" {
		return os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	}
	if err := os.MkdirAll(p.LogDir, 0o755); err != nil {
		return nil, fmt.Errorf("backend logs: %w", err)
	}
	return os.OpenFile(filepath.Join(p.LogDir, name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
}

func (p *Provider) logTail(name string) string {
	if p.LogDir == "" {
		return ""
	}
	data, _ := os.ReadFile(filepath.Join(p.LogDir, name+".log"))
	if len(data) > 500 {
		data = data[len(data)-500:]
	}
	if len(data) == 0 {
		return ""
	}
	return ": " + strings.TrimSpace(string(data))
}

// Delete stops a backend: SIGTERM, then SIGKILL if it has not exited
// within 5 s. The process must still be the group's backend (its ID is
// its PID, which the system may have given to another).
func (p *Provider) Delete(ctx context.Context, s autoscale.Server) error {
	pid, err := strconv.Atoi(s.ID)
	if err != nil {
		return fmt.Errorf("stop backend %s: ID %q is not a PID", s.Name, s.ID)
	}
	boot, err := bootTime()
	if err != nil {
		return err
	}
	alive := func() bool {
		pr, ok := p.read(pid, boot)
		return ok && pr.name == s.Name
	}
	if !alive() {
		return nil
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("stop backend %s (pid %d): %w", s.Name, pid, err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for alive() {
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL)
			deadline = time.Now().Add(5 * time.Second)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("stop backend %s (pid %d): %w", s.Name, pid, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil
}

// Close stops every backend of the group (the demo's end; a controller
// that stops leaves them, as a cloud's servers stay).
func (p *Provider) Close(ctx context.Context) error {
	servers, err := p.Servers(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, s := range servers {
		errs = append(errs, p.Delete(ctx, s))
	}
	return errors.Join(errs...)
}

func freePort(host string) (int, error) {
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
