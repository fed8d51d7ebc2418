// Command lbctl is lbd's operator CLI: it configures a running lbd,
// provisions the same resources on OpenStack, runs demo backends and
// benchmarks the balancing algorithms.
//
// lbctl must not import the control plane, the Octavia API server or the
// metrics (internal/controlplane, internal/octavia/api, internal/metrics):
// it drives lbd over its API like any Octavia client.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"syscall"
)

// command is one lbctl subcommand. Each lives in a file of its own.
type command struct {
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

// commands lists every subcommand by name.
func commands() map[string]command {
	return map[string]command{
		"validate": {"check a config file and print it with defaults filled in", runValidate},
		"backend":  {"run a demo web server (Hello World! and its name) for lbd to balance", runBackend},
		"apply":    {"make a running lbd serve a config file's load balancers (create, update; idempotent)", runApply},
		"get":      {"list load balancers, listeners, pools, members or health monitors of a running lbd", runGet},
		"status":   {"show a load balancer's status tree", runStatus},
		"delete":   {"delete a load balancer (--cascade: with everything under it)", runDelete},
		"member":   {"add, remove or drain (weight 0) a pool member", runMember},
		"up":       {"provision the file's load balancer, servers and floating IP on OpenStack", runUp},
		"down":     {"remove what lbctl up provisioned for the file", runDown},
		"bench":    {"benchmark the balancing algorithms against each other on loopback", runBench},
	}
}

// errUsage reports a usage error after the usage text was printed.
var errUsage = errors.New("usage")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	switch {
	case err == nil:
	case errors.Is(err, errUsage), errors.Is(err, flag.ErrHelp):
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "lbctl:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cmds := commands()
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr, cmds)
		return errUsage
	}
	c, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "lbctl: unknown command %q\n\n", args[0])
		usage(stderr, cmds)
		return errUsage
	}
	return c.run(ctx, args[1:], stdout, stderr)
}

func usage(w io.Writer, cmds map[string]command) {
	fmt.Fprintln(w, "usage: lbctl COMMAND [flags]\n\ncommands:")
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, cmds[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'lbctl COMMAND -h' for a command's flags.")
}
