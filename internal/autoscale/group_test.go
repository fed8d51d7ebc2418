package autoscale

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

var pool1 = []Membership{{Pool: "pool1", Port: 80, Weight: 1}}

func srv(n int, status string, created time.Duration) Server {
	s := Server{ID: fmt.Sprintf("id%d", n), Name: fmt.Sprintf("S%d", n), Status: status, Created: t0.Add(created)}
	if status == StatusActive {
		s.Address = fmt.Sprintf("10.0.2.%d", n)
	}
	return s
}

func mem(n int, status string, weight int) Member {
	return Member{ID: fmt.Sprintf("m%d", n), Pool: "pool1", Address: fmt.Sprintf("10.0.2.%d", n), Port: 80,
		Weight: weight, AdminUp: true, Status: status, Created: t0, Updated: t0}
}

func drained(n int, since time.Time) Member {
	m := mem(n, "DRAINING", 0)
	m.Updated = since
	return m
}

func kinds(actions []Action) string {
	var s []string
	for _, a := range actions {
		name := a.Server.Name
		if a.Kind == RemoveOrphan {
			name = a.Members[0].ID
		}
		s = append(s, string(a.Kind)+" "+name)
	}
	return strings.Join(s, ", ")
}

func TestClassifyAndPlan(t *testing.T) {
	p := Policy{HealAfter: time.Minute, DrainTimeout: 30 * time.Second, Pick: "newest"}
	now := t0.Add(10 * time.Minute)
	tests := []struct {
		name           string
		o              Observed
		desired        int
		current, ready int
		want           string
	}{
		{"booting server gets its member once ACTIVE",
			Observed{Servers: []Server{srv(1, StatusActive, 0), srv(2, StatusActive, time.Minute), srv(3, StatusBuild, time.Minute)}, Members: []Member{mem(1, "ONLINE", 1)}},
			3, 3, 1, "add_member S2"},
		{"scale out names the lowest free numbers",
			Observed{Servers: []Server{srv(1, StatusActive, 0), srv(3, StatusActive, 0)}, Members: []Member{mem(1, "ONLINE", 1), mem(3, "ONLINE", 1)}},
			4, 2, 2, "create_server S2, create_server S4"},
		{"a member not ONLINE yet is booting",
			Observed{Servers: []Server{srv(1, StatusActive, 0)}, Members: []Member{mem(1, "OFFLINE", 1)}},
			1, 1, 0, ""},
		{"scale in drains the newest serving",
			Observed{Servers: []Server{srv(1, StatusActive, 0), srv(2, StatusActive, time.Minute)}, Members: []Member{mem(1, "ONLINE", 1), mem(2, "ONLINE", 1)}},
			1, 2, 2, "drain S2"},
		{"scale in takes a booting server first and deletes it when it has no member",
			Observed{Servers: []Server{srv(1, StatusActive, 2*time.Minute), srv(2, StatusBuild, time.Minute)}, Members: []Member{mem(1, "ONLINE", 1)}},
			1, 2, 1, "delete_server S2"},
		{"drained with no connection left: removed",
			Observed{Servers: []Server{srv(1, StatusActive, 0), srv(2, StatusActive, 0)}, Members: []Member{mem(1, "ONLINE", 1), mem(2, "DRAINING", 0)},
				Sessions: map[string]Sample{"m1": {3, now}, "m2": {0, t0.Add(5 * time.Second)}}},
			1, 1, 1, "finish_drain S2"},
		{"drained but a sample from before the drain: wait",
			Observed{Servers: []Server{srv(1, StatusActive, 0), srv(2, StatusActive, 0)}, Members: []Member{mem(1, "ONLINE", 1), drained(2, now.Add(-5*time.Second))},
				Sessions: map[string]Sample{"m2": {0, now.Add(-6 * time.Second)}}},
			1, 1, 1, ""},
		{"drained long ago with an unknown number of connections: the timeout",
			Observed{Servers: []Server{srv(1, StatusActive, 0), srv(2, StatusActive, 0)}, Members: []Member{mem(1, "ONLINE", 1), drained(2, now.Add(-time.Minute))}},
			1, 1, 1, "finish_drain S2"},
		{"drained with connections: wait until the timeout",
			Observed{Servers: []Server{srv(1, StatusActive, 0), srv(2, StatusActive, 0)}, Members: []Member{mem(1, "ONLINE", 1), drained(2, time.Time{})},
				Sessions: map[string]Sample{"m2": {2, now}}, DrainedSeen: map[string]time.Time{"m2": now.Add(-10 * time.Second)}},
			1, 1, 1, ""},
		{"a draining server is taken back before creating one",
			Observed{Servers: []Server{srv(1, StatusActive, 0), srv(2, StatusActive, 0)}, Members: []Member{mem(1, "ONLINE", 1), drained(2, now.Add(-10*time.Second))},
				Sessions: map[string]Sample{"m2": {2, now}}},
			3, 1, 1, "undrain S2, create_server S3"},
		{"member in ERROR past heal_after: healed and replaced",
			Observed{Servers: []Server{srv(1, StatusActive, 0), srv(2, StatusActive, 0)}, Members: []Member{mem(1, "ONLINE", 1), mem(2, "ERROR", 1)},
				ErrorSince: map[string]time.Time{"m2": now.Add(-2 * time.Minute)}},
			2, 1, 1, "heal S2, create_server S3"},
		{"member in ERROR for less than heal_after: waits",
			Observed{Servers: []Server{srv(1, StatusActive, 0), srv(2, StatusActive, 0)}, Members: []Member{mem(1, "ONLINE", 1), mem(2, "ERROR", 1)},
				ErrorSince: map[string]time.Time{"m2": now.Add(-30 * time.Second)}},
			2, 2, 1, ""},
		{"server in ERROR: healed",
			Observed{Servers: []Server{srv(1, StatusActive, 0), srv(2, StatusError, 0)}, Members: []Member{mem(1, "ONLINE", 1)}},
			2, 1, 1, "heal S2, create_server S3"},
		{"member whose server is gone: removed, and the server replaced",
			Observed{Servers: []Server{srv(1, StatusActive, 0)}, Members: []Member{mem(1, "ONLINE", 1), mem(2, "ERROR", 1)}},
			2, 1, 1, "remove_orphan_member m2, create_server S2"},
		{"a deleting server does not count",
			Observed{Servers: []Server{srv(1, StatusActive, 0), {ID: "id2", Name: "S2", Status: StatusDeleting}}, Members: []Member{mem(1, "ONLINE", 1)}},
			2, 1, 1, "create_server S3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := Classify(p, pool1, tt.o, now)
			if g.Current != tt.current || g.Ready != tt.ready {
				t.Errorf("current %d ready %d, want %d %d", g.Current, g.Ready, tt.current, tt.ready)
			}
			if got := kinds(g.Plan(p, tt.desired, "S%d", now)); got != tt.want {
				t.Errorf("plan: %q, want %q", got, tt.want)
			}
		})
	}
}

// warming is a member the controller added at weight 0 (its warming
// tag), created age before now, with the status lbd reports.
func warming(n int, status string, created time.Time) Member {
	m := mem(n, status, 0)
	m.Warming, m.Created, m.Updated = true, created, created
	return m
}

// A new member is added at weight 0 and warms until a health check has
// passed: its status says up (DRAINING at weight 0) and it is older than
// the monitor's first check can take (Membership.Warmup). Only then does
// it get its weight. The cloud holds the phase (the member's tag and
// weight), so a controller that restarts classifies it the same.
func TestWarmUp(t *testing.T) {
	p := Policy{HealAfter: time.Minute, DrainTimeout: 30 * time.Second, Pick: "newest"}
	now := t0.Add(10 * time.Minute)
	ms := []Membership{{Pool: "pool1", Port: 80, Weight: 3, Warmup: 3 * time.Second}}
	two := []Server{srv(1, StatusActive, 0), srv(2, StatusActive, time.Minute)}
	tests := []struct {
		name           string
		o              Observed
		desired        int
		current, ready int
		phase          Phase // of S2
		want           string
	}{
		{"a warming member whose check passed gets its weight",
			Observed{Servers: two, Members: []Member{mem(1, "ONLINE", 1), warming(2, "DRAINING", now.Add(-4*time.Second))}},
			2, 2, 1, Warming, "admit S2"},
		{"a warming member younger than its first check stays at weight 0 (its DRAINING is the initial up)",
			Observed{Servers: two, Members: []Member{mem(1, "ONLINE", 1), warming(2, "DRAINING", now.Add(-2*time.Second))}},
			2, 2, 1, Warming, ""},
		{"a warming member whose check failed stays at weight 0",
			Observed{Servers: two, Members: []Member{mem(1, "ONLINE", 1), warming(2, "ERROR", now.Add(-10*time.Second))},
				ErrorSince: map[string]time.Time{"m2": now.Add(-8 * time.Second)}},
			2, 2, 1, Warming, ""},
		{"a warming member in ERROR past heal_after: healed",
			Observed{Servers: two, Members: []Member{mem(1, "ONLINE", 1), warming(2, "ERROR", now.Add(-2*time.Minute))},
				ErrorSince: map[string]time.Time{"m2": now.Add(-2 * time.Minute)}},
			2, 1, 1, Broken, "heal S2, create_server S3"},
		{"a warming server is not draining: no finish_drain, it counts",
			Observed{Servers: two, Members: []Member{mem(1, "ONLINE", 1), warming(2, "DRAINING", now.Add(-time.Second))},
				Sessions: map[string]Sample{"m1": {3, now}, "m2": {0, now}}},
			2, 2, 1, Warming, ""},
		{"scale in removes a warming server at once: it never took traffic",
			Observed{Servers: two, Members: []Member{mem(1, "ONLINE", 1), warming(2, "DRAINING", now.Add(-time.Second))}},
			1, 2, 1, Warming, "delete_server S2"},
		{"a drained member (weight 0, no warming tag) still drains",
			Observed{Servers: two, Members: []Member{mem(1, "ONLINE", 1), drained(2, now.Add(-5*time.Second))}},
			1, 1, 1, Draining, ""},
		{"without a monitor a warming member gets its weight at once",
			Observed{Servers: two, Members: []Member{mem(1, "ONLINE", 1), warming(2, "DRAINING", now)}},
			2, 2, 1, Warming, "admit S2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ms := ms
			if strings.HasPrefix(tt.name, "without a monitor") {
				ms = []Membership{{Pool: "pool1", Port: 80, Weight: 3}}
			}
			g := Classify(p, ms, tt.o, now)
			if g.Current != tt.current || g.Ready != tt.ready {
				t.Errorf("current %d ready %d, want %d %d", g.Current, g.Ready, tt.current, tt.ready)
			}
			if ph := g.Entries[1].Phase; ph != tt.phase {
				t.Errorf("S2 is %s, want %s", ph, tt.phase)
			}
			acts := g.Plan(p, tt.desired, "S%d", now)
			if got := kinds(acts); got != tt.want {
				t.Fatalf("plan: %q, want %q", got, tt.want)
			}
			for _, a := range acts {
				if (a.Kind == Admit || a.Kind == DeleteServer) && (len(a.Members) != 1 || a.Members[0].ID != "m2") {
					t.Errorf("%s acts on members %+v, want m2", a.Kind, a.Members)
				}
			}
		})
	}
}

// The controller looks again when a warming member that shows up becomes
// old enough, not at its next poll: the earliest such time.
func TestWarmAt(t *testing.T) {
	now := t0.Add(10 * time.Minute)
	ms := []Membership{{Pool: "pool1", Port: 80, Weight: 1, Warmup: 3 * time.Second}}
	o := Observed{Servers: []Server{srv(1, StatusActive, 0), srv(2, StatusActive, 0), srv(3, StatusActive, 0)},
		Members: []Member{warming(1, "ERROR", now.Add(-2*time.Second)), warming(2, "DRAINING", now.Add(-time.Second)), warming(3, "DRAINING", now.Add(-2*time.Second))}}
	if got, want := Classify(Policy{}, ms, o, now).WarmAt, now.Add(time.Second); !got.Equal(want) {
		t.Errorf("WarmAt %s, want %s (S3's, 3 s after it was added; S1 is down)", got.Sub(now), want.Sub(now))
	}
	o.Members[2].Created = now.Add(-5 * time.Second)
	if got, want := Classify(Policy{}, ms, o, now).WarmAt, now.Add(2*time.Second); !got.Equal(want) {
		t.Errorf("WarmAt %s, want %s (S2's: S3 is warm now)", got.Sub(now), want.Sub(now))
	}
}

// A server that is ACTIVE gets its members warming (the Members
// implementation adds them at weight 0), and the controller gives them
// the membership's weight, not 1, once warm.
func TestAdmitGivesTheMembershipsWeight(t *testing.T) {
	c := &Controller{Memberships: []Membership{{Pool: "pool1", Weight: 3}}}
	m := &fakeMembers{}
	c.Members = m
	a := Action{Kind: Admit, Server: srv(2, StatusActive, 0), Members: []Member{warming(2, "DRAINING", t0)}}
	if err := c.act(context.Background(), &PoolView{}, a); err != nil {
		t.Fatal(err)
	}
	if len(m.weights) != 1 || m.weights["m2"] != 3 {
		t.Errorf("weights set %v, want m2 → 3", m.weights)
	}
}

type fakeMembers struct{ weights map[string]int }

func (f *fakeMembers) Read(context.Context) (*PoolView, error)                  { return &PoolView{}, nil }
func (f *fakeMembers) Add(context.Context, *PoolView, Server, Membership) error { return nil }
func (f *fakeMembers) Remove(context.Context, *PoolView, Member) error          { return nil }
func (f *fakeMembers) SetWeight(_ context.Context, _ *PoolView, m Member, w int) error {
	if f.weights == nil {
		f.weights = map[string]int{}
	}
	f.weights[m.ID] = w
	return nil
}

func TestPickFewestConnections(t *testing.T) {
	p := Policy{Pick: "fewest_connections", DrainTimeout: time.Minute}
	o := Observed{
		Servers:  []Server{srv(1, StatusActive, 0), srv(2, StatusActive, time.Minute), srv(3, StatusActive, 2*time.Minute)},
		Members:  []Member{mem(1, "ONLINE", 1), mem(2, "ONLINE", 1), mem(3, "ONLINE", 1)},
		Sessions: map[string]Sample{"m1": {1, t0}, "m2": {0, t0}, "m3": {5, t0}},
	}
	g := Classify(p, pool1, o, t0)
	if got := kinds(g.Plan(p, 1, "S%d", t0)); got != "drain S2, drain S1" {
		t.Errorf("plan %q, want the two with the fewest connections drained", got)
	}
	p.Pick = "newest"
	if got := kinds(g.Plan(p, 2, "S%d", t0)); got != "drain S3" {
		t.Errorf("plan %q, want the newest drained", got)
	}
}

// Every server joins every membership; the local provider's own port
// replaces the memberships'.
func TestTwoPoolsAndOwnPorts(t *testing.T) {
	ms := []Membership{{Pool: "a", Port: 80, Weight: 1}, {Pool: "b", Port: 8080, Weight: 1}}
	s := Server{ID: "p1", Name: "S1", Address: "127.0.0.1", Port: 41000, Status: StatusActive}
	o := Observed{Servers: []Server{s}, Members: []Member{{ID: "ma", Pool: "a", Address: "127.0.0.1", Port: 41000, Weight: 1, Status: "ONLINE"}}}
	g := Classify(Policy{}, ms, o, t0)
	acts := g.Plan(Policy{}, 1, "S%d", t0)
	if len(acts) != 1 || acts[0].Kind != AddMember || acts[0].Membership.Pool != "b" {
		t.Fatalf("plan %v, want the member of pool b added", acts)
	}
	if g.Ready != 0 || !slices.Equal([]Phase{g.Entries[0].Phase}, []Phase{Booting}) {
		t.Errorf("a server without all its members is not ready: %+v", g.Entries[0])
	}
}
