// Command lbd is the load balancer daemon: it serves the listeners of the
// load balancers in its config file, reloads the file on SIGHUP and drains
// on SIGTERM or SIGINT.
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

	// Signals are taken before the first listener opens, so a SIGTERM
	// during start-up still drains.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sigs)

	rt := proxy.New(log, proxy.Options{DrainTimeout: *drain})
	if err := rt.Apply(ctx, cfg); err != nil {
		return fmt.Errorf("start: %w", err)
	}
	log.Info("lbd started", "config", *configPath, "load_balancers", len(cfg.LoadBalancers))

	for sig := range sigs {
		switch sig {
		case syscall.SIGHUP:
			reload(ctx, rt, *configPath, log)
		default:
			log.Info("shutting down", "signal", sig.String(), "timeout", *shutdown)
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

// reload re-reads the config file and applies it; a bad file is refused and
// the running config stays.
func reload(ctx context.Context, rt *proxy.Runtime, path string, log *slog.Logger) {
	cfg, err := octavia.LoadFile(path)
	if err != nil {
		log.Error("reload refused: config is invalid; still serving the previous config", "config", path, "err", err.Error())
		return
	}
	if err := rt.Apply(ctx, cfg); err != nil {
		log.Error("reload failed; still serving the previous config", "config", path, "err", err.Error())
		return
	}
	log.Info("reloaded", "config", path, "load_balancers", len(cfg.LoadBalancers))
}
