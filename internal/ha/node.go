package ha

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"lbd/internal/ha/keepalived"
	"lbd/internal/octavia"
	"lbd/internal/statestore"
	"lbd/internal/statestore/etcdstore"
)

// Options configure a Node.
type Options struct {
	// Name is this instance's name among those sharing the state.
	Name string
	Etcd etcdstore.Config
	// HeartbeatInterval is how often the instance reports; an instance
	// silent for HeartbeatTimeout (its lease's time to live) is not
	// counted.
	HeartbeatInterval, HeartbeatTimeout time.Duration
	// VRRP, when set, runs keepalived for the ACTIVE_STANDBY load
	// balancers.
	VRRP *VRRPOptions
	// APIAddr and AdminAddr are where this instance serves its API and
	// its admin server (the check script asks AdminAddr).
	APIAddr, AdminAddr string
}

// VRRPOptions configure keepalived (see Flags for each).
type VRRPOptions struct {
	Interface, IP            string
	RouterID, Priority       int
	AdvertInt, CheckInterval time.Duration
	Fall, Rise               int
	GARPRefresh              time.Duration
	GARPRefreshRepeat        int
	Keepalived, Dir          string
	// CheckCommand is the check script; default: this binary's
	// vrrp-check asking AdminAddr.
	CheckCommand string
}

// Runtime is the data plane the node wraps: proxy.Runtime.
type Runtime interface {
	octavia.DataPlane
	// OperatingStatuses walks every object's operating status.
	OperatingStatuses(yield func(id string, s octavia.OperatingStatus))
}

// Report is what an instance publishes about itself under instances/.
type Report struct {
	Name          string `json:"name"`
	APIAddr       string `json:"api_addr,omitempty"`
	Role          string `json:"role"`
	VRRPState     string `json:"vrrp_state,omitempty"`
	VRRPIP        string `json:"vrrp_ip,omitempty"`
	VRRPInterface string `json:"vrrp_interface,omitempty"`
	VRRPPriority  int    `json:"vrrp_priority,omitempty"`
	// Revision is the revision of the shared state the instance serves.
	Revision int64 `json:"revision"`
	// Statuses are the operating statuses worse than ONLINE (and
	// NO_MONITOR) the instance sees, by object ID.
	Statuses map[string]octavia.OperatingStatus `json:"statuses,omitempty"`
}

// member is an instance's lasting record under members/.
type member struct {
	Name          string `json:"name"`
	VRRPIP        string `json:"vrrp_ip,omitempty"`
	VRRPInterface string `json:"vrrp_interface,omitempty"`
	APIAddr       string `json:"api_addr,omitempty"`
}

// Roles, as Octavia's amphora API names them.
const (
	RoleMaster     = "MASTER"
	RoleBackup     = "BACKUP"
	RoleStandalone = "STANDALONE"
)

// Node is this lbd instance among those sharing a state in etcd: it gives
// the control plane the shared store, wraps the data plane (DataPlane) to
// merge the others' operating statuses and to drive keepalived, and
// publishes this instance's report.
type Node struct {
	opts   Options
	log    *slog.Logger
	client *etcdstore.Client
	rt     Runtime
	beacon *etcdstore.Beacon

	revision atomic.Pointer[func() int64]
	cfg      atomic.Pointer[octavia.Config] // as last applied

	instances <-chan []etcdstore.Record
	members   <-chan []etcdstore.Record

	mu       sync.Mutex
	others   map[string]Report // live instances but this one
	all      []Report          // every live instance, this one included
	roster   []member          // every registered instance, in order of registration
	lastBeat time.Time         // of the last heartbeat etcd took
	beatErr  error
	warned   map[string]bool // ACTIVE_STANDBY load balancers warned about (no VRRP)

	applyMu sync.Mutex // serializes Apply and VRRP reconfigurations
	vrrp    *vrrp
}

// vrrp is the keepalived side of a node.
type vrrp struct {
	opts     VRRPOptions
	ip       string
	authPass string
	proc     *keepalived.Process
	conf     []byte // as keepalived runs it
}

// Start connects to etcd and, with VRRP options, finds keepalived, the
// VRRP interface's address and the group's VRRP password, and registers
// the instance. Run must run next (before the first Apply), and Close at
// the end, after the control plane closed.
func Start(ctx context.Context, opts Options, rt Runtime, log *slog.Logger) (*Node, error) {
	client, err := etcdstore.Dial(ctx, opts.Etcd)
	if err != nil {
		return nil, err
	}
	n := &Node{opts: opts, log: log, client: client, rt: rt, others: map[string]Report{}, warned: map[string]bool{},
		beacon: client.Beacon(opts.Name, opts.HeartbeatTimeout)}
	ok := false
	defer func() {
		if !ok {
			client.Close()
		}
	}()
	if v := opts.VRRP; v != nil {
		ip, err := interfaceAddr(v.Interface, v.IP)
		if err != nil {
			return nil, err
		}
		proc, err := keepalived.New(v.Keepalived, v.Dir, log)
		if err != nil {
			return nil, err
		}
		pass, err := client.Shared(ctx, "vrrp/auth_pass", []byte(randomPass()))
		if err != nil {
			return nil, err
		}
		if v.CheckCommand == "" {
			self, err := os.Executable()
			if err != nil {
				return nil, fmt.Errorf("VRRP check script: %w", err)
			}
			v.CheckCommand = fmt.Sprintf("%s vrrp-check --admin-addr %s", self, opts.AdminAddr)
		}
		n.vrrp = &vrrp{opts: *v, ip: ip, authPass: string(pass), proc: proc}
		rec, _ := json.Marshal(member{Name: opts.Name, VRRPIP: ip, VRRPInterface: v.Interface, APIAddr: opts.APIAddr})
		if err := client.Register(ctx, opts.Name, rec); err != nil {
			return nil, err
		}
	}
	// Who is there, before the first Apply renders keepalived's peers.
	n.members = client.Follow(ctx, etcdstore.Members)
	n.instances = client.Follow(ctx, etcdstore.Instances)
	select {
	case recs := <-n.members:
		n.setRoster(recs)
	case <-time.After(opts.Etcd.RequestTimeout + time.Second):
	}
	ok = true
	return n, nil
}

// Store is the shared desired state, for the control plane
// (controlplane.Options.Store). Closing it leaves the connection to Close.
func (n *Node) Store() statestore.Store { return n.client.State() }

// Client is the node's etcd connection (locks for tools).
func (n *Node) Client() *etcdstore.Client { return n.client }

// SetRevision gives the node the control plane's revision (what the
// instance serves), for its reports.
func (n *Node) SetRevision(f func() int64) { n.revision.Store(&f) }

// Run publishes the instance's report every heartbeat interval, follows
// the others' and the roster, and runs keepalived, until ctx is done.
func (n *Node) Run(ctx context.Context) {
	var wg sync.WaitGroup
	if n.vrrp != nil {
		wg.Add(1)
		go func() { defer wg.Done(); n.vrrp.proc.Run(ctx) }()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-ctx.Done():
				return
			case recs := <-n.instances:
				n.setInstances(recs)
			case recs := <-n.members:
				n.setRoster(recs)
				n.reconfigure(ctx)
			}
		}
	}()
	t := time.NewTicker(n.opts.HeartbeatInterval)
	defer t.Stop()
	for {
		n.beat(ctx)
		select {
		case <-ctx.Done():
			wg.Wait()
			return
		case <-t.C:
		}
	}
}

// Close ends the instance's report at once (the others stop counting it)
// and the connection to etcd. Call it after Run returned and the control
// plane closed.
func (n *Node) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	n.beacon.Stop(ctx)
	return n.client.Close()
}

// beat publishes the report.
func (n *Node) beat(ctx context.Context) {
	rep := n.report()
	data, _ := json.Marshal(rep)
	err := n.beacon.Beat(ctx, data)
	n.mu.Lock()
	failing := n.beatErr != nil
	n.beatErr = err
	if err == nil {
		n.lastBeat = time.Now()
	}
	n.mu.Unlock()
	switch {
	case err != nil && !failing && ctx.Err() == nil:
		n.log.Warn("heartbeat not published: the other instances will stop counting this one's health reports", "err", err.Error())
	case err == nil && failing:
		n.log.Info("heartbeat published again")
	}
}

// report is this instance's report now.
func (n *Node) report() Report {
	rep := Report{Name: n.opts.Name, APIAddr: n.opts.APIAddr, Role: RoleStandalone, Statuses: map[string]octavia.OperatingStatus{}}
	if f := n.revision.Load(); f != nil {
		rep.Revision = (*f)()
	}
	n.rt.OperatingStatuses(func(id string, s octavia.OperatingStatus) {
		if rank(s) > 0 {
			rep.Statuses[id] = s
		}
	})
	if v := n.vrrp; v != nil {
		rep.VRRPIP, rep.VRRPInterface, rep.VRRPPriority = v.ip, v.opts.Interface, n.priority()
		rep.Role, rep.VRRPState = n.role()
	}
	return rep
}

// role is the instance's VRRP role and keepalived's state: MASTER while it
// holds the VIPs, BACKUP otherwise (FAULT, or keepalived not running, is a
// BACKUP with that state), STANDALONE without ACTIVE_STANDBY load
// balancers.
func (n *Node) role() (role, state string) {
	if len(vips(n.cfg.Load())) == 0 {
		return RoleStandalone, ""
	}
	state = n.vrrp.proc.State()
	if running, _ := n.vrrp.proc.Running(); !running {
		state = "STOPPED"
	}
	if state == RoleMaster {
		return RoleMaster, state
	}
	return RoleBackup, state
}

// rank orders operating statuses from best to worst: the shared status of
// an object is the worst any live instance reports.
func rank(s octavia.OperatingStatus) int {
	switch s {
	case octavia.OperatingOnline, octavia.OperatingNoMonitor, "":
		return 0
	case octavia.OperatingDraining:
		return 1
	case octavia.OperatingDegraded:
		return 2
	case octavia.OperatingError:
		return 3
	case octavia.OperatingOffline:
		return 4
	}
	return 2
}

// merged is the worst of local and what the other live instances report
// for the object. An instance cut off from etcd for longer than the
// heartbeat timeout knows nothing current of the others: it counts itself
// only.
func (n *Node) merged(id string, local octavia.OperatingStatus) octavia.OperatingStatus {
	n.mu.Lock()
	defer n.mu.Unlock()
	if time.Since(n.lastBeat) > n.opts.HeartbeatTimeout {
		return local
	}
	w := local
	for _, r := range n.others {
		if s, ok := r.Statuses[id]; ok && rank(s) > rank(w) {
			w = s
		}
	}
	return w
}

func (n *Node) setInstances(recs []etcdstore.Record) {
	others := map[string]Report{}
	var all []Report
	for _, r := range recs {
		var rep Report
		if err := json.Unmarshal(r.Value, &rep); err != nil {
			n.log.Warn("an instance's report cannot be read; not counted", "instance", r.Name, "err", err.Error())
			continue
		}
		rep.Name = r.Name
		all = append(all, rep)
		if r.Name != n.opts.Name {
			others[r.Name] = rep
		}
	}
	n.mu.Lock()
	n.others, n.all = others, all
	n.mu.Unlock()
}

func (n *Node) setRoster(recs []etcdstore.Record) {
	var roster []member
	for _, r := range recs {
		var m member
		if err := json.Unmarshal(r.Value, &m); err != nil || m.VRRPIP == "" {
			continue
		}
		m.Name = r.Name
		roster = append(roster, m)
	}
	n.mu.Lock()
	n.roster = roster
	n.mu.Unlock()
}

// Instance is one lbd instance sharing the state, for the amphora API and
// lbctl status.
type Instance struct {
	Report
	// Alive: it published a report within the heartbeat timeout.
	Alive bool `json:"alive"`
	// Self is the instance answering.
	Self bool `json:"self"`
}

// Instances lists every instance: the registered ones (VRRP peers) and the
// live ones, in order of registration then name. This one's entry is as
// of now.
func (n *Node) Instances() []Instance {
	self := n.report()
	n.mu.Lock()
	defer n.mu.Unlock()
	byName := map[string]*Instance{}
	var out []*Instance
	add := func(name string) *Instance {
		if i := byName[name]; i != nil {
			return i
		}
		i := &Instance{Report: Report{Name: name, Role: RoleBackup}}
		byName[name] = i
		out = append(out, i)
		return i
	}
	for _, m := range n.roster {
		i := add(m.Name)
		i.VRRPIP, i.VRRPInterface, i.APIAddr = m.VRRPIP, m.VRRPInterface, m.APIAddr
	}
	for _, r := range n.all {
		if r.Name == n.opts.Name {
			continue
		}
		i := add(r.Name)
		i.Report, i.Alive = r, true
	}
	i := add(self.Name)
	i.Report, i.Alive, i.Self = self, true, true
	i.Statuses = nil
	res := make([]Instance, len(out))
	for k, p := range out {
		p.Statuses = nil
		res[k] = *p
	}
	return res
}

// priority is this instance's VRRP priority: the flag's, or Octavia's 100
// for the first registered instance and 90 for the others.
func (n *Node) priority() int {
	if n.vrrp.opts.Priority > 0 {
		return n.vrrp.opts.Priority
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.roster) > 0 && n.roster[0].Name == n.opts.Name {
		return 100
	}
	return 90
}

// peers are the other registered instances' VRRP addresses.
func (n *Node) peers() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []string
	for _, m := range n.roster {
		if m.Name != n.opts.Name {
			out = append(out, m.VRRPIP)
		}
	}
	slices.Sort(out)
	return out
}

// vips are the addresses of the enabled ACTIVE_STANDBY load balancers.
func vips(cfg *octavia.Config) []string {
	if cfg == nil {
		return nil
	}
	var out []string
	for _, lb := range cfg.LoadBalancers {
		if !lb.ActiveStandby() || !lb.Enabled() {
			continue
		}
		if lb.VIPAddress != "" {
			out = append(out, lb.VIPAddress)
		}
		for _, v := range lb.AdditionalVIPs {
			if v.IPAddress != "" {
				out = append(out, v.IPAddress)
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// keepalivedConf renders keepalived's configuration for cfg.
func (n *Node) keepalivedConf(cfg *octavia.Config) []byte {
	v := n.vrrp
	c := keepalived.Config{
		Name: n.opts.Name, Interface: v.opts.Interface, SourceIP: v.ip, Peers: n.peers(),
		RouterID: v.opts.RouterID, Priority: n.priority(), AdvertInt: v.opts.AdvertInt, AuthPass: v.authPass,
		VIPs: vips(cfg), Check: v.opts.CheckCommand, CheckInterval: v.opts.CheckInterval, Fall: v.opts.Fall, Rise: v.opts.Rise,
		GARPRefresh: v.opts.GARPRefresh, GARPRefreshRepeat: v.opts.GARPRefreshRepeat, ScriptUser: scriptUser(),
	}
	return c.Render()
}

// reconfigure renders keepalived's configuration again (the roster
// changed) and applies it if it differs.
func (n *Node) reconfigure(ctx context.Context) {
	if n.vrrp == nil {
		return
	}
	n.applyMu.Lock()
	defer n.applyMu.Unlock()
	if n.cfg.Load() == nil {
		return // the first Apply configures keepalived
	}
	if err := n.configureVRRP(ctx, n.keepalivedConf(n.cfg.Load())); err != nil {
		n.log.Error("keepalived not reconfigured for the new set of instances", "err", err.Error())
	}
}

// configureVRRP checks conf and has keepalived run it, if it changed.
// Callers hold applyMu.
func (n *Node) configureVRRP(ctx context.Context, conf []byte) error {
	if string(conf) == string(n.vrrp.conf) {
		return nil
	}
	if err := n.vrrp.proc.Check(ctx, conf); err != nil {
		return err
	}
	if err := n.vrrp.proc.Apply(ctx, conf); err != nil {
		return err
	}
	n.vrrp.conf = conf
	return nil
}

// interfaceAddr is ip, checked to be on the interface, or the interface's
// first address (IPv4 first).
func interfaceAddr(name, ip string) (string, error) {
	ifc, err := net.InterfaceByName(name)
	if err != nil {
		return "", fmt.Errorf("--vrrp-interface %s: %w", name, err)
	}
	addrs, err := ifc.Addrs()
	if err != nil {
		return "", fmt.Errorf("--vrrp-interface %s: %w", name, err)
	}
	var have []netip.Addr
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil && !p.Addr().IsLinkLocalUnicast() {
			have = append(have, p.Addr())
		}
	}
	if ip != "" {
		want, err := netip.ParseAddr(ip)
		if err != nil {
			return "", fmt.Errorf("--vrrp-ip %q: not an address", ip)
		}
		if !slices.Contains(have, want) {
			return "", fmt.Errorf("--vrrp-ip %s is not an address of %s (it has %v)", ip, name, have)
		}
		return want.String(), nil
	}
	slices.SortStableFunc(have, func(a, b netip.Addr) int {
		if a.Is4() != b.Is4() {
			if a.Is4() {
				return -1
			}
			return 1
		}
		return 0
	})
	if len(have) == 0 {
		return "", fmt.Errorf("--vrrp-interface %s has no address: give it one (the other instances' unicast peer) or set --vrrp-ip", name)
	}
	return have[0].String(), nil
}

// randomPass is a VRRP password as Octavia makes them: 7 hexadecimal
// digits.
func randomPass() string {
	b := make([]byte, 4)
	rand.Read(b)
	return hex.EncodeToString(b)[:7]
}

// scriptUser is the user keepalived runs the check script as: lbd's.
func scriptUser() string {
	if os.Geteuid() == 0 {
		return "root"
	}
	if u := os.Getenv("USER"); u != "" {
		return u
	}
	return fmt.Sprint(os.Geteuid())
}
