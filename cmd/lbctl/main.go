// Command lbctl is lbd's operator CLI: it configures a running lbd,
// provisions the same resources on OpenStack, runs demo backends and
// benchmarks the balancing algorithms.
//
// lbctl must not import the control plane, the Octavia API server or the
// metrics (internal/controlplane, internal/octavia/api, internal/metrics):
// it drives lbd over its API like any Octavia client.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
)

// command is one lbctl subcommand. Each lives in a file of its own.
type command struct {
	summary string // what it does, one sentence
	usage   string // its command line, e.g. "lbctl status NAME|ID [flags]"
	args    string // its arguments, one per line ("NAME  what it is"); "" when it takes none
	example string // one or more example command lines
	// define registers the command's flags on fs and returns what runs
	// with them parsed, given the positional arguments.
	define func(fs *flag.FlagSet) runner
}

// runner runs a command whose flags are parsed; pos are its positional
// arguments.
type runner func(ctx context.Context, pos []string, stdout, stderr io.Writer) error

// commands lists every subcommand by name.
func commands() map[string]command {
	return map[string]command{
		"validate":   validateCommand,
		"backend":    backendCommand,
		"apply":      applyCommand,
		"get":        getCommand,
		"status":     statusCommand,
		"top":        topCommand,
		"delete":     deleteCommand,
		"member":     memberCommand,
		"up":         upCommand,
		"down":       downCommand,
		"bench":      benchCommand,
		"autoscale":  autoscaleCommand,
		"load":       loadCommand,
		"version":    versionCommand,
		"completion": completionCommand(),
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
	case errors.Is(err, errUsage):
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "lbctl:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cmds := commands()
	if len(args) == 0 {
		usage(stderr, cmds)
		return errUsage
	}
	if args[0] == "-h" || args[0] == "--help" || args[0] == "-help" || args[0] == "help" {
		if len(args) > 1 { // lbctl help COMMAND
			return run(ctx, []string{args[1], "-h"}, stdout, stderr)
		}
		usage(stdout, cmds)
		return nil
	}
	name := args[0]
	c, ok := cmds[name]
	if !ok {
		fmt.Fprintf(stderr, "lbctl: unknown command %q\n\n", name)
		usage(stderr, cmds)
		return errUsage
	}
	fs, r := c.flagSet(name)
	pos, err := parseArgs(fs, args[1:])
	if errors.Is(err, flag.ErrHelp) {
		c.help(stdout, name, fs)
		return nil
	}
	if err != nil {
		return fmt.Errorf("%s: %w (lbctl %s -h says how to run it)", name, err, name)
	}
	return r(ctx, pos, stdout, stderr)
}

// flagSet is the command's flag set, quiet (lbctl words the errors), and
// what runs with it parsed.
func (c command) flagSet(name string) (*flag.FlagSet, runner) {
	fs := flag.NewFlagSet("lbctl "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return fs, c.define(fs)
}

// help prints the command's usage, what it does, its arguments, an example
// and its flags.
func (c command) help(w io.Writer, name string, fs *flag.FlagSet) {
	fmt.Fprintf(w, "usage: %s\n\n%s\n", c.usage, c.summary)
	if c.args != "" {
		fmt.Fprintf(w, "\nArguments:\n%s\n", indent(c.args))
	}
	if c.example != "" {
		fmt.Fprintf(w, "\nExample:\n%s\n", indent(c.example))
	}
	var flags bytes.Buffer
	fs.SetOutput(&flags)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
	if flags.Len() > 0 {
		fmt.Fprintf(w, "\nFlags:\n%s", flags.String())
	}
}

func indent(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = "  " + l
	}
	return strings.Join(lines, "\n")
}

func usage(w io.Writer, cmds map[string]command) {
	fmt.Fprintln(w, "usage: lbctl COMMAND [arguments] [flags]\n\nlbctl drives a running lbd through its Octavia API, provisions the same load balancers on\nOpenStack, runs demo backends and benchmarks the balancing algorithms.\n\ncommands:")
	for _, n := range commandNames(cmds) {
		fmt.Fprintf(w, "  %-10s %s\n", n, cmds[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'lbctl COMMAND -h' for a command's arguments, flags and an example.")
}

func commandNames(cmds map[string]command) []string {
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}
