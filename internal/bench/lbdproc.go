package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"gopkg.in/yaml.v3"

	"lbd/internal/octavia"
)

// lbdProc is an lbd daemon the benchmark runs as a child process: the
// config file it reads (rewritten and reloaded with SIGHUP for events) and
// its admin server, whose /debug/members the benchmark samples.
type lbdProc struct {
	config string // the config file
	admin  string // the admin server, host:port
	client *http.Client
	cmd    *exec.Cmd
	log    *tailBuffer
	done   chan struct{} // closed when the process has exited
	err    error         // why it exited, set before done closes
}

// startLBD runs bin with cfg on loopback: no Octavia API, no stored state,
// no access log, its own log kept (and copied to logTo when set).
func startLBD(ctx context.Context, bin, dir string, cfg *octavia.Config, adminPort int, logTo io.Writer) (*lbdProc, error) {
	p := &lbdProc{
		config: filepath.Join(dir, "lbd.yaml"),
		admin:  fmt.Sprintf("127.0.0.1:%d", adminPort),
		client: &http.Client{Timeout: 5 * time.Second},
		log:    &tailBuffer{max: 16 << 10},
		done:   make(chan struct{}),
	}
	if err := p.write(cfg); err != nil {
		return nil, err
	}
	var out io.Writer = p.log
	if logTo != nil {
		out = io.MultiWriter(p.log, logTo)
	}
	p.cmd = exec.CommandContext(ctx, bin, "--config", p.config, "--admin-addr", p.admin, "--api-addr", "",
		"--state-dir", "none", "--connection-logging=false", "--log-level", "warn",
		"--drain-timeout", "2s", "--shutdown-timeout", "2s")
	p.cmd.Stdout, p.cmd.Stderr = out, out
	p.cmd.SysProcAttr = diesWithParent()
	p.cmd.Cancel = func() error { return p.cmd.Process.Signal(syscall.SIGTERM) }
	p.cmd.WaitDelay = 3 * time.Second
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start lbd (%s): %w", bin, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// write replaces the config file in one rename, so lbd never reads half.
func (p *lbdProc) write(cfg *octavia.Config) error {
	data, err := yaml.Marshal(cfg)
	if err != nil {
		return fmt.Errorf("lbd config: %w", err)
	}
	tmp := p.config + ".new"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return fmt.Errorf("lbd config: %w", err)
	}
	if err := os.Rename(tmp, p.config); err != nil {
		return fmt.Errorf("lbd config: %w", err)
	}
	return nil
}

// reload writes cfg and signals lbd to read it; the caller waits until
// /debug/members shows it.
func (p *lbdProc) reload(cfg *octavia.Config) error {
	if err := p.write(cfg); err != nil {
		return err
	}
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		return fmt.Errorf("reload lbd: %w", p.exited(err))
	}
	return nil
}

// memberLoads is what lbd's /debug/members serves (metrics.MemberLoads,
// read here without linking the data plane).
type memberLoads struct {
	Pools []struct {
		ID      string       `json:"id"`
		Members []memberLoad `json:"members"`
	} `json:"pools"`
}

type memberLoad struct {
	ID              string     `json:"id"`
	Weight          int        `json:"weight"`
	Healthy         bool       `json:"healthy"`
	HealthChangedAt *time.Time `json:"health_changed_at"`
	InFlight        int64      `json:"in_flight"`
	PeakInFlight    int64      `json:"peak_in_flight"`
}

// members reads lbd's members of its one pool (nil until lbd serves it).
// It resets lbd's peaks: only the sampler calls it.
func (p *lbdProc) members(ctx context.Context) ([]memberLoad, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+p.admin+"/debug/members", nil)
	if err != nil {
		return nil, err
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("read lbd's members: %w", p.exited(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("read lbd's members: %s (an lbd without /debug/members is older than this lbctl)", resp.Status)
	}
	var doc memberLoads
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		return nil, fmt.Errorf("read lbd's members: %w", err)
	}
	if len(doc.Pools) == 0 {
		return nil, nil
	}
	return doc.Pools[0].Members, nil
}

// exited adds to err, when lbd has exited, how it exited and its last log
// lines.
func (p *lbdProc) exited(err error) error {
	select {
	case <-p.done:
		return fmt.Errorf("%w; lbd exited (%v): %s", err, p.err, p.log.tail())
	default:
		return err
	}
}

// stop drains lbd with SIGTERM and waits for it (killing it after a few
// seconds).
func (p *lbdProc) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
	max int
}

func (t *tailBuffer) Write(b []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf.Write(b)
	if over := t.buf.Len() - t.max; over > 0 {
		t.buf.Next(over)
	}
	return len(b), nil
}

func (t *tailBuffer) tail() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.TrimSpace(t.buf.String())
}

// FindLBD returns the lbd binary the benchmark runs: path when given, else
// the lbd beside the running executable (bin/ after make build), else the
// one on PATH.
func FindLBD(path string) (string, error) {
	if path != "" {
		if _, err := os.Stat(path); err != nil {
			return "", fmt.Errorf("lbd binary: %w", err)
		}
		return path, nil
	}
	if exe, err := os.Executable(); err == nil {
		beside := filepath.Join(filepath.Dir(exe), "lbd")
		if fi, err := os.Stat(beside); err == nil && !fi.IsDir() {
			return beside, nil
		}
	}
	if p, err := exec.LookPath("lbd"); err == nil {
		return p, nil
	}
	return "", errors.New("lbctl bench runs lbd as a child process, and found no lbd beside lbctl or on PATH: run make build, or give --lbd PATH")
}
