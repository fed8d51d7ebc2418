// Command lbd is the load balancer daemon: it serves the listeners of the
// load balancers in its config file, reloads the file on SIGHUP and drains
// on SIGTERM or SIGINT.
//
// lbd must not import gophercloud, the cloud packages
// (internal/octavia/client, internal/octavia/openstack) or the tooling of
// the CLI, the benchmarks and the tests (internal/bench, internal/loadgen,
// internal/demo, internal/lbdtest).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"gopkg.in/yaml.v3"

	"lbd/internal/controlplane"
	"lbd/internal/health"
	"lbd/internal/metrics"
	"lbd/internal/octavia"
	"lbd/internal/proxy"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "lbd:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("lbd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "configs/lbd.yaml", "config file (YAML: Octavia's fully-populated load balancer bodies)")
	check := fs.Bool("check", false, "validate the config, print it with defaults and IDs filled in, and exit")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn, error")
	drain := fs.Duration("drain-timeout", 30*time.Second, "how long a removed listener waits for its connections")
	shutdown := fs.Duration("shutdown-timeout", 30*time.Second, "how long SIGTERM waits for in-flight work before exiting")
	var passive health.Passive
	passiveOn := fs.Bool("passive-health", true, "eject members after consecutive failures of live traffic, before the active checks notice")
	fs.IntVar(&passive.Failures, "passive-failures", health.DefaultPassiveFailures, "consecutive failures that eject a member")
	fs.BoolVar(&passive.ServerErrors, "passive-5xx", false, "count 5xx responses as passive failures")
	fs.DurationVar(&passive.Ejection, "passive-ejection", health.DefaultEjection, "first ejection; doubles on repeats up to --passive-max-ejection")
	fs.DurationVar(&passive.MaxEjection, "passive-max-ejection", health.DefaultMaxEjection, "longest ejection")
	eventLoop := fs.Bool("event-loop", true, "serve keep-alive HTTP connections in their steady state from one epoll loop per CPU (false: a goroutine per connection throughout)")
	adminAddr := fs.String("admin-addr", "127.0.0.1:9102", "address of the admin server: /metrics, /healthz, /debug/pprof/ (empty: off)")
	var apiFlags controlplane.Flags
	apiFlags.Register(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: level}))

	cfg, err := octavia.LoadFile(*configPath)
	if err != nil {
		return err
	}
	if *check {
		enc := yaml.NewEncoder(stdout)
		enc.SetIndent(2)
		defer enc.Close()
		return enc.Encode(cfg)
	}
	cpOpts, err := apiFlags.Options(os.Getenv)
	if err != nil {
		return err
	}

	// Signals are taken before the first listener opens, so a SIGTERM
	// during start-up still drains.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sigs)

	passive.Disabled = !*passiveOn
	rt := proxy.New(log, proxy.Options{DrainTimeout: *drain, Passive: passive, NoEventLoop: !*eventLoop})
	// The control plane owns the desired state: the file plus what the API
	// changed (stored under --state-dir), and applies it to the runtime.
	cp, err := controlplane.New(cpOpts, rt, log)
	if err != nil {
		return err
	}
	defer cp.Close()
	metricsHandler := metrics.Handler(rt, cp.Collector())
	rt.SetMetrics(metricsHandler)
	if *adminAddr != "" {
		stopAdmin, err := serveAdmin(ctx, *adminAddr, metricsHandler, log)
		if err != nil {
			return err
		}
		defer stopAdmin()
	}
	if err := cp.SetFileConfig(ctx, cfg); err != nil {
		return fmt.Errorf("start: %w", err)
	}
	log.Info("lbd started", "config", *configPath, "load_balancers", len(cp.Config().LoadBalancers))
	apiCtx, stopAPI := context.WithCancel(ctx)
	apiDone := make(chan struct{})
	go func() {
		defer close(apiDone)
		// The data plane keeps serving if the API cannot: log, do not exit.
		if err := cp.Serve(apiCtx); err != nil {
			log.Error("Octavia API stopped", "addr", cpOpts.APIAddr, "err", err.Error())
		}
	}()
	stopped := false
	closeAPI := func() {
		if !stopped {
			stopped = true
			stopAPI()
			<-apiDone
		}
	}
	defer closeAPI()

	for sig := range sigs {
		switch sig {
		case syscall.SIGHUP:
			reload(ctx, cp, rt, *configPath, log)
		default:
			log.Info("shutting down", "signal", sig.String(), "timeout", *shutdown)
			closeAPI() // no API change may start while the listeners drain
			sctx, cancel := context.WithTimeout(ctx, *shutdown)
			err := rt.Shutdown(sctx)
			cancel()
			if err != nil {
				log.Warn("shutdown timed out; open connections were closed", "err", err)
			}
			log.Info("lbd stopped")
			return nil
		}
	}
	return nil
}

// reload re-reads the config file and merges it into the desired state; a
// bad file is refused and the running config stays.
func reload(ctx context.Context, cp *controlplane.ControlPlane, rt *proxy.Runtime, path string, log *slog.Logger) {
	cfg, err := octavia.LoadFileForReload(path)
	if err != nil {
		rt.RecordRejected()
		log.Error("reload refused: config is invalid; still serving the previous config", "config", path, "err", err.Error())
		return
	}
	if err := cp.SetFileConfig(ctx, cfg); err != nil {
		if errors.Is(err, controlplane.ErrRefused) {
			rt.RecordRejected() // refused before reaching the runtime, which counts its own
		}
		log.Error("reload failed; still serving the previous config", "config", path, "err", err.Error())
		return
	}
	log.Info("reloaded", "config", path, "load_balancers", len(cp.Config().LoadBalancers))
}
