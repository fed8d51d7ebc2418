package controlplane

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"lbd/internal/certs"
	"lbd/internal/octavia"
	"lbd/internal/octavia/api"
	"lbd/internal/octavia/auth"
	"lbd/internal/statestore"
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
	// StateDir holds the durable desired state (statestore's embedded
	// store, state.log; a state.json of an older lbd is migrated). Empty
	// keeps the state in memory only: API changes are lost on restart.
	StateDir string
	// Store, when set, holds the state instead of StateDir (a shared store
	// such as etcd). The control plane closes it in Close.
	Store statestore.Store
	// VIPAddress is the vip_address of load balancers created through the
	// API without one. Default 127.0.0.1.
	VIPAddress string
	// Instances, when set, lists the lbd instances sharing the state
	// (internal/ha): each is an amphora of every ACTIVE_STANDBY load
	// balancer, with its live VRRP role.
	Instances func() []Instance
	// ApplyTimeout bounds one DataPlane.Apply. Default 30 s.
	ApplyTimeout time.Duration
	// Certs reads the certificate refs of API changes before they are
	// applied (the data plane's store, so that what was checked is what is
	// served); nil checks nothing.
	Certs *certs.Store
	// Grant adds lbd's service user to a Barbican ref's read ACL, acting
	// with the caller's token; nil when lbd has no Barbican.
	Grant func(ctx context.Context, token, ref string) error
	// Service are lbd's own Keystone credentials when it has them (its
	// Barbican client uses them); set by Flags.Options.
	Service *auth.KeystoneOptions
	// Background runs an API change (its edit, Apply and store) and the
	// state log's compactions, and returns when its function has: lbd
	// runs them at low priority so that the data plane's goroutines do
	// not wait behind them (internal/lowprio). Default: on the calling
	// goroutine (compactions: on a goroutine of their own).
	Background func(func())
	// SyncTimeout bounds how long an API request waits for this
	// instance to take the changes other instances committed to a shared
	// store before it (sync.go). Default 5 s.
	SyncTimeout time.Duration
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
	// applyMu serializes changes from the data plane's Apply to the
	// store, so the data plane and the store see changes in one order.
	applyMu sync.Mutex
	// mu guards st. It is held only briefly, never across Apply or a
	// commit to the store, so reads see PENDING_* statuses while a change
	// is being applied and stored.
	mu sync.Mutex
	st *state

	persist    *persister
	saveErrors *prometheus.CounterVec
	// A shared store only: the revision of the last change applied from
	// it, and the changes refused (follow.go).
	applied       prometheus.Gauge
	remoteRefused prometheus.Counter
}

// New opens the state store (opts.Store, or the one under opts.StateDir,
// creating the directory if needed) and loads the state. It does not touch
// the data plane: call SetFileConfig next, and Close at the end.
func New(opts Options, dp octavia.DataPlane, log *slog.Logger) (*ControlPlane, error) {
	if opts.VIPAddress == "" {
		opts.VIPAddress = "127.0.0.1"
	}
	if opts.ApplyTimeout <= 0 {
		opts.ApplyTimeout = 30 * time.Second
	}
	if opts.SyncTimeout <= 0 {
		opts.SyncTimeout = defaultSyncTimeout
	}
	if opts.Background == nil {
		opts.Background = func(f func()) { f() }
	}
	p, err := openStore(opts, log)
	if err != nil {
		return nil, err
	}
	st, err := p.load(context.Background(), log)
	if err != nil {
		p.store.Close()
		return nil, err
	}
	cp := &ControlPlane{opts: opts, dp: dp, log: log, now: time.Now, st: st, persist: p,
		saveErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lbd_state_save_errors_total",
			Help: "Changes refused because the state could not be saved (the API answered 500, a reload failed), by errno (none: not a system error).",
		}, []string{"errno"}),
		applied: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "lbd_state_revision",
			Help: "The revision of the shared state (etcd) this instance serves: the last change it took from the store or committed.",
		}),
		remoteRefused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "lbd_state_remote_refused_total",
			Help: "Changes in the shared state (etcd) this instance refused: a value it cannot read, or its data plane refused them (logged with the key).",
		}),
	}
	cp.applied.Set(float64(p.seen))
	return cp, nil
}

// Close closes the state store. Call it after the API stopped.
func (cp *ControlPlane) Close() error {
	cp.applyMu.Lock()
	defer cp.applyMu.Unlock()
	return cp.persist.store.Close()
}

// Collector is the control plane's metrics, for the /metrics handler.
func (cp *ControlPlane) Collector() prometheus.Collector {
	if !cp.persist.shared {
		return cp.saveErrors
	}
	return collectors{cp.saveErrors, cp.applied, cp.remoteRefused}
}

// collectors is several collectors as one.
type collectors []prometheus.Collector

func (cs collectors) Describe(ch chan<- *prometheus.Desc) {
	for _, c := range cs {
		c.Describe(ch)
	}
}

func (cs collectors) Collect(ch chan<- prometheus.Metric) {
	for _, c := range cs {
		c.Collect(ch)
	}
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
