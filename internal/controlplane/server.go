package controlplane

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"lbd/internal/octavia/auth"
)

// DefaultAPIAddr is Octavia's port, on loopback.
const DefaultAPIAddr = "127.0.0.1:9876"

// Flags are lbd's command-line flags for the API and its state. Register
// them on lbd's flag set, then build Options with Options().
type Flags struct {
	APIAddr    string
	StateDir   string
	VIPAddress string
	TokenFile  string

	KeystoneURL           string
	KeystoneUsername      string
	KeystonePasswordFile  string
	KeystoneProject       string
	KeystoneUserDomain    string
	KeystoneProjectDomain string
}

// DefaultStateDir is where lbd keeps accepted API changes unless told
// otherwise: /var/lib/lbd for root (systemd's StateDirectory=lbd), the XDG
// state directory for anyone else. A daemon that forgot what it accepted
// after a restart would break the API's promise, so persistence is the
// default.
func DefaultStateDir() string {
	if os.Getuid() == 0 {
		return "/var/lib/lbd"
	}
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "lbd")
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".local", "state", "lbd")
	}
	return ""
}

// Register adds the flags to fs.
func (f *Flags) Register(fs *flag.FlagSet) {
	fs.StringVar(&f.APIAddr, "api-addr", DefaultAPIAddr, "address of the Octavia v2 REST API; empty disables it")
	fs.StringVar(&f.StateDir, "state-dir", DefaultStateDir(), "directory for the durable API state (state.log, an append-only log; a state.json of an older lbd is migrated); \"none\" keeps API changes in memory only")
	fs.StringVar(&f.VIPAddress, "vip-address", "127.0.0.1", "vip_address of load balancers created through the API without one")
	fs.StringVar(&f.TokenFile, "token-file", "", "file whose first line is the static API token (or set LBD_API_TOKEN); used without Keystone")
	fs.StringVar(&f.KeystoneURL, "keystone-url", "", "Keystone v3 endpoint validating X-Auth-Token, e.g. http://127.0.0.1:5000/v3")
	fs.StringVar(&f.KeystoneUsername, "keystone-username", "", "lbd's service user in Keystone")
	fs.StringVar(&f.KeystonePasswordFile, "keystone-password-file", "", "file holding the service user's password (or set LBD_KEYSTONE_PASSWORD)")
	fs.StringVar(&f.KeystoneProject, "keystone-project", "service", "the service user's project")
	fs.StringVar(&f.KeystoneUserDomain, "keystone-user-domain", "Default", "the service user's domain")
	fs.StringVar(&f.KeystoneProjectDomain, "keystone-project-domain", "Default", "the service project's domain")
}

// Options builds the control plane's options from the flags and the
// environment (getenv: os.Getenv in lbd). It refuses to serve the API on a
// non-loopback address with no authentication configured.
func (f *Flags) Options(getenv func(string) string) (Options, error) {
	o := Options{APIAddr: f.APIAddr, StateDir: f.StateDir, VIPAddress: f.VIPAddress}
	if o.StateDir == "none" {
		o.StateDir = ""
	}
	token := getenv("LBD_API_TOKEN")
	if f.TokenFile != "" {
		t, err := auth.ReadTokenFile(f.TokenFile)
		if err != nil {
			return o, err
		}
		token = t
	}
	switch {
	case f.KeystoneURL != "":
		password := getenv("LBD_KEYSTONE_PASSWORD")
		if f.KeystonePasswordFile != "" {
			data, err := os.ReadFile(f.KeystonePasswordFile)
			if err != nil {
				return o, fmt.Errorf("read keystone password: %w", err)
			}
			password = strings.TrimSpace(string(data))
		}
		ko := auth.KeystoneOptions{
			URL: f.KeystoneURL, Username: f.KeystoneUsername, Password: password,
			ProjectName: f.KeystoneProject, UserDomainName: f.KeystoneUserDomain, ProjectDomainName: f.KeystoneProjectDomain,
		}
		ks, err := auth.NewKeystone(ko)
		if err != nil {
			return o, fmt.Errorf("--keystone-url: %w (set --keystone-username and LBD_KEYSTONE_PASSWORD or --keystone-password-file)", err)
		}
		o.Auth, o.WWWAuthenticate = ks, ks.WWWAuthenticate()
		o.Service = &ko
	case token != "":
		st, err := auth.NewStatic(token)
		if err != nil {
			return o, err
		}
		o.Auth = st
	}
	if o.Auth == nil && o.APIAddr != "" && !loopback(o.APIAddr) {
		return o, fmt.Errorf("--api-addr %s is not a loopback address and no authentication is configured: set --keystone-url or --token-file (or LBD_API_TOKEN)", o.APIAddr)
	}
	return o, nil
}

// loopback reports whether addr (host:port) listens on loopback only.
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// Serve serves the API on opts.APIAddr until ctx is done, then shuts the
// server down, letting requests in flight finish for up to 5 seconds. It
// returns once the listener is closed; a bind error is returned at once.
func (cp *ControlPlane) Serve(ctx context.Context) error {
	if cp.opts.APIAddr == "" {
		<-ctx.Done()
		return nil
	}
	ln, err := net.Listen("tcp", cp.opts.APIAddr)
	if err != nil {
		return fmt.Errorf("API listener: %w", err)
	}
	return cp.ServeListener(ctx, ln)
}

// ServeListener is Serve on a listener the caller opened.
func (cp *ControlPlane) ServeListener(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           cp.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(cp.log.Handler(), slog.LevelWarn),
	}
	cp.log.LogAttrs(ctx, slog.LevelInfo, "Octavia API listening", slog.String("addr", ln.Addr().String()),
		slog.Bool("auth", cp.opts.Auth != nil))
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("API server: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("API server shutdown: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("API server: %w", err)
	}
	return nil
}
