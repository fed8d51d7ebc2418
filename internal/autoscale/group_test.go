package autoscale

import (
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
