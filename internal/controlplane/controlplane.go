package controlplane

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"time"

	"lbd/internal/octavia"
	"lbd/internal/octavia/api"
	"lbd/internal/octavia/auth"
)

// Options configure the control plane.
type Options struct {
	// APIAddr is where Serve listens. Empty: Serve serves nothing.
	APIAddr string
	// Auth authenticates API callers; nil leaves the API open, every caller
	// an administrator (for loopback use; Flags.Options refuses it on other
	// addresses).
	Auth auth.Authenticator
	// WWWAuthenticate is the header of a 401 answer (Keystone's URI).
	WWWAuthenticate string
	// StateDir holds state.json, the durable desired state. Empty keeps the
	// state in memory only: API changes are lost on restart.
	StateDir string
	// VIPAddress is the vip_address of load balancers created through the
	// API without one. Default 127.0.0.1.
	VIPAddress string
	// ApplyTimeout bounds one DataPlane.Apply. Default 30 s.
	ApplyTimeout time.Duration
}

// ControlPlane is the desired state and the API over it. It implements
// api.Service. Create it with New, feed it the config file with
// SetFileConfig (at start and on every reload), and serve Handler.
type ControlPlane struct {
	opts Options
	dp   octavia.DataPlane
	log  *slog.Logger
	now  func() time.Time

	// gate lets API changes run side by side (read-locked, each on its
	// own load balancer) and a file reload run alone (write-locked), so a
	// reload never replaces a load balancer a change is in the middle of.
	gate sync.RWMutex
	// applyMu serializes changes from the data plane's Apply to the state
	// file, so the data plane and the disk see changes in one order.
	applyMu sync.Mutex
	// mu guards st. It is held only briefly, never across Apply, so reads
	// see PENDING_* statuses while a change is being applied.
	mu sync.Mutex
	st *state
}

// New loads the stored state from opts.StateDir (creating the directory if
// needed). It does not touch the data plane: call SetFileConfig next.
func New(opts Options, dp octavia.DataPlane, log *slog.Logger) (*ControlPlane, error) {
	if opts.VIPAddress == "" {
		opts.VIPAddress = "127.0.0.1"
	}
	if opts.ApplyTimeout <= 0 {
		opts.ApplyTimeout = 30 * time.Second
	}
	if opts.StateDir != "" {
		if err := os.MkdirAll(opts.StateDir, 0o700); err != nil {
			return nil, fmt.Errorf("create state directory: %w", err)
		}
	}
	st, err := loadState(opts.StateDir)
	if err != nil {
		return nil, err
	}
	return &ControlPlane{opts: opts, dp: dp, log: log, now: time.Now, st: st}, nil
}

// Handler serves the Octavia API over this control plane, behind
// opts.Auth.
func (cp *ControlPlane) Handler() http.Handler {
	var a auth.Authenticator = auth.Open{}
	if cp.opts.Auth != nil {
		a = cp.opts.Auth
	}
	return auth.Middleware(a, api.IsPublic, cp.opts.WWWAuthenticate, cp.log, api.NewHandler(cp, cp.log))
}

// Config returns the desired state as last applied.
func (cp *ControlPlane) Config() *octavia.Config {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	return cp.st.config()
}

// apply runs the data plane's Apply with the control plane's timeout,
// detached from the caller's cancellation: a client hanging up must not
// leave a change half-applied.
func (cp *ControlPlane) apply(ctx context.Context, cfg *octavia.Config) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cp.opts.ApplyTimeout)
	defer cancel()
	return cp.dp.Apply(ctx, cfg)
}
