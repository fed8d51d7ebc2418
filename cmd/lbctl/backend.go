package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"

	"lbd/internal/demo"
)

var backendCommand = command{
	summary: "Run a demo web server, answering Hello World! and its name, for lbd to balance (until Ctrl-C).",
	usage:   "lbctl backend [--listen ADDR] [--name NAME] [flags]",
	example: "lbctl backend --listen 127.0.0.1:8081 --name server1\nlbctl backend --listen 127.0.0.1:8082 --latency 20ms --error-rate 0.01",
	define:  defineBackend,
}

func defineBackend(fs *flag.FlagSet) runner {
	listen := fs.String("listen", "127.0.0.1:8081", "address to listen on")
	var o demo.Options
	fs.StringVar(&o.Name, "name", "", "server name reported in every answer (default: the listen address)")
	fs.DurationVar(&o.Latency, "latency", 0, "latency added to each answer (median for lognormal, mean for exponential)")
	fs.StringVar(&o.Distribution, "latency-dist", "fixed", "latency distribution: fixed, uniform, exponential, lognormal")
	fs.DurationVar(&o.Spread, "latency-spread", 0, "spread: ± for uniform, sigma×latency for lognormal")
	fs.Float64Var(&o.ErrorRate, "error-rate", 0, "fraction of answers that are 500 (0..1)")
	fs.IntVar(&o.MaxInFlight, "max-inflight", 0, "requests served at once; more wait (0: no limit)")
	fs.StringVar(&o.HealthPath, "health-path", "/health", "health endpoint (POST PATH/down and PATH/up switch it)")
	fs.String("autoscale-group", "", "the autoscaling group that started this backend: lbctl autoscale --provider local finds its backends by it")
	return func(ctx context.Context, pos []string, stdout, stderr io.Writer) error {
		if len(pos) > 0 {
			return fmt.Errorf("backend takes no arguments (%q)", pos[0])
		}
		return runBackend(ctx, *listen, o, stdout)
	}
}

func runBackend(ctx context.Context, listen string, o demo.Options, stdout io.Writer) error {
	if o.Name == "" {
		o.Name = listen
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	b, err := demo.Start(ctx, listen, o, log)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "backend %s listening on http://%s\n", o.Name, b.Addr())
	<-ctx.Done()
	return b.Close()
}
