package autoscale

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// Provider makes and removes the group's servers. It finds them by the
// group's name, which every server it creates carries (Nova metadata, a
// process's arguments), so that it holds no list of its own.
type Provider interface {
	// Servers lists the group's servers.
	Servers(ctx context.Context) ([]Server, error)
	// Create starts a server named name; it may return while the server
	// still boots (status BUILD).
	Create(ctx context.Context, name string) (Server, error)
	// Delete removes a server; it may return while the removal goes on
	// (the server then lists as DELETING, or not at all).
	Delete(ctx context.Context, s Server) error
}

// Locker is the lock that keeps two controllers from acting on one group.
type Locker interface {
	// Lock blocks until this controller holds the lock, or ctx ends.
	Lock(ctx context.Context) (Lease, error)
	// String names the lock for people ("flock /run/lock/...").
	String() string
}

// Lease is a held lock.
type Lease interface {
	// Lost is closed if the lock is lost: another controller may act now,
	// so this one must stop.
	Lost() <-chan struct{}
	// Unlock releases the lock.
	Unlock(ctx context.Context) error
}

// FileLock is a Locker for controllers on one machine: an exclusive flock
// on a file. The kernel releases it when the process dies, however it
// dies, so a killed controller never leaves the group locked; it is never
// lost while held.
type FileLock struct {
	Path string
	// Poll is how often a waiting controller tries again (default 200ms).
	Poll time.Duration
}

// DefaultLockPath is the lock file of a group on this machine.
func DefaultLockPath(group string) string {
	return filepath.Join(os.TempDir(), "lbctl-autoscale-"+safeName(group)+".lock")
}

func safeName(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			b[i] = '_'
		}
	}
	return string(b)
}

func (l *FileLock) String() string { return "flock " + l.Path }

// Lock takes the flock, trying again every Poll while another process has
// it.
func (l *FileLock) Lock(ctx context.Context) (Lease, error) {
	f, err := os.OpenFile(l.Path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", l.Path, err)
	}
	poll := l.Poll
	if poll <= 0 {
		poll = 200 * time.Millisecond
	}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			// Who holds it, for a person wondering.
			f.Truncate(0)
			fmt.Fprintf(f, "%d\n", os.Getpid())
			return &fileLease{f: f, lost: make(chan struct{})}, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", l.Path, err)
		}
		t := time.NewTimer(poll)
		select {
		case <-ctx.Done():
			t.Stop()
			f.Close()
			return nil, ctx.Err()
		case <-t.C:
		}
	}
}

type fileLease struct {
	f    *os.File
	lost chan struct{}
}

func (l *fileLease) Lost() <-chan struct{} { return l.lost }

func (l *fileLease) Unlock(context.Context) error { return l.f.Close() }
