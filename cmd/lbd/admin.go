package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"lbd/internal/ha"
)

// serveAdmin starts the admin server: /metrics for Prometheus, /healthz for
// supervisors, /healthz/vrrp for keepalived's check script (with
// vrrpCheck), /debug/members for lbctl bench (members' load, peaks reset
// on read), /debug/pprof/ for profiling. It belongs on loopback (the
// default); it has no authentication.
func serveAdmin(ctx context.Context, addr string, metricsHandler, membersHandler http.Handler, vrrpCheck http.HandlerFunc, log *slog.Logger) (stop func(), err error) {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metricsHandler)
	mux.Handle("GET /debug/members", membersHandler)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") })
	if vrrpCheck != nil {
		mux.HandleFunc("GET "+ha.CheckPath, vrrpCheck)
	}
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("admin server: %w", err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && err != http.ErrServerClosed {
			log.Error("admin server stopped", "err", err)
		}
	}()
	log.Info("admin server listening", "addr", ln.Addr().String())
	return func() {
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}, nil
}
