package octavia

import (
	"strings"
	"testing"
)

func parse(t *testing.T, src string) *Config {
	t.Helper()
	cfg, err := Parse("x.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

const twoMembers = `
loadbalancers:
  - name: lb1
    vip_address: 127.0.0.1
    listeners:
      - name: web
        protocol: HTTP
        protocol_port: 8080
        default_pool:
          name: pool1
          protocol: HTTP
          lb_algorithm: ROUND_ROBIN
          members:
            - {name: server1, address: 127.0.0.1, protocol_port: 8081}
            - {name: server2, address: 127.0.0.1, protocol_port: 8082}
`

func TestDiffSummarizes(t *testing.T) {
	old := parse(t, twoMembers)
	edited := strings.Replace(twoMembers, "            - {name: server2, address: 127.0.0.1, protocol_port: 8082}\n",
		"            - {address: 127.0.0.1, protocol_port: 8083}\n", 1)
	edited = strings.Replace(edited, "protocol_port: 8081}", "protocol_port: 8081, weight: 5}", 1)
	edited = strings.Replace(edited, "    listeners:\n", "    listeners:\n      - {name: tcp, protocol: TCP, protocol_port: 9000}\n", 1)
	changes := old.Snapshot().Diff(parse(t, edited).Snapshot())
	want := "1 listener added (tcp); 1 member added (127.0.0.1:8083); 1 member removed (server2); 1 member changed (server1)"
	if got := Summarize(changes); got != want {
		t.Errorf("summary:\n got %s\nwant %s", got, want)
	}
	if Count(changes, KindMember, Added) != 1 || Count(changes, KindListener, Removed) != 0 {
		t.Errorf("counts: %v", changes)
	}
	if got := Summarize(old.Snapshot().Diff(parse(t, twoMembers).Snapshot())); got != "no change" {
		t.Errorf("same file: %s", got)
	}
}

func TestSummarizeCutsLongLists(t *testing.T) {
	var cs []Change
	for _, n := range []string{"a", "b", "c", "d", "e", "f", "g"} {
		cs = append(cs, Change{Kind: KindMember, Name: n, Op: Removed})
	}
	if got, want := Summarize(cs), "7 members removed (a, b, c, d, e, and 2 more)"; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

// TestOverridden: of what the API had done to a file load balancer, the
// reload that makes the file win names what it replaced, removed and
// restored, and nothing the API never touched.
func TestOverridden(t *testing.T) {
	prevFile := parse(t, twoMembers)
	// The running config: the API reweighted server1, added server3 and
	// deleted server2.
	running := parse(t, twoMembers)
	pool := running.LoadBalancers[0].Pools[0]
	pool.Members[0].Weight = Ptr(7)
	added := &Member{ID: "1e6b7c1a-0000-4000-8000-000000000003", Name: "server3", Address: "127.0.0.1", ProtocolPort: 8084}
	deleted := pool.Members[1]
	pool.Members = []*Member{pool.Members[0], added}
	before := running.Snapshot()
	// The file, edited (its listener's connection limit), wins again.
	after := parse(t, strings.Replace(twoMembers, "protocol_port: 8080", "protocol_port: 8080\n        connection_limit: 100", 1))
	got := Overridden(prevFile.Snapshot(), before, after.Snapshot())
	want := []string{
		`member "server3" (` + added.ID + `) removed`,
		`member "server1" (` + pool.Members[0].ID + `) replaced`,
		`member "server2" (` + deleted.ID + `) restored`,
	}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i].String() != want[i] {
			t.Errorf("%d: got %s, want %s", i, got[i], want[i])
		}
	}
	// A reload over a running config the API never touched overrides
	// nothing, whatever the file changed.
	if o := Overridden(prevFile.Snapshot(), prevFile.Snapshot(), after.Snapshot()); len(o) != 0 {
		t.Errorf("nothing was the API's: %v", o)
	}
}

// TestOrigins: each object read from the file knows its file and line.
func TestOrigins(t *testing.T) {
	cfg := parse(t, twoMembers)
	lb := cfg.LoadBalancers[0]
	pool := lb.Pools[0]
	for id, want := range map[string]string{
		lb.ID: "x.yaml:3", lb.Listeners[0].ID: "x.yaml:6", pool.ID: "x.yaml:10",
		pool.Members[0].ID: "x.yaml:14", pool.Members[1].ID: "x.yaml:15",
	} {
		if got := cfg.Origin(id); got != want {
			t.Errorf("%s: %q, want %q", id, got, want)
		}
	}
	if cfg.Origin("no-such-id") != "" || (*Config)(nil).Origin(lb.ID) != "" {
		t.Error("an unknown object has an origin")
	}
}
