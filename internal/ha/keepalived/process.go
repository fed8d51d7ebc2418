package keepalived

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Process runs keepalived for lbd: one child process, started by the first
// Apply, reloaded (SIGHUP) when the configuration changes, started again
// if it dies, and stopped when Run's context ends. If lbd itself dies
// (kill -9), the kernel sends keepalived SIGTERM (PR_SET_PDEATHSIG), and a
// MASTER keepalived that stops gives its VIPs up at once with a priority 0
// advertisement: the BACKUP takes over within an advertisement, not after
// the master-down interval or the check script's fall count.
type Process struct {
	bin string
	dir string
	log *slog.Logger

	reqs    chan request
	stopped chan struct{} // closed when Run returns

	mu      sync.Mutex
	running bool
	pid     int
	lastErr error
	tail    []string // keepalived's last lines
	state   string   // the VRRP instance's state, as keepalived last said
}

type request struct {
	conf  []byte
	check bool // only check conf
	reply chan error
}

// Fix is what to do when keepalived is missing.
const Fix = "install Debian's keepalived package (apt-get install keepalived) or give its path with --keepalived"

// New finds keepalived (bin: a path, or a name looked up in PATH) and keeps
// its configuration and pid files under dir.
func New(bin, dir string, log *slog.Logger) (*Process, error) {
	path, err := exec.LookPath(bin)
	if err != nil {
		return nil, fmt.Errorf("keepalived not found (%s): %s", bin, Fix)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("keepalived's directory: %w", err)
	}
	return &Process{bin: path, dir: dir, log: log, reqs: make(chan request), stopped: make(chan struct{})}, nil
}

// ConfigPath is where the configuration is written.
func (p *Process) ConfigPath() string { return filepath.Join(p.dir, "keepalived.conf") }

// Check has keepalived check conf (keepalived --config-test), without
// running it: the interface it names must exist, the check script must be
// safe to run.
func (p *Process) Check(ctx context.Context, conf []byte) error {
	return p.do(ctx, request{conf: conf, check: true})
}

func (p *Process) check(ctx context.Context, conf []byte) error {
	f, err := os.CreateTemp(p.dir, "check-*.conf")
	if err != nil {
		return fmt.Errorf("keepalived configuration: %w", err)
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(conf); err != nil {
		f.Close()
		return fmt.Errorf("keepalived configuration: %w", err)
	}
	f.Close()
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(cctx, p.bin, "--config-test", "--use-file", f.Name()).CombinedOutput()
	if err != nil {
		return fmt.Errorf("keepalived refuses the configuration lbd wrote (%s --config-test: %v): %s", p.bin, err, oneLine(out))
	}
	return nil
}

// Apply makes keepalived run conf: it writes the file, then starts
// keepalived (and waits until its VRRP process runs) or has it reload.
// An error says why keepalived could not start, with its last words.
func (p *Process) Apply(ctx context.Context, conf []byte) error {
	return p.do(ctx, request{conf: conf})
}

// do has Run handle r: keepalived is run and checked from Run's thread, in
// Run's network namespace.
func (p *Process) do(ctx context.Context, r request) error {
	r.reply = make(chan error, 1)
	select {
	case p.reqs <- r:
	case <-ctx.Done():
		return ctx.Err()
	case <-p.stopped:
		return errors.New("keepalived: lbd is stopping")
	}
	select {
	case err := <-r.reply:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Running reports whether keepalived runs, and the last error it met.
func (p *Process) Running() (bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.running, p.lastErr
}

// Run supervises keepalived until ctx is done, then stops it (SIGTERM:
// a MASTER hands its VIPs over). Everything that starts keepalived runs
// here, on one OS thread that lives as long as Run: PR_SET_PDEATHSIG
// fires when the thread that started the child ends.
func (p *Process) Run(ctx context.Context) {
	runtime.LockOSThread() // never unlocked: see above
	defer close(p.stopped)
	var (
		cmd     *exec.Cmd
		exited  chan error
		conf    []byte
		backoff = time.Second
		retry   <-chan time.Time
	)
	start := func() error {
		c, ex, err := p.start()
		if err != nil {
			return err
		}
		cmd, exited = c, ex
		return nil
	}
	for {
		select {
		case <-ctx.Done():
			if cmd != nil {
				cmd.Process.Signal(syscall.SIGTERM)
				select {
				case <-exited:
				case <-time.After(10 * time.Second):
					cmd.Process.Kill()
					<-exited
				}
			}
			p.setRunning(false, 0, nil)
			return
		case r := <-p.reqs:
			if r.check {
				r.reply <- p.check(ctx, r.conf)
				continue
			}
			if err := writeFile(p.ConfigPath(), r.conf); err != nil {
				r.reply <- err
				continue
			}
			var err error
			switch {
			case cmd == nil:
				err = start()
				if err == nil {
					backoff, retry = time.Second, nil
				}
			case !bytes.Equal(conf, r.conf):
				if err = cmd.Process.Signal(syscall.SIGHUP); err == nil {
					p.log.Info("keepalived reloading its configuration", "config", p.ConfigPath())
				}
			}
			if err == nil {
				conf = r.conf
			}
			r.reply <- err
		case err := <-exited:
			cmd, exited = nil, nil
			e := p.exitError(err)
			p.setRunning(false, 0, e)
			p.log.Error("keepalived stopped; starting it again", "err", e.Error(), "in", backoff)
			retry = time.After(backoff)
			backoff = min(2*backoff, 30*time.Second)
		case <-retry:
			retry = nil
			if err := start(); err != nil {
				p.log.Error("keepalived did not start again", "err", err.Error(), "retry_in", backoff)
				retry = time.After(backoff)
				backoff = min(2*backoff, 30*time.Second)
			} else {
				backoff = time.Second
			}
		}
	}
}

// start runs keepalived and waits until its VRRP process is up, or it
// exits (an error with what it said).
func (p *Process) start() (*exec.Cmd, chan error, error) {
	vrrpPid := filepath.Join(p.dir, "vrrp.pid")
	p.stopLeftovers(filepath.Join(p.dir, "keepalived.pid"), vrrpPid)
	os.Remove(vrrpPid)
	cmd := exec.Command(p.bin, "--dont-fork", "--log-console", "--log-detail", "--no-syslog", "--vrrp",
		"--use-file", p.ConfigPath(), "--pid", filepath.Join(p.dir, "keepalived.pid"), "--vrrp_pid", vrrpPid)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, nil, err
	}
	cmd.Stderr = cmd.Stdout
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	p.mu.Lock()
	p.tail = nil
	p.mu.Unlock()
	if err := cmd.Start(); err != nil {
		return nil, nil, fmt.Errorf("start keepalived (%s): %w", p.bin, err)
	}
	lines := make(chan struct{})
	go func() { defer close(lines); p.relay(out) }()
	exited := make(chan error, 1)
	go func() {
		<-lines // the pipe is read to its end before Wait closes it
		exited <- cmd.Wait()
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(vrrpPid); err == nil {
			p.setRunning(true, cmd.Process.Pid, nil)
			p.log.Info("keepalived started", "pid", cmd.Process.Pid, "config", p.ConfigPath())
			return cmd, exited, nil
		}
		select {
		case err := <-exited:
			e := p.exitError(err)
			p.setRunning(false, 0, e)
			return nil, nil, e
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			e := fmt.Errorf("keepalived did not start its VRRP process within 10 s: %s", p.lastWords())
			<-exited
			p.setRunning(false, 0, e)
			return nil, nil, e
		}
	}
}

// stopLeftovers stops the keepalived processes that a previous lbd left
// with this directory's pid files: after lbd's kill -9, its keepalived
// got SIGTERM and may still be giving its VIPs up when lbd starts again,
// and a new keepalived would exit at once ("daemon is already running").
// A process is ours only if its command line names the pid file.
func (p *Process) stopLeftovers(pidFiles ...string) {
	for _, f := range pidFiles {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		var pid int
		if _, err := fmt.Sscan(string(data), &pid); err != nil || pid <= 0 {
			continue
		}
		cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil || !bytes.Contains(cmdline, []byte(p.dir)) {
			continue
		}
		p.log.Warn("a keepalived of a previous lbd still runs; stopping it first", "pid", pid, "pid_file", f)
		for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
			syscall.Kill(pid, sig)
			deadline := time.Now().Add(10 * time.Second)
			for alive(pid) && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond) // polling another process's exit: no event to wait on
			}
			if !alive(pid) {
				break
			}
		}
	}
}

// alive reports whether pid is a process that has not exited (a zombie
// has).
func alive(pid int) bool {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(data, ')')
	return i >= 0 && i+2 < len(data) && data[i+2] != 'Z'
}

// relay logs keepalived's lines and keeps the last ones.
func (p *Process) relay(r io.Reader) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		p.mu.Lock()
		for _, st := range []string{"MASTER", "BACKUP", "FAULT"} {
			if strings.Contains(line, "("+InstanceName+") Entering "+st+" STATE") {
				p.state = st
			}
		}
		p.tail = append(p.tail, line)
		if len(p.tail) > 20 {
			p.tail = p.tail[len(p.tail)-20:]
		}
		p.mu.Unlock()
		p.log.Info("keepalived: "+line, "source", "keepalived")
	}
}

func (p *Process) lastWords() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.tail) == 0 {
		return "it said nothing"
	}
	return "its last words: " + strings.Join(p.tail, " | ")
}

// exitError explains keepalived's exit.
func (p *Process) exitError(err error) error {
	fix := "see keepalived's lines in lbd's log"
	if os.Geteuid() != 0 {
		fix = "keepalived needs root (CAP_NET_ADMIN, CAP_NET_RAW): run lbd as root for ACTIVE_STANDBY"
	}
	if err == nil {
		err = errors.New("exit status 0")
	}
	return fmt.Errorf("keepalived exited (%v); %s; %s", err, p.lastWords(), fix)
}

// State is the VRRP instance's state as keepalived last logged it:
// MASTER, BACKUP or FAULT; "" while keepalived does not run or has no
// VRRP instance.
func (p *Process) State() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.state
}

func (p *Process) setRunning(running bool, pid int, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.running, p.pid = running, pid
	if !running {
		p.state = ""
	}
	if err != nil || running {
		p.lastErr = err
	}
}

// Pid is keepalived's process ID, 0 when it does not run.
func (p *Process) Pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pid
}

// writeFile replaces path with data atomically.
func writeFile(path string, data []byte) error {
	tmp := path + ".new"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return fmt.Errorf("write keepalived configuration: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write keepalived configuration: %w", err)
	}
	return nil
}

func oneLine(b []byte) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(string(b), "\n", " | ")), " ")
}
