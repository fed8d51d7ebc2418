// Command lbd is the load balancer daemon: it serves the listeners of the
// load balancers in its config file.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"gopkg.in/yaml.v3"

	"lbd/internal/octavia"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "lbd:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("lbd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "configs/lbd.yaml", "config file (YAML, Octavia's fully-populated load balancer bodies)")
	check := fs.Bool("check", false, "validate the config, print it with defaults filled in, and exit")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
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
	_ = ctx
	return fmt.Errorf("the data plane is not built yet; use --check")
}
