package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"gopkg.in/yaml.v3"

	"lbd/internal/octavia/reconcile"
)

// clientFlags are the flags of the commands that talk to an lbd.
type clientFlags struct {
	endpoint string
	token    string
	output   string
	timeout  time.Duration
}

// defaultEndpoint is lbd's (and Octavia's) API port on loopback.
const defaultEndpoint = "http://127.0.0.1:9876"

// register adds the flags every command that talks to lbd has: where, as
// whom, and how to print.
func (f *clientFlags) register(fs *flag.FlagSet) {
	registerEndpoint(fs, &f.endpoint)
	fs.StringVar(&f.token, "token", os.Getenv("LBD_API_TOKEN"), "X-Auth-Token to send: lbd's static token or a Keystone token (env LBD_API_TOKEN)")
	fs.StringVar(&f.output, "o", "table", "output: table, json or yaml")
	f.timeout = 2 * time.Minute
}

// registerEndpoint adds --endpoint, whose default is $LBCTL_ENDPOINT, else
// lbd's default API address.
func registerEndpoint(fs *flag.FlagSet, endpoint *string) {
	def := os.Getenv("LBCTL_ENDPOINT")
	if def == "" {
		def = defaultEndpoint
	}
	fs.StringVar(endpoint, "endpoint", def, "lbd's Octavia API (env LBCTL_ENDPOINT)")
}

// registerTimeout adds --timeout, for the commands that wait for changes.
func (f *clientFlags) registerTimeout(fs *flag.FlagSet) {
	fs.DurationVar(&f.timeout, "timeout", 2*time.Minute, "how long to wait for load balancers to become ACTIVE")
}

func (f *clientFlags) check() error {
	switch f.output {
	case "table", "json", "yaml":
		return nil
	}
	return fmt.Errorf("-o %q: must be table, json or yaml", f.output)
}

// client returns the endpoint's client; advice names, in its errors, the
// commands to run next.
func (f *clientFlags) client(advice reconcile.Advice) *reconcile.Client {
	c := reconcile.NewDirect(f.endpoint, f.token)
	c.Timeout, c.Advice = f.timeout, advice
	return c
}

// emit prints v as JSON or YAML, or calls table for -o table.
func (f *clientFlags) emit(w io.Writer, v any, table func(tw *tabwriter.Writer)) error {
	switch f.output {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	case "yaml":
		// Through JSON, so the keys are the API's.
		data, err := json.Marshal(v)
		if err != nil {
			return err
		}
		var doc any
		if err := json.Unmarshal(data, &doc); err != nil {
			return err
		}
		var buf bytes.Buffer
		enc := yaml.NewEncoder(&buf)
		enc.SetIndent(2)
		if err := enc.Encode(doc); err != nil {
			return err
		}
		_, err = w.Write(buf.Bytes())
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	table(tw)
	return tw.Flush()
}

// parseArgs parses flags wherever they appear among the arguments (Go's
// flag package stops at the first positional one) and returns the
// positional arguments.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

func row(tw *tabwriter.Writer, cols ...any) {
	s := make([]string, len(cols))
	for i, c := range cols {
		s[i] = fmt.Sprint(c)
	}
	fmt.Fprintln(tw, strings.Join(s, "\t"))
}
