package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"lbd/internal/octavia/cloud"
	"lbd/internal/octavia/reconcile"
)

// cloudFlags are the flags lbctl up and down share: the file, the cloud and
// how to reach it (as every OpenStack tool spells them), and the bounds.
type cloudFlags struct {
	file    string
	auth    cloud.AuthOptions
	plan    bool
	timeout time.Duration
	output  string
	verbose bool
}

func (c *cloudFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&c.file, "f", "", "config file with an openstack: section (required), e.g. configs/tutorial.yaml")
	registerAuth(fs, &c.auth)
	fs.BoolVar(&c.plan, "plan", false, "print what would change and change nothing")
	fs.DurationVar(&c.timeout, "timeout", 10*time.Minute, "bound of every wait (ACTIVE, deleted) and of retries while Octavia is busy")
	fs.StringVar(&c.output, "o", "text", "output: text, or json (the result; progress then goes to stderr)")
	fs.BoolVar(&c.verbose, "v", false, "log details (retries, requests) to stderr")
}

// registerAuth registers how to reach and log in to a cloud, as every
// OpenStack tool spells it.
func registerAuth(fs *flag.FlagSet, a *cloud.AuthOptions) {
	fs.StringVar(&a.Cloud, "os-cloud", os.Getenv("OS_CLOUD"), "cloud of clouds.yaml (default $OS_CLOUD; without one, the OS_* environment)")
	fs.StringVar(&a.Region, "os-region", "", "region (default: clouds.yaml, then $OS_REGION_NAME)")
	fs.StringVar(&a.Interface, "os-interface", "", "endpoint interface: public, internal or admin (default: clouds.yaml, then $OS_INTERFACE, then public)")
	fs.BoolVar(&a.Insecure, "insecure", false, "do not verify the cloud's TLS certificates")
	fs.StringVar(&a.CACert, "os-cacert", "", "CA bundle for the cloud's TLS endpoints (default: clouds.yaml cacert, then $OS_CACERT)")
	fs.StringVar(&a.LBEndpoint, "lb-endpoint", "", "load-balancer API URL instead of the catalog's (e.g. a local lbd); default: clouds.yaml load_balancer_endpoint_override")
}

// provisioner parses the file and connects to the cloud.
func (c *cloudFlags) provisioner(ctx context.Context, stdout, stderr io.Writer) (*cloud.Provisioner, *cloud.Spec, error) {
	if c.file == "" {
		return nil, nil, errors.New("-f FILE is required: the config file whose load balancer to provision or remove")
	}
	if c.output != "text" && c.output != "json" {
		return nil, nil, fmt.Errorf("-o %q: must be text or json", c.output)
	}
	if c.timeout <= 0 {
		return nil, nil, fmt.Errorf("--timeout %s: must be positive", c.timeout)
	}
	spec, err := cloud.LoadSpec(c.file)
	if err != nil {
		return nil, nil, err
	}
	level := slog.LevelWarn
	if c.verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	c.auth.Log = log
	clients, err := cloud.Connect(ctx, c.auth)
	if err != nil {
		return nil, nil, err
	}
	out := stdout
	if c.output == "json" {
		out = stderr
	}
	return &cloud.Provisioner{
		Clients: clients, Waiter: reconcile.Waiter{Out: out, Timeout: c.timeout, Log: log},
	}, spec, nil
}

// print writes the result; nothing is what to say when there were no changes.
func (c *cloudFlags) print(stdout io.Writer, res *cloud.Result, nothing string) error {
	if c.output == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	if len(res.Changes) == 0 {
		fmt.Fprintln(stdout, nothing)
	} else if c.plan {
		fmt.Fprintf(stdout, "%d change(s) planned; run without --plan to apply them\n", len(res.Changes))
	}
	res.Print(stdout)
	return nil
}
