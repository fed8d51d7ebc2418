// Command lbd is the load balancer daemon: it serves the listeners of the
// load balancers in its config file, reloads the file on SIGHUP and drains
// on SIGTERM or SIGINT.
//
// lbd must not import gophercloud, the cloud packages
// (internal/octavia/reconcile, internal/octavia/cloud) or the tooling of
// the CLI, the benchmarks and the tests (internal/bench, internal/loadgen,
// internal/demo, internal/lbdtest).
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"gopkg.in/yaml.v3"

	"lbd/internal/accesslog"
	"lbd/internal/buildinfo"
	"lbd/internal/certs"
	"lbd/internal/controlplane"
	"lbd/internal/ha"
	"lbd/internal/health"
	"lbd/internal/octavia"
	"lbd/internal/proxy/evloop"
)

// maxLinger bounds --event-loop-linger: a loop polls that long after each
// serve whether or not anything comes, so a longer one is a busy loop.
// maxNap bounds --event-loop-nap: what arrives during a nap waits for its
// end.
const (
	maxLinger = time.Millisecond
	maxNap    = time.Millisecond
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "vrrp-check" {
		os.Exit(ha.VRRPCheck(os.Args[2:], os.Stderr))
	}
	if err := run(context.Background(), os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "lbd:", err)
		os.Exit(1)
	}
}

// What lbd is and how it is run: --help starts with them, and so does the
// flag reference in docs/.
const (
	description = `lbd is a load balancer and health checker that speaks OpenStack Octavia's language. It serves
the HTTP and TCP listeners of the load balancers in its config file (Octavia's own objects, in
YAML), health-checks their members with Octavia's monitors, exports Prometheus metrics, and takes
changes through an Octavia v2-compatible REST API.`
	usageLines = `  lbd [flags]                         serve --config's load balancers
  lbd --check --config FILE           validate FILE, print it with defaults and IDs filled in
  lbd --version                       print the build (version, commit, Go)
  lbd vrrp-check --admin-addr ADDR    keepalived's check script: are the ACTIVE_STANDBY listeners up?`
	signals = `Signals: SIGHUP reloads the config file; SIGTERM or SIGINT drains and stops; SIGUSR1 reopens
the access log files (after logrotate moved them).`
	about = description + "\n\nUsage:\n" + usageLines + "\n\n" + signals + "\nEvery flag: docs/lbd-flags.md.\n\nFlags:\n"
)

// options are lbd's command line.
type options struct {
	configPath      string
	check, version  bool
	logLevel        string
	drain, shutdown time.Duration
	passive         health.Passive
	passiveOn       bool
	eventLoop       bool
	loopThreads     bool
	loopLinger      time.Duration
	loopNap         time.Duration
	adminAddr       string
	memberBuckets   bool
	api             controlplane.Flags
	ha              ha.Flags
	connLogging     bool
	accessLogs      []string
	accessFormat    string
	accessQueue     int
	ticketKeys      string
	resumption      bool
	barbicanRegion  string
}

// newFlags defines lbd's flags on a new flag set; the flag reference in
// docs/ is generated from it.
func newFlags(o *options) *flag.FlagSet {
	fs := flag.NewFlagSet("lbd", flag.ContinueOnError)
	fs.StringVar(&o.configPath, "config", "configs/lbd.yaml", "config file (YAML: Octavia's fully-populated load balancer bodies)")
	fs.BoolVar(&o.check, "check", false, "validate the config, print it with defaults and IDs filled in, and exit")
	fs.BoolVar(&o.version, "version", false, "print lbd's version, the commit it was built from and the Go that built it, and exit")
	fs.StringVar(&o.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	fs.DurationVar(&o.drain, "drain-timeout", 30*time.Second, "how long a removed listener waits for its connections")
	fs.DurationVar(&o.shutdown, "shutdown-timeout", 30*time.Second, "how long SIGTERM waits for in-flight work before exiting")
	fs.BoolVar(&o.passiveOn, "passive-health", true, "eject members after consecutive failures of live traffic, before the active checks notice")
	fs.IntVar(&o.passive.Failures, "passive-failures", health.DefaultPassiveFailures, "consecutive failures that eject a member")
	fs.BoolVar(&o.passive.ServerErrors, "passive-5xx", false, "count 5xx responses as passive failures")
	fs.DurationVar(&o.passive.Ejection, "passive-ejection", health.DefaultEjection, "first ejection; doubles on repeats up to --passive-max-ejection")
	fs.DurationVar(&o.passive.MaxEjection, "passive-max-ejection", health.DefaultMaxEjection, "longest ejection")
	fs.BoolVar(&o.eventLoop, "event-loop", true, "serve keep-alive HTTP connections in their steady state from one epoll loop per CPU (false: a goroutine per connection throughout)")
	fs.BoolVar(&o.loopThreads, "event-loop-threads", true, "give each event loop an OS thread of its own that waits in its own epoll_pwait, adding a P per loop to GOMAXPROCS (false: the loops park in Go's scheduler and share the Ps with every other goroutine)")
	fs.DurationVar(&o.loopLinger, "event-loop-linger", evloop.DefaultLinger, "how long an event loop on a thread of its own goes on polling for events after serving, before it sleeps (0: it sleeps at once); up to "+maxLinger.String()+". Polling saves the wake-ups a sleeping loop costs the processes that send to it (on a machine shared with them, their CPU) and spends lbd's")
	fs.DurationVar(&o.loopNap, "event-loop-nap", evloop.DefaultNap, "how long a busy event loop on a thread of its own sleeps on a timer, deaf to its sockets, when lingering found nothing, before it waits for them (0: it waits at once); up to "+maxNap.String()+". What arrives meanwhile wakes nobody, which saves its sender the wake-up, and waits at most that long. A loop is busy when polls while lingering find events 3 times in 4: with --event-loop-linger=0 it never naps")
	fs.StringVar(&o.adminAddr, "admin-addr", "127.0.0.1:9102", "address of the admin server: /metrics, /healthz, /debug/members, /debug/pprof/ (empty: off)")
	fs.BoolVar(&o.memberBuckets, "metrics-member-buckets", false, "export every bucket of each member's latency histograms (lbd_member_*_duration_seconds); by default a member's are its +Inf bucket, sum and count, and the buckets are its pool's (lbd_pool_*_duration_seconds): 38 series fewer per member")
	fs.BoolVar(&o.connLogging, "connection-logging", true, "log each HTTP request and TCP connection, as Octavia's [haproxy_amphora] connection_logging does; a listener's connection_logging (provider lbd) overrides it")
	fs.Func("access-log", "where access log lines go, repeatable (default stderr): "+accesslog.SinkSpecs, func(s string) error {
		o.accessLogs = append(o.accessLogs, s)
		return nil
	})
	fs.StringVar(&o.accessFormat, "access-log-format", accesslog.AmphoraFormat, "HAProxy log-format of the access log lines written to files and syslog (the default is Octavia's user_log_format), or json; stderr always gets JSON")
	fs.IntVar(&o.accessQueue, "access-log-queue", accesslog.DefaultQueue, "access log lines held for the writer; when it falls behind, more are dropped and counted (lbd_access_log_lines_total{result=\"dropped\"})")
	fs.StringVar(&o.ticketKeys, "tls-ticket-keys", "", "file of TLS session ticket keys (base64, 32 bytes, one a line, the first encrypts), re-read on SIGHUP; several lbds sharing it resume each other's sessions (default: keys generated in memory, rotated hourly)")
	fs.BoolVar(&o.resumption, "tls-session-resumption", true, "let TLS clients resume sessions with tickets (false: every handshake is a full one)")
	fs.StringVar(&o.barbicanRegion, "barbican-region", "", "region of the key-manager endpoint in Keystone's catalog, for certificate refs through the API (default: any)")
	o.api.Register(fs)
	o.ha.Register(fs)
	return fs
}

// parseFlags parses args. --help prints about and the flags to stdout,
// --version the build; done reports that lbd has nothing more to do.
func parseFlags(args []string, stdout io.Writer) (o *options, done bool, err error) {
	o = &options{}
	fs := newFlags(o)
	var usage bytes.Buffer
	fs.SetOutput(&usage)
	fs.Usage = func() {
		usage.WriteString(about)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			stdout.Write(usage.Bytes())
			return o, true, nil
		}
		return o, true, fmt.Errorf("%w (lbd --help lists the flags)", err)
	}
	if fs.NArg() > 0 {
		return o, true, fmt.Errorf("unexpected argument %q: lbd takes flags only (the config file is --config FILE)", fs.Arg(0))
	}
	for _, f := range []struct {
		name     string
		val, max time.Duration
	}{{"event-loop-linger", o.loopLinger, maxLinger}, {"event-loop-nap", o.loopNap, maxNap}} {
		if f.val < 0 || f.val > f.max {
			return o, true, fmt.Errorf("--%s %s: must be between 0 and %s", f.name, f.val, f.max)
		}
	}
	if o.version {
		fmt.Fprintln(stdout, buildinfo.Read().Line("lbd"))
		return o, true, nil
	}
	return o, false, nil
}

// newLogger is lbd's logger: JSON lines, durations written as Go writes
// them ("30s"), not as nanoseconds.
func newLogger(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, logOptions(level)))
}

func logOptions(level slog.Level) *slog.HandlerOptions {
	return &slog.HandlerOptions{Level: level, ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Value.Kind() == slog.KindDuration {
			a.Value = slog.StringValue(a.Value.Duration().String())
		}
		return a
	}}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, done, err := parseFlags(args, stdout)
	if done || err != nil {
		return err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(o.logLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	log := newLogger(stderr, level)

	cfg, err := octavia.LoadFile(o.configPath)
	if err != nil {
		return err
	}
	if o.check {
		if err := checkCertificates(ctx, cfg, certs.NewStore(nil)); err != nil {
			return err
		}
		enc := yaml.NewEncoder(stdout)
		enc.SetIndent(2)
		defer enc.Close()
		return enc.Encode(cfg)
	}
	return serve(ctx, o, cfg, level, stderr, log)
}
