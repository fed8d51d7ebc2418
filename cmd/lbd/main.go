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
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"gopkg.in/yaml.v3"

	"lbd/internal/accesslog"
	"lbd/internal/buildinfo"
	"lbd/internal/certs"
	"lbd/internal/certs/barbican"
	"lbd/internal/controlplane"
	"lbd/internal/ha"
	"lbd/internal/health"
	"lbd/internal/metrics"
	"lbd/internal/octavia"
	"lbd/internal/proxy"
	"lbd/internal/proxy/tlsterm"
	"lbd/internal/statestore/etcdstore"
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
	adminAddr       string
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
	fs.StringVar(&o.adminAddr, "admin-addr", "127.0.0.1:9102", "address of the admin server: /metrics, /healthz, /debug/members, /debug/pprof/ (empty: off)")
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
	cpOpts, err := o.api.Options(os.Getenv)
	if err != nil {
		return err
	}
	haOpts, err := o.ha.Options(os.Getenv)
	if err != nil {
		return err
	}
	if haOpts.VRRP != nil && o.adminAddr == "" {
		return errors.New("--vrrp-interface needs the admin server (--admin-addr): keepalived's check script asks it whether the listeners are up")
	}

	access, err := openAccessLog(o, level, stderr, log)
	if err != nil {
		return err
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := access.Close(ctx); err != nil {
			log.Warn("access log not flushed", "err", err.Error())
		}
	}()

	// Signals are taken before the first listener opens, so a SIGTERM
	// during start-up still drains.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT, syscall.SIGUSR1)
	defer signal.Stop(sigs)

	// Certificate refs: files, and Barbican secrets read with lbd's
	// Keystone credentials when it has them.
	var fetcher certs.Fetcher
	if s := cpOpts.Service; s != nil {
		bc, err := barbican.New(barbican.Options{AuthURL: s.URL, Username: s.Username, Password: s.Password,
			ProjectName: s.ProjectName, UserDomainName: s.UserDomainName, ProjectDomainName: s.ProjectDomainName, Region: o.barbicanRegion})
		if err != nil {
			return err
		}
		fetcher, cpOpts.Grant = bc, bc.Grant
	}
	store := certs.NewStore(fetcher)
	cpOpts.Certs = store
	var tickets *tlsterm.Tickets
	if o.ticketKeys != "" {
		if tickets, err = loadTicketKeys(o.ticketKeys, nil); err != nil {
			return err
		}
	}

	o.passive.Disabled = !o.passiveOn
	rt := proxy.New(log, proxy.Options{DrainTimeout: o.drain, Passive: o.passive, NoEventLoop: !o.eventLoop,
		AccessLog: access, ConnectionLogging: o.connLogging,
		Certs: store, Tickets: tickets, NoSessionResumption: !o.resumption})
	rt.SetOrigins(cfg.Origins)
	// With --state etcd://, this instance shares the desired state with
	// others (internal/ha): the store is etcd, and the data plane is
	// wrapped to run keepalived and merge the others' health reports.
	var dp octavia.DataPlane = rt
	var node *ha.Node
	if o.ha.Enabled() {
		etcdstore.SetGRPCLog(log)
		haOpts.APIAddr, haOpts.AdminAddr = cpOpts.APIAddr, o.adminAddr
		if node, err = ha.Start(ctx, haOpts, rt, log); err != nil {
			return fmt.Errorf("start: %w", err)
		}
		defer node.Close() // after the control plane closed (defers run last first)
		cpOpts.Store, dp = node.Store(), node.DataPlane()
		cpOpts.Instances = func() []controlplane.Instance {
			var out []controlplane.Instance
			for _, i := range node.Instances() {
				out = append(out, controlplane.Instance{Name: i.Name, APIAddr: i.APIAddr, Role: i.Role,
					VRRPIP: i.VRRPIP, VRRPInterface: i.VRRPInterface, VRRPPriority: i.VRRPPriority, Alive: i.Alive})
			}
			return out
		}
	}
	// The control plane owns the desired state: the file plus what the API
	// changed (stored under --state-dir or in etcd), and applies it to the
	// runtime.
	cp, err := controlplane.New(cpOpts, dp, log)
	if err != nil {
		return err
	}
	defer cp.Close()
	stopNode := func() {}
	if node != nil {
		node.SetRevision(cp.Revision)
		nctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{}, 2)
		go func() { node.Run(nctx); done <- struct{}{} }()
		go func() { cp.Follow(nctx); done <- struct{}{} }()
		once := false
		stopNode = func() {
			if !once {
				once = true
				cancel()
				<-done
				<-done
			}
		}
		defer stopNode()
	}
	metricsHandler := metrics.Handler(rt, cp.Collector())
	rt.SetMetrics(metricsHandler)
	if o.adminAddr != "" {
		var vrrpCheck http.HandlerFunc
		if node != nil {
			vrrpCheck = node.ServeVRRPCheck
		}
		stopAdmin, err := serveAdmin(ctx, o.adminAddr, metricsHandler, metrics.MembersHandler(rt), vrrpCheck, log)
		if err != nil {
			return err
		}
		defer stopAdmin()
	}
	if err := cp.SetFileConfig(ctx, cfg); err != nil {
		return fmt.Errorf("start: %w", err)
	}
	// The API's socket is bound here, so that a port in use is said at
	// start-up, in so many words. The data plane serves on without the API.
	apiLn, apiErr := listenAPI(ctx, cpOpts.APIAddr)
	if apiErr != nil {
		log.Error("Octavia API not started: "+apiErr.Error()+"; the data plane serves on", "addr", cpOpts.APIAddr)
	}
	lbs := len(cp.Config().LoadBalancers)
	log.Info("lbd started", "config", o.configPath, "load_balancers", lbs, "pid", os.Getpid())
	if lbs == 0 && apiLn == nil {
		why := "the Octavia API is off (--api-addr \"\")"
		if apiErr != nil {
			why = "the Octavia API did not start"
		}
		log.Warn("nothing to serve: the config has no load balancers and "+why+"; lbd serves nothing until the file gets one and SIGHUP reloads it",
			"config", o.configPath)
	}
	apiCtx, stopAPI := context.WithCancel(ctx)
	apiDone := make(chan struct{})
	go func() {
		defer close(apiDone)
		if apiLn == nil {
			return
		}
		// The data plane keeps serving if the API cannot: log, do not exit.
		if err := cp.ServeListener(apiCtx, apiLn); err != nil {
			log.Error("Octavia API stopped", "addr", cpOpts.APIAddr, "err", err.Error())
		}
	}()
	// The file as last applied: a reload tells from it which objects the
	// API had changed.
	fileSnap := cfg.Snapshot()
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
			if tickets != nil {
				if _, err := loadTicketKeys(o.ticketKeys, tickets); err != nil {
					log.Error("session ticket keys not reloaded; keeping the current ones", "err", err.Error())
				}
			}
			rt.RereadCertificates() // certificate files and staples replaced next to an unchanged config
			reload(ctx, cp, rt, o.configPath, &fileSnap, log)
		case syscall.SIGUSR1:
			access.Reopen()
		default:
			log.Info("shutting down", "signal", sig.String(), "timeout", o.shutdown)
			closeAPI() // no API change may start while the listeners drain
			// keepalived stops first: a MASTER hands the VIPs over before
			// its listeners stop accepting.
			stopNode()
			sctx, cancel := context.WithTimeout(ctx, o.shutdown)
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

// openAccessLog opens the access log's sinks (stderr when none is named)
// and starts its writer. log reports sinks that fail.
func openAccessLog(o *options, level slog.Level, stderr io.Writer, log *slog.Logger) (*accesslog.Logger, error) {
	specs := o.accessLogs
	if len(specs) == 0 {
		specs = []string{"stderr"}
	}
	opts := accesslog.SinkOptions{JSON: logOptions(level), Stderr: stderr}
	if o.accessFormat != "json" {
		f, err := accesslog.ParseFormat(o.accessFormat)
		if err != nil {
			return nil, fmt.Errorf("--access-log-format: %w", err)
		}
		opts.Format = f
	}
	sinks := make([]*accesslog.Sink, 0, len(specs))
	for _, spec := range specs {
		s, err := accesslog.OpenSink(spec, opts)
		if err != nil {
			return nil, fmt.Errorf("--access-log: %w", err)
		}
		sinks = append(sinks, s)
	}
	return accesslog.New(sinks, o.accessQueue, log)
}

// listenAPI binds the API's address; nil without an error when the API is
// off. A port another process holds is said so, naming what to change.
func listenAPI(ctx context.Context, addr string) (net.Listener, error) {
	if addr == "" {
		return nil, nil
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		return nil, fmt.Errorf("%s in use (another lbd, or Octavia itself, on its default port?): choose another --api-addr, or --api-addr \"\" to run without the API", addr)
	case err != nil:
		return nil, err
	}
	return ln, nil
}

// reload re-reads the config file and merges it into the desired state; a
// bad file is refused and the running config stays. It logs what changed in
// one line, and, in another, the changes made through the API that the file
// took back. fileSnap is the file as last applied; reload updates it.
func reload(ctx context.Context, cp *controlplane.ControlPlane, rt *proxy.Runtime, path string, fileSnap *octavia.Snapshot, log *slog.Logger) {
	cfg, err := octavia.LoadFileForReload(path)
	if err != nil {
		rt.RecordRejected()
		log.Error("reload refused: config is invalid; still serving the previous config", "config", path, "err", err.Error())
		return
	}
	before := cp.Config().Snapshot()
	rt.SetOrigins(cfg.Origins)
	if err := cp.SetFileConfig(ctx, cfg); err != nil {
		if errors.Is(err, controlplane.ErrRefused) {
			rt.RecordRejected() // refused before reaching the runtime, which counts its own
		}
		log.Error("reload failed; still serving the previous config", "config", path, "err", err.Error())
		return
	}
	running := cp.Config()
	after := running.Snapshot()
	if taken := octavia.Overridden(*fileSnap, before, after); len(taken) > 0 {
		list := make([]string, len(taken))
		for i, c := range taken {
			list[i] = c.String()
		}
		log.Warn("the reloaded file replaced changes made through the API", "config", path, "objects", strings.Join(list, "; "))
	}
	*fileSnap = cfg.Snapshot()
	changes := before.Diff(after)
	log.Info("reloaded", "config", path, "load_balancers", len(running.LoadBalancers), "changes", octavia.Summarize(changes),
		"listeners_added", octavia.Count(changes, octavia.KindListener, octavia.Added),
		"listeners_removed", octavia.Count(changes, octavia.KindListener, octavia.Removed),
		"members_added", octavia.Count(changes, octavia.KindMember, octavia.Added),
		"members_removed", octavia.Count(changes, octavia.KindMember, octavia.Removed),
		"members_changed", octavia.Count(changes, octavia.KindMember, octavia.Changed))
}
