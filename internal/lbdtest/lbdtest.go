// Package lbdtest runs a real lbd (control plane, Octavia API and data
// plane) inside a test process, for tests of the clients that drive it.
//
// Only tests import it. It must not import the cloud packages
// (internal/octavia/reconcile, internal/octavia/cloud): the clients under
// test bring their own.
package lbdtest

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"lbd/internal/controlplane"
	"lbd/internal/octavia"
	"lbd/internal/proxy"
)

// LBD is a running lbd.
type LBD struct {
	URL string // the API's base URL
	CP  *controlplane.ControlPlane
	RT  *proxy.Runtime
	// Writes counts the API requests that may change something (all but
	// GET and HEAD).
	Writes atomic.Int64
}

// Start runs lbd with opts (its APIAddr is ignored: the API gets a free
// loopback port) until the test ends. The state directory defaults to a
// fresh temporary one.
func Start(t testing.TB, opts controlplane.Options) *LBD {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if opts.StateDir == "" {
		opts.StateDir = t.TempDir()
	}
	rt := proxy.New(log, proxy.Options{DrainTimeout: time.Second})
	cp, err := controlplane.New(opts, rt, log)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := cp.SetFileConfig(ctx, &octavia.Config{}); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := &LBD{URL: "http://" + ln.Addr().String(), CP: cp, RT: rt}
	api := cp.Handler()
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			l.Writes.Add(1)
		}
		api.ServeHTTP(w, r)
	})}
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(ln) }()
	t.Cleanup(func() {
		cancel()
		srv.Close()
		<-done
		sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer scancel()
		rt.Shutdown(sctx)
		cp.Close()
	})
	return l
}
