package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"lbd/internal/autoscale"
	"lbd/internal/autoscale/etcdlock"
	"lbd/internal/autoscale/local"
	"lbd/internal/octavia/cloud"
	"lbd/internal/octavia/reconcile"
	"lbd/internal/statestore/etcdstore"
)

var autoscaleCommand = command{
	summary: "Keep the number of the file's servers (openstack.servers) matched to the load, as openstack.autoscaling says: " +
		"read the load from Prometheus, decide as Kubernetes' horizontal pod autoscaler does, create servers and add them as members, " +
		"drain and remove them, replace those whose member stays in ERROR. It runs in the foreground until stopped (SIGTERM, Ctrl-C); " +
		"the servers stay. docs/autoscale.md tells more.",
	usage: "lbctl autoscale -f FILE [--os-cloud CLOUD | --provider local] [--dry-run] [flags]",
	example: "lbctl autoscale -f configs/tutorial-autoscale.yaml --os-cloud mycloud --metrics-addr 127.0.0.1:9104\n" +
		"lbctl autoscale -f configs/tutorial-autoscale.yaml --os-cloud mycloud --dry-run\n" +
		"lbctl autoscale -f configs/autoscale-demo.yaml --provider local --endpoint http://127.0.0.1:9886 --report out/",
	define: defineAutoscale,
}

// autoscaleFlags are lbctl autoscale's flags.
type autoscaleFlags struct {
	file, provider           string
	auth                     cloud.AuthOptions
	endpoint, token          string
	dryRun                   bool
	report, metricsAddr      string
	lockKind, lockFile, etcd string
	etcdCACert, etcdCert     string
	etcdKey                  string
	leaseTTL                 time.Duration
	backendArgs, backendLogs string
	stopBackends             bool
	poll, timeout            time.Duration
	verbose                  bool
}

func defineAutoscale(fs *flag.FlagSet) runner {
	var f autoscaleFlags
	fs.StringVar(&f.file, "f", "", "config file with openstack.servers and openstack.autoscaling (required), e.g. configs/tutorial-autoscale.yaml")
	fs.StringVar(&f.provider, "provider", "openstack", "openstack: Nova servers and Octavia members (--os-cloud); local: lbctl backend processes on loopback behind a local lbd (--endpoint)")
	registerAuth(fs, &f.auth)
	registerEndpoint(fs, &f.endpoint)
	fs.StringVar(&f.token, "token", os.Getenv("LBD_API_TOKEN"), "local: X-Auth-Token for lbd (env LBD_API_TOKEN)")
	fs.BoolVar(&f.dryRun, "dry-run", false, "print the group, the decision it would make now and what it would do; change nothing")
	fs.StringVar(&f.report, "report", "", "write the run's chart (autoscale.png: load, servers, latency, actions over time) and record (report.json) into DIR, every 30 s and at the end")
	fs.StringVar(&f.metricsAddr, "metrics-addr", "", "serve the controller's own /metrics on this address, e.g. 127.0.0.1:9104 (empty: off)")
	fs.StringVar(&f.lockKind, "lock", "auto", "the lock that keeps two controllers of one group from both acting: file (one machine), neutron (a lease in a Neutron security group), etcd (a lease, where lbd's state is in etcd); auto: etcd with --etcd, else neutron for openstack and file for local")
	fs.StringVar(&f.lockFile, "lock-file", "", "file lock's path (default: $TMPDIR/lbctl-autoscale-GROUP.lock)")
	fs.StringVar(&f.etcd, "etcd", os.Getenv("LBD_ETCD"), "the etcd lbd's instances share, as lbd's --state: etcd://HOST:PORT[,HOST:PORT...]/PREFIX, etcds:// for TLS (env LBD_ETCD): the lock is PREFIX/locks/autoscale/GROUP")
	fs.StringVar(&f.etcdCACert, "etcd-cacert", "", "CA bundle verifying etcd's certificate (as lbd's --etcd-cacert)")
	fs.StringVar(&f.etcdCert, "etcd-cert", "", "client certificate for etcd (as lbd's --etcd-cert)")
	fs.StringVar(&f.etcdKey, "etcd-key", "", "the client certificate's key (as lbd's --etcd-key)")
	fs.DurationVar(&f.leaseTTL, "lease-ttl", 30*time.Second, "neutron and etcd locks: how long a controller that stopped renewing keeps the lock")
	fs.StringVar(&f.backendArgs, "backend-args", "", `local: more flags for every backend, e.g. "--latency 20ms --max-inflight 4"`)
	fs.StringVar(&f.backendLogs, "backend-log-dir", "", "local: write each backend's output to DIR/NAME.log (default: discarded)")
	fs.BoolVar(&f.stopBackends, "stop-backends", false, "local: remove the group's members and stop its backends, then exit (they outlive the controller, as servers do)")
	fs.DurationVar(&f.poll, "poll", 0, "how often to look while servers boot or drain (default: the smaller of autoscaling.interval and 2s)")
	fs.DurationVar(&f.timeout, "timeout", 2*time.Minute, "bound of each wait for the load balancer to be ACTIVE after a member change")
	fs.BoolVar(&f.verbose, "v", false, "log details (retries, requests)")
	return func(ctx context.Context, pos []string, stdout, stderr io.Writer) error {
		if len(pos) > 0 {
			return fmt.Errorf("autoscale takes no arguments (%q): the file is -f FILE", pos[0])
		}
		if f.file == "" {
			return errors.New("-f FILE is required: the config file whose servers to scale")
		}
		return runAutoscale(ctx, &f, stdout, stderr)
	}
}

// runAutoscale runs the autoscaling controller (or, with --dry-run, says
// what it would do now).
func runAutoscale(ctx context.Context, f *autoscaleFlags, stdout, stderr io.Writer) error {
	level := slog.LevelInfo
	if f.verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	spec, err := cloud.LoadSpec(f.file)
	if err != nil {
		return err
	}
	as := spec.Autoscaling
	if as == nil {
		return fmt.Errorf("%s: no openstack.autoscaling section: add one (see configs/tutorial-autoscale.yaml)", f.file)
	}
	waiter := reconcile.Waiter{Timeout: f.timeout, Log: log, Poll: 200 * time.Millisecond}
	var clients *cloud.Clients
	c := &autoscale.Controller{Group: as.Group, Policy: as.Policy, Memberships: as.Memberships, Pattern: as.Pattern, Log: log, Poll: f.poll}
	switch f.provider {
	case "local":
		lc := reconcile.NewDirect(f.endpoint, f.token)
		lc.Waiter.Timeout, lc.Waiter.Log = f.timeout, log
		lc.Advice = reconcile.Advice{Again: "lbctl autoscale", Remove: "lbctl autoscale --stop-backends"}
		c.Members = &autoscale.OctaviaPool{Client: lc, LoadBalancer: spec.LB.Name, MetricsPool: as.Policy.Pool, Tag: autoscale.Tag(as.Group)}
		lp := &local.Provider{Group: as.Group, Args: strings.Fields(f.backendArgs), LogDir: f.backendLogs}
		c.Provider, c.Memberships = lp, lp.Memberships(c.Memberships)
		if f.stopBackends {
			c.Locker = f.fileLock(as.Group)
			ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			return c.RemoveAll(ctx)
		}
	case "openstack":
		f.auth.Log = log
		clients, err = cloud.Connect(ctx, f.auth)
		if err != nil {
			return err
		}
		p := &cloud.Provisioner{Clients: clients, Waiter: waiter}
		g, err := p.AutoscaleGroup(ctx, spec)
		if err != nil {
			return err
		}
		c.Provider = g
		c.Members = &autoscale.OctaviaPool{Client: p.LBClient(spec), LoadBalancer: spec.LB.Name, MetricsPool: as.Policy.Pool, Tag: autoscale.Tag(as.Group)}
	default:
		return fmt.Errorf("--provider %q: must be openstack or local", f.provider)
	}
	if f.stopBackends {
		return errors.New("--stop-backends: only with --provider local")
	}
	src, err := autoscale.NewPromSource(as.Policy.Prometheus, as.Policy.CPUQuery)
	if err != nil {
		return err
	}
	c.Source = src
	if f.dryRun {
		return c.DryRun(ctx, stdout)
	}
	locker, closeLock, err := f.locker(ctx, as.Group, clients)
	if err != nil {
		return err
	}
	defer closeLock()
	c.Locker = locker
	c.Stats = autoscale.NewStats(as.Group)
	if f.metricsAddr != "" {
		stop, err := serveMetrics(f.metricsAddr, c.Stats.Handler(), log)
		if err != nil {
			return err
		}
		defer stop()
	}
	if f.report != "" {
		c.Recorder = autoscale.NewRecorder(time.Now())
		defer writeAutoscaleReport(c.Recorder, f.report, log)
		go func() {
			t := time.NewTicker(30 * time.Second)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
					writeAutoscaleReport(c.Recorder, f.report, log)
				}
			}
		}()
	}
	log.Info("autoscaling", "group", as.Group, "provider", f.provider, "min", as.Policy.Min, "max", as.Policy.Max,
		"interval", as.Policy.Interval, "prometheus", as.Policy.Prometheus, "lock", c.Locker.String())
	return c.Run(ctx)
}

// locker is the lock --lock asks for (auto: etcd with --etcd,
// else the Neutron lease on OpenStack, a file lock locally) and what
// closes it.
func (f *autoscaleFlags) locker(ctx context.Context, group string, clients *cloud.Clients) (autoscale.Locker, func(), error) {
	kind := f.lockKind
	if kind == "auto" {
		switch {
		case f.etcd != "":
			kind = "etcd"
		case clients != nil:
			kind = "neutron"
		default:
			kind = "file"
		}
	}
	switch kind {
	case "etcd":
		if f.etcd == "" {
			return nil, nil, errors.New("--lock etcd needs --etcd etcd://HOST:PORT/PREFIX (lbd's --state)")
		}
		cfg, err := etcdstore.ParseURL(f.etcd)
		if err != nil {
			return nil, nil, fmt.Errorf("--etcd: %w", err)
		}
		cfg.CACert, cfg.Cert, cfg.Key = f.etcdCACert, f.etcdCert, f.etcdKey
		l, err := etcdlock.New(ctx, cfg, group, f.leaseTTL)
		if err != nil {
			return nil, nil, fmt.Errorf("--etcd: %w", err)
		}
		return l, func() { l.Close() }, nil
	case "neutron":
		if clients == nil {
			return nil, nil, errors.New("--lock neutron: only with --provider openstack")
		}
		return &cloud.NeutronLock{Clients: clients, Group: group, TTL: f.leaseTTL}, func() {}, nil
	case "file":
		return f.fileLock(group), func() {}, nil
	}
	return nil, nil, fmt.Errorf("--lock %q: must be auto, file, neutron or etcd", f.lockKind)
}

func (f *autoscaleFlags) fileLock(group string) *autoscale.FileLock {
	path := f.lockFile
	if path == "" {
		path = autoscale.DefaultLockPath(group)
	}
	return &autoscale.FileLock{Path: path}
}

func writeAutoscaleReport(r *autoscale.Recorder, dir string, log *slog.Logger) {
	files, err := r.Write(dir)
	if err != nil {
		log.Error("report", "err", err)
		return
	}
	log.Info("report written", "files", strings.Join(files, " "))
}

// serveMetrics serves /metrics on addr until stop is called.
func serveMetrics(addr string, h http.Handler, log *slog.Logger) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--metrics-addr %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", h)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	log.Info("serving the controller's metrics", "url", "http://"+ln.Addr().String()+"/metrics")
	return func() { srv.Close() }, nil
}
