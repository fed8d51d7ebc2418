package autoscale

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Server is one of the group's servers as its provider has it.
type Server struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// Address is the member address (the fixed IP); "" until known.
	Address string `json:"address,omitempty"`
	// Port is the members' protocol_port when the provider decides it (a
	// local backend's port); 0 takes each membership's.
	Port int `json:"port,omitempty"`
	// Status is BUILD, ACTIVE, ERROR or DELETING.
	Status  string    `json:"status"`
	Created time.Time `json:"created"`
	Fault   string    `json:"fault,omitempty"`
}

// Server statuses, as Nova's.
const (
	StatusBuild    = "BUILD"
	StatusActive   = "ACTIVE"
	StatusError    = "ERROR"
	StatusDeleting = "DELETING"
)

// Member is a pool member of one of the group's servers.
type Member struct {
	ID      string    `json:"id"`
	Name    string    `json:"name"`
	Pool    string    `json:"pool"` // the pool's name
	Address string    `json:"address"`
	Port    int       `json:"port"`
	Weight  int       `json:"weight"`
	AdminUp bool      `json:"admin_state_up"`
	Status  string    `json:"operating_status"`
	Created time.Time `json:"created_at"`
	Updated time.Time `json:"updated_at"`
	// Warming: the controller added it at weight 0 and has not given it
	// its weight yet (it carries WarmingTag). Weight 0 without it is a
	// drain.
	Warming bool `json:"warming,omitempty"`
}

// Membership is a pool every server of the group joins (an entry of
// openstack.servers.members).
type Membership struct {
	Pool        string
	Port        int
	Weight      int // 1 when the file gives none
	Backup      bool
	MonitorPort *int
	// Warmup is how long after a member is created its operating_status
	// shows the verdict of a health check rather than the "up" a new
	// member starts with (HAProxy's, and lbd's, init-state): the first
	// check starts within the monitor's delay, its connect takes at most
	// another delay and its answer at most timeout, so 2×delay + timeout;
	// 0 without an enabled monitor.
	Warmup time.Duration
}

// Sample is one value Prometheus holds and when it was scraped.
type Sample struct {
	Value float64
	At    time.Time
}

// Phase is where a server is in its life in the group.
type Phase string

// The phases.
const (
	Booting  Phase = "booting"  // created, not yet serving: BUILD, or members missing or not ONLINE
	Warming  Phase = "warming"  // ACTIVE, members at weight 0 until a health check passed (Member.Warming)
	Serving  Phase = "serving"  // ACTIVE with every member ONLINE
	Draining Phase = "draining" // its members have weight 0: leaving
	Broken   Phase = "broken"   // Nova ERROR, or a member in ERROR past heal_after: to replace
	Deleting Phase = "deleting" // on its way out at the provider
)

// Entry is a server with its members and phase.
type Entry struct {
	Server  Server
	Members []Member // in the memberships' order; missing ones are absent
	Missing []Membership
	Phase   Phase
	Why     string // for Broken: what is wrong
	// Warm are the warming members whose health check has passed: they
	// may have their weight (Admit).
	Warm []Member
	// DrainedSince is when the drain began (the members' updated_at, or
	// when first seen drained); Sessions are the members' connections and
	// SessionsAt the oldest of their samples (zero when unknown).
	DrainedSince time.Time
	Sessions     float64
	SessionsAt   time.Time
}

// counts reports whether the entry is one of the group's current count.
func (e *Entry) counts() bool { return e.Phase == Booting || e.Phase == Warming || e.Phase == Serving }

// Group is the group as the cloud has it, classified.
type Group struct {
	Entries []*Entry
	// Orphans are the group's members whose server is gone.
	Orphans []Member
	// Current counts the booting and serving servers, Ready the serving.
	Current, Ready int
	// Newest is the creation time of the newest server.
	Newest time.Time
	// WarmAt is the earliest time a warming member that shows up now
	// will be old enough to have its weight (zero: none waits), so that
	// the controller looks again then rather than at its next poll.
	WarmAt time.Time
}

// Observed is what one look at the cloud found, and what the controller
// remembers of earlier looks (when a member was first seen in ERROR or
// drained; a restarted controller starts them anew, which only delays).
type Observed struct {
	Servers     []Server
	Members     []Member
	Sessions    map[string]Sample    // by member ID
	ErrorSince  map[string]time.Time // by member ID
	DrainedSeen map[string]time.Time // by member ID
}

// Classify puts every server in its phase and pairs it with its members
// (by address and port).
func Classify(p Policy, ms []Membership, o Observed, now time.Time) *Group {
	g := &Group{}
	byKey := map[string]Member{}
	for _, m := range o.Members {
		byKey[memberKey(m.Pool, m.Address, m.Port)] = m
	}
	used := map[string]bool{}
	for _, s := range o.Servers {
		e := &Entry{Server: s}
		g.Entries = append(g.Entries, e)
		if s.Created.After(g.Newest) {
			g.Newest = s.Created
		}
		if s.Address != "" {
			for _, mb := range ms {
				k := memberKey(mb.Pool, s.Address, portOf(s, mb))
				if m, ok := byKey[k]; ok {
					e.Members = append(e.Members, m)
					used[k] = true
					if m.Warming && warmedUp(m, mb, now) {
						e.Warm = append(e.Warm, m)
					} else if at := m.Created.Add(mb.Warmup); m.Warming && isUp(m) && (g.WarmAt.IsZero() || at.Before(g.WarmAt)) {
						g.WarmAt = at
					}
				} else {
					e.Missing = append(e.Missing, mb)
				}
			}
		} else {
			e.Missing = ms
		}
		e.Phase = phase(p, e, o, now)
		for _, m := range e.Members {
			if smp, ok := o.Sessions[m.ID]; ok {
				e.Sessions += smp.Value
				if e.SessionsAt.IsZero() || smp.At.Before(e.SessionsAt) {
					e.SessionsAt = smp.At
				}
			} else {
				e.SessionsAt = time.Time{}
				break
			}
		}
		if e.counts() {
			g.Current++
		}
		if e.Phase == Serving {
			g.Ready++
		}
	}
	for _, m := range o.Members {
		if !used[memberKey(m.Pool, m.Address, m.Port)] {
			g.Orphans = append(g.Orphans, m)
		}
	}
	return g
}

func phase(p Policy, e *Entry, o Observed, now time.Time) Phase {
	s := e.Server
	switch s.Status {
	case StatusDeleting:
		return Deleting
	case StatusError:
		e.Why = "the server is in ERROR"
		if s.Fault != "" {
			e.Why += ": " + s.Fault
		}
		return Broken
	}
	for _, m := range e.Members {
		if m.Weight == 0 && !m.Warming {
			e.DrainedSince = m.Updated
			if seen, ok := o.DrainedSeen[m.ID]; ok && (e.DrainedSince.IsZero() || seen.Before(e.DrainedSince)) {
				e.DrainedSince = seen
			}
			return Draining
		}
	}
	for _, m := range e.Members {
		since, ok := o.ErrorSince[m.ID]
		if m.Status == "ERROR" && m.AdminUp && ok && now.Sub(since) >= p.HealAfter && now.Sub(m.Created) >= p.HealAfter {
			e.Why = fmt.Sprintf("member %s in pool %s has been in ERROR for %s", m.ID, m.Pool, now.Sub(since).Round(time.Second))
			return Broken
		}
	}
	if s.Status != StatusActive || len(e.Missing) > 0 {
		return Booting
	}
	warming := false
	for _, m := range e.Members {
		if m.Warming {
			warming = true
		} else if m.Status != "ONLINE" && m.Status != "NO_MONITOR" {
			return Booting
		}
	}
	if warming {
		return Warming
	}
	return Serving
}

// warmedUp reports whether a warming member may have its weight: its
// status says it is up (at weight 0 an up member is DRAINING, HAProxy's
// DRAIN; ONLINE or NO_MONITOR where the API shows that instead), and it
// is old enough (mb.Warmup) for that status to be a health check's verdict
// and not the "up" every new member starts with. A member whose address
// does not answer yet fails that check and shows ERROR until a check
// passes, so it takes no request before it can serve one.
func warmedUp(m Member, mb Membership, now time.Time) bool {
	return isUp(m) && now.Sub(m.Created) >= mb.Warmup
}

// isUp reports whether a member's status says it is up, whatever its
// weight.
func isUp(m Member) bool {
	switch m.Status {
	case "DRAINING", "ONLINE", "NO_MONITOR":
		return true
	}
	return false
}

func memberKey(pool, addr string, port int) string {
	return pool + "|" + addr + "|" + strconv.Itoa(port)
}

func portOf(s Server, mb Membership) int {
	if s.Port != 0 {
		return s.Port
	}
	return mb.Port
}

// ActionKind is what an action does.
type ActionKind string

// The actions, in the order a plan makes them.
const (
	RemoveOrphan ActionKind = "remove_orphan_member" // its server is gone
	Heal         ActionKind = "heal"                 // remove a broken server's members, then the server
	FinishDrain  ActionKind = "finish_drain"         // remove a drained server's members, then the server
	Undrain      ActionKind = "undrain"              // a draining server is wanted again: its weights back
	Admit        ActionKind = "admit"                // a warming server's check passed: its members get their weights
	Create       ActionKind = "create_server"
	Drain        ActionKind = "drain"         // weight 0 on the server's members
	DeleteServer ActionKind = "delete_server" // a server that never took traffic: its members (warming) removed, then it
	AddMember    ActionKind = "add_member"
)

// Action is one step of a plan.
type Action struct {
	Kind       ActionKind
	Server     Server     // the server acted on (Create: its Name only)
	Members    []Member   // the members acted on
	Membership Membership // AddMember: the pool joined
	Why        string
}

func (a Action) String() string {
	name := a.Server.Name
	if name == "" {
		name = a.Server.ID
	}
	switch a.Kind {
	case RemoveOrphan:
		m := a.Members[0]
		return fmt.Sprintf("remove member %s (%s:%d) of pool %s: %s", m.ID, m.Address, m.Port, m.Pool, a.Why)
	case AddMember:
		return fmt.Sprintf("add server %s (%s) to pool %s: %s", name, a.Server.Address, a.Membership.Pool, a.Why)
	}
	return fmt.Sprintf("%s %s: %s", strings.ReplaceAll(string(a.Kind), "_", " "), name, a.Why)
}

// Plan is what to do now to bring the group to desired servers: drop the
// members of vanished servers, replace broken servers, end the drains that
// are over, then add servers (taking back drained ones first) or drain
// some (those still booting or warming first, then by the policy's pick),
// give booted servers their members (at weight 0: warming) and warmed-up
// members their weights. pattern names new servers ("Server%d":
// the lowest free number). It does no I/O.
func (g *Group) Plan(p Policy, desired int, pattern string, now time.Time) []Action {
	var out []Action
	for _, m := range g.Orphans {
		out = append(out, Action{Kind: RemoveOrphan, Members: []Member{m}, Why: "no server of the group has its address"})
	}
	for _, e := range g.Entries {
		switch {
		case e.Phase == Broken:
			out = append(out, Action{Kind: Heal, Server: e.Server, Members: e.Members, Why: e.Why})
		case e.Phase == Draining && drainOver(p, e, now) != "":
			out = append(out, Action{Kind: FinishDrain, Server: e.Server, Members: e.Members, Why: drainOver(p, e, now)})
		}
	}
	need := desired - g.Current
	if need > 0 {
		// Drained servers still serving their last connections are taken
		// back first, the most recently drained first: they are ready now.
		var drained []*Entry
		for _, e := range g.Entries {
			if e.Phase == Draining && drainOver(p, e, now) == "" {
				drained = append(drained, e)
			}
		}
		slices.SortStableFunc(drained, func(a, b *Entry) int { return b.DrainedSince.Compare(a.DrainedSince) })
		for _, e := range drained[:min(need, len(drained))] {
			out = append(out, Action{Kind: Undrain, Server: e.Server, Members: e.Members, Why: fmt.Sprintf("wanted again (%d → %d)", g.Current, desired)})
			need--
		}
		for _, name := range g.freeNames(pattern, need) {
			out = append(out, Action{Kind: Create, Server: Server{Name: name}, Why: fmt.Sprintf("scale out %d → %d", g.Current, desired)})
		}
	}
	leaving := map[*Entry]bool{}
	if need < 0 {
		for _, e := range g.victims(p, -need) {
			leaving[e] = true
			why := fmt.Sprintf("scale in %d → %d", g.Current, desired)
			switch {
			case len(e.Members) == 0:
				out = append(out, Action{Kind: DeleteServer, Server: e.Server, Why: why + " (it has no member yet)"})
			case neverServed(e):
				out = append(out, Action{Kind: DeleteServer, Server: e.Server, Members: e.Members, Why: why + " (warming: it never took traffic)"})
			default:
				out = append(out, Action{Kind: Drain, Server: e.Server, Members: e.Members, Why: why})
			}
		}
	}
	for _, e := range g.Entries {
		if !e.counts() || leaving[e] || e.Server.Status != StatusActive || e.Server.Address == "" {
			continue
		}
		if len(e.Warm) > 0 {
			out = append(out, Action{Kind: Admit, Server: e.Server, Members: e.Warm, Why: admitWhy(e.Warm, now)})
		}
		for _, mb := range e.Missing {
			out = append(out, Action{Kind: AddMember, Server: e.Server, Membership: mb, Why: "the server is ACTIVE"})
		}
	}
	return out
}

// neverServed reports whether every member of the entry is still warming:
// it has had weight 0 since it was added.
func neverServed(e *Entry) bool {
	for _, m := range e.Members {
		if !m.Warming {
			return false
		}
	}
	return true
}

func admitWhy(ms []Member, now time.Time) string {
	m := ms[0]
	return fmt.Sprintf("its health check passed (%s at weight 0, %s after it was added)", m.Status, now.Sub(m.Created).Round(100*time.Millisecond))
}

// drainOver says why a drained server may go now, or "" while it may not.
func drainOver(p Policy, e *Entry, now time.Time) string {
	switch {
	case len(e.Members) == 0:
		return "it has no member left"
	case !e.SessionsAt.IsZero() && e.Sessions == 0 && !e.DrainedSince.IsZero() && e.SessionsAt.After(e.DrainedSince.Add(time.Second)):
		return fmt.Sprintf("drained: no connection left (%s after the drain began)", e.SessionsAt.Sub(e.DrainedSince).Round(100*time.Millisecond))
	case !e.DrainedSince.IsZero() && now.Sub(e.DrainedSince) >= p.DrainTimeout:
		return fmt.Sprintf("drain timeout (%s) passed with %s connection(s) left", p.DrainTimeout, sessionsText(e))
	}
	return ""
}

func sessionsText(e *Entry) string {
	if e.SessionsAt.IsZero() {
		return "an unknown number of"
	}
	return strconv.FormatFloat(e.Sessions, 'f', -1, 64)
}

// victims picks n servers to remove: booting or warming ones first
// (newest first), then serving ones, newest first or with the fewest
// connections.
func (g *Group) victims(p Policy, n int) []*Entry {
	var booting, serving []*Entry
	for _, e := range g.Entries {
		switch e.Phase {
		case Booting, Warming:
			booting = append(booting, e)
		case Serving:
			serving = append(serving, e)
		}
	}
	newest := func(a, b *Entry) int { return b.Server.Created.Compare(a.Server.Created) }
	slices.SortStableFunc(booting, newest)
	slices.SortStableFunc(serving, func(a, b *Entry) int {
		if p.Pick == "fewest_connections" {
			if c := cmp.Compare(sessionsOrInf(a), sessionsOrInf(b)); c != 0 {
				return c
			}
		}
		return newest(a, b)
	})
	all := append(booting, serving...)
	return all[:min(n, len(all))]
}

func sessionsOrInf(e *Entry) float64 {
	if e.SessionsAt.IsZero() {
		return 1e18
	}
	return e.Sessions
}

// freeNames expands pattern with the n lowest numbers no server of the
// group uses.
func (g *Group) freeNames(pattern string, n int) []string {
	taken := map[string]bool{}
	for _, e := range g.Entries {
		taken[e.Server.Name] = true
	}
	var out []string
	for i := 1; len(out) < n; i++ {
		name := strings.Replace(pattern, "%d", strconv.Itoa(i), 1)
		if !taken[name] {
			out = append(out, name)
		}
	}
	return out
}
