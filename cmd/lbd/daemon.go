package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"

	"lbd/internal/accesslog"
	"lbd/internal/certs"
	"lbd/internal/certs/barbican"
	"lbd/internal/controlplane"
	"lbd/internal/ha"
	"lbd/internal/lowprio"
	"lbd/internal/metrics"
	"lbd/internal/octavia"
	"lbd/internal/proxy"
	"lbd/internal/proxy/tlsterm"
	"lbd/internal/statestore/etcdstore"
)

// serve is lbd's composition root: it builds the data plane, the shared
// state (with --state etcd://), the control plane, the admin server and
// the Octavia API in that order, applies cfg, and then answers signals
// until one stops it. Everything it starts is stopped in reverse order.
func serve(ctx context.Context, o *options, cfg *octavia.Config, level slog.Level, stderr io.Writer, log *slog.Logger) error {
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

	store, tickets, err := openCertificates(o, &cpOpts)
	if err != nil {
		return err
	}
	// Reloads, API changes and the state log's compactions run at low
	// priority, beside the data plane rather than in its way.
	background := &lowprio.Runner{}
	cpOpts.Background = background.Do
	o.passive.Disabled = !o.passiveOn
	loops := 0 // one per P
	if o.eventLoop && o.loopThreads {
		// A loop per P as GOMAXPROCS was (the CPUs lbd may use), each on a
		// P it keeps; the other goroutines keep as many Ps as before. Set
		// so, GOMAXPROCS no longer follows a container's CPU limit as it
		// changes: a restart takes a new one.
		loops = runtime.GOMAXPROCS(0)
		runtime.GOMAXPROCS(2 * loops)
	}
	rt := proxy.New(log, proxy.Options{DrainTimeout: o.drain, Passive: o.passive, NoEventLoop: !o.eventLoop,
		EventLoops: loops, LoopThreads: o.loopThreads, LoopLinger: o.loopLinger, LoopNap: o.loopNap,
		AccessLog: access, ConnectionLogging: o.connLogging,
		Certs: store, Tickets: tickets, NoSessionResumption: !o.resumption})
	rt.SetOrigins(cfg.Origins)

	node, dp, err := joinShared(ctx, o, haOpts, &cpOpts, rt, log)
	if err != nil {
		return err
	}
	if node != nil {
		defer node.Close() // after the control plane closed (defers run last first)
	}
	// The control plane owns the desired state: the file plus what the API
	// changed (stored under --state-dir or in etcd), and applies it to the
	// runtime.
	cp, err := controlplane.New(cpOpts, dp, log)
	if err != nil {
		return err
	}
	defer cp.Close()
	stopNode := follow(ctx, node, cp)
	defer stopNode()

	metricsHandler := metrics.Handler(rt, metrics.Options{MemberBuckets: o.memberBuckets}, cp.Collector())
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
	closeAPI := serveAPI(ctx, cp, cpOpts.APIAddr, o.configPath, log)
	defer closeAPI()

	d := &daemon{o: o, log: log, rt: rt, cp: cp, access: access, tickets: tickets,
		fileSnap: cfg.Snapshot(), closeAPI: closeAPI, stopNode: stopNode, background: background}
	for sig := range sigs {
		if d.handle(ctx, sig) {
			return nil
		}
	}
	return nil
}

// openCertificates makes the store that resolves certificate refs: files,
// and Barbican secrets read with lbd's Keystone credentials when it has
// them (the API then also grants lbd's service user read access, as
// Octavia does). tickets is nil unless --tls-ticket-keys names a file.
func openCertificates(o *options, cpOpts *controlplane.Options) (*certs.Store, *tlsterm.Tickets, error) {
	var fetcher certs.Fetcher
	if s := cpOpts.Service; s != nil {
		bc, err := barbican.New(barbican.Options{AuthURL: s.URL, Username: s.Username, Password: s.Password,
			ProjectName: s.ProjectName, UserDomainName: s.UserDomainName, ProjectDomainName: s.ProjectDomainName, Region: o.barbicanRegion})
		if err != nil {
			return nil, nil, err
		}
		fetcher, cpOpts.Grant = bc, bc.Grant
	}
	store := certs.NewStore(fetcher)
	cpOpts.Certs = store
	if o.ticketKeys == "" {
		return store, nil, nil
	}
	tickets, err := loadTicketKeys(o.ticketKeys, nil)
	if err != nil {
		return nil, nil, err
	}
	return store, tickets, nil
}

// joinShared starts this instance's part in a shared state when --state
// names etcd (internal/ha): the control plane's store becomes etcd, and the
// data plane it drives is wrapped to run keepalived and merge the other
// instances' health reports. Without it, node is nil and dp is rt.
func joinShared(ctx context.Context, o *options, haOpts ha.Options, cpOpts *controlplane.Options, rt *proxy.Runtime, log *slog.Logger) (*ha.Node, octavia.DataPlane, error) {
	if !o.ha.Enabled() {
		return nil, rt, nil
	}
	etcdstore.SetGRPCLog(log)
	haOpts.APIAddr, haOpts.AdminAddr = cpOpts.APIAddr, o.adminAddr
	node, err := ha.Start(ctx, haOpts, rt, log)
	if err != nil {
		return nil, nil, fmt.Errorf("start: %w", err)
	}
	cpOpts.Store = node.Store()
	cpOpts.Instances = func() []controlplane.Instance {
		var out []controlplane.Instance
		for _, i := range node.Instances() {
			out = append(out, controlplane.Instance{Name: i.Name, APIAddr: i.APIAddr, Role: i.Role,
				VRRPIP: i.VRRPIP, VRRPInterface: i.VRRPInterface, VRRPPriority: i.VRRPPriority, Alive: i.Alive})
		}
		return out
	}
	return node, node.DataPlane(), nil
}

// follow runs a shared instance's two loops (keepalived and health
// reports; the shared state's changes) until the returned stop is called,
// which waits for both. Without a node, stop does nothing.
func follow(ctx context.Context, node *ha.Node, cp *controlplane.ControlPlane) (stop func()) {
	if node == nil {
		return func() {}
	}
	node.SetRevision(cp.Revision)
	nctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{}, 2)
	go func() { node.Run(nctx); done <- struct{}{} }()
	go func() { cp.Follow(nctx); done <- struct{}{} }()
	stopped := false
	return func() {
		if !stopped {
			stopped = true
			cancel()
			<-done
			<-done
		}
	}
}

// serveAPI binds the Octavia API here, so that a port in use is said at
// start-up, in so many words, and serves it until the returned stop is
// called. The data plane serves on without the API: failing to bind or to
// serve is logged, never fatal.
func serveAPI(ctx context.Context, cp *controlplane.ControlPlane, addr, configPath string, log *slog.Logger) (stop func()) {
	apiLn, apiErr := listenAPI(ctx, addr)
	if apiErr != nil {
		log.Error("Octavia API not started: "+apiErr.Error()+"; the data plane serves on", "addr", addr)
	}
	lbs := len(cp.Config().LoadBalancers)
	log.Info("lbd started", "config", configPath, "load_balancers", lbs, "pid", os.Getpid())
	if lbs == 0 && apiLn == nil {
		why := "the Octavia API is off (--api-addr \"\")"
		if apiErr != nil {
			why = "the Octavia API did not start"
		}
		log.Warn("nothing to serve: the config has no load balancers and "+why+"; lbd serves nothing until the file gets one and SIGHUP reloads it",
			"config", configPath)
	}
	apiCtx, stopAPI := context.WithCancel(ctx)
	apiDone := make(chan struct{})
	go func() {
		defer close(apiDone)
		if apiLn == nil {
			return
		}
		if err := cp.ServeListener(apiCtx, apiLn); err != nil {
			log.Error("Octavia API stopped", "addr", addr, "err", err.Error())
		}
	}()
	stopped := false
	return func() {
		if !stopped {
			stopped = true
			stopAPI()
			<-apiDone
		}
	}
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

// daemon is what a signal acts on once lbd serves.
type daemon struct {
	o        *options
	log      *slog.Logger
	rt       *proxy.Runtime
	cp       *controlplane.ControlPlane
	access   *accesslog.Logger
	tickets  *tlsterm.Tickets
	fileSnap octavia.Snapshot // the file as last applied: a reload tells from it which objects the API had changed
	closeAPI func()
	stopNode func()
	// background runs reloads (internal/lowprio).
	background *lowprio.Runner
}

// handle acts on one signal: SIGHUP reloads the file, certificates and
// ticket keys, SIGUSR1 reopens the access log, anything else drains and
// stops (stop is then true).
func (d *daemon) handle(ctx context.Context, sig os.Signal) (stop bool) {
	switch sig {
	case syscall.SIGHUP:
		if d.tickets != nil {
			if _, err := loadTicketKeys(d.o.ticketKeys, d.tickets); err != nil {
				d.log.Error("session ticket keys not reloaded; keeping the current ones", "err", err.Error())
			}
		}
		d.rt.RereadCertificates() // certificate files and staples replaced next to an unchanged config
		// At low priority: the data plane's goroutines do not queue behind
		// the parse, the merge and the Apply (internal/lowprio).
		d.background.Do(func() { reload(ctx, d.cp, d.rt, d.o.configPath, &d.fileSnap, d.log) })
		return false
	case syscall.SIGUSR1:
		d.access.Reopen()
		return false
	}
	d.log.Info("shutting down", "signal", sig.String(), "timeout", d.o.shutdown)
	d.closeAPI() // no API change may start while the listeners drain
	// keepalived stops first: a MASTER hands the VIPs over before its
	// listeners stop accepting.
	d.stopNode()
	sctx, cancel := context.WithTimeout(ctx, d.o.shutdown)
	err := d.rt.Shutdown(sctx)
	cancel()
	if err != nil {
		d.log.Warn("shutdown timed out; open connections were closed", "err", err)
	}
	d.log.Info("lbd stopped")
	return true
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
