package controlplane_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"lbd/internal/controlplane"
	"lbd/internal/octavia"
	"lbd/internal/statestore/etcdstore"
	"lbd/internal/statestore/etcdstore/etcdtest"
)

// Instances sharing one state in a real etcd, each a control plane with
// its own (fake) data plane and API, following the store.

var sharedPrefixes atomic.Int64

// sharedEnv is one instance.
type sharedEnv struct {
	*storeEnv
	stopFollow func()
}

// newShared starts an instance on srv under prefix, following the store
// until the test ends (or stopFollow), and loads file first.
func newShared(t *testing.T, srv *etcdtest.Server, prefix string, file *octavia.Config) *sharedEnv {
	t.Helper()
	return newSharedOn(t, srv.Config(prefix), file)
}

// newSharedOn starts an instance on the store cfg names.
func newSharedOn(t *testing.T, cfg etcdstore.Config, file *octavia.Config) *sharedEnv {
	t.Helper()
	store, err := etcdstore.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	e := newStoreEnv(t, controlplane.Options{Store: store})
	if file != nil {
		if err := e.cp.SetFileConfig(context.Background(), file); err != nil {
			t.Fatal(err)
		}
	}
	s := &sharedEnv{storeEnv: e}
	s.follow()
	return s
}

// follow (re)starts following the store.
func (s *sharedEnv) follow() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); s.cp.Follow(ctx) }()
	var once sync.Once
	s.stopFollow = func() { once.Do(func() { cancel(); <-done }) }
	s.t.Cleanup(s.stopFollow)
}

func newPrefix() string { return fmt.Sprintf("/cp%d", sharedPrefixes.Add(1)) }

// served is what the instance's data plane serves: load balancer names
// with their descriptions, in order.
func (s *sharedEnv) served() string {
	cfg := s.dp.last()
	if cfg == nil {
		return ""
	}
	var parts []string
	for _, lb := range cfg.LoadBalancers {
		parts = append(parts, lb.Name+":"+lb.Description)
	}
	return strings.Join(parts, " ")
}

// listed is what the instance's API lists, as served renders it.
func (s *sharedEnv) listed() string {
	var parts []string
	for _, lb := range s.must(http.StatusOK, "GET", "/v2/lbaas/loadbalancers", nil, "")["loadbalancers"].([]any) {
		m := lb.(map[string]any)
		parts = append(parts, str(m, "name")+":"+str(m, "description"))
	}
	return strings.Join(parts, " ")
}

// await polls until the instance serves and lists want (in any order:
// the API sorts its lists).
func (s *sharedEnv) await(what, want string) time.Duration {
	s.t.Helper()
	start := time.Now()
	deadline := start.Add(10 * time.Second)
	sorted := func(s string) string {
		f := strings.Fields(s)
		slices.Sort(f)
		return strings.Join(f, " ")
	}
	for {
		served, listed := s.served(), s.listed()
		if sorted(served) == sorted(want) && sorted(listed) == sorted(want) {
			return time.Since(start)
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("%s: the instance serves %q and lists %q, want %q", what, served, listed, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// everApplied reports whether any config the instance's data plane was
// given held a load balancer with that description.
func (s *sharedEnv) everApplied(desc string) bool {
	s.dp.mu.Lock()
	defer s.dp.mu.Unlock()
	for _, cfg := range s.dp.applied {
		for _, lb := range cfg.LoadBalancers {
			if lb.Description == desc {
				return true
			}
		}
	}
	return false
}

func update(id, desc string) map[string]any {
	return map[string]any{"loadbalancer": map[string]any{"description": desc}}
}

// TestSharedStateFollows: a change through any instance is served and
// listed by the others; the one that made it sees it come back from the
// watch without applying it twice.
func TestSharedStateFollows(t *testing.T) {
	t.Parallel()
	srv := etcdtest.Start(t, etcdtest.Options{})
	p := newPrefix()
	a, b := newShared(t, srv, p, nil), newShared(t, srv, p, nil)
	lb := a.must(http.StatusCreated, "POST", "/v2/lbaas/loadbalancers", fullLB("one", 8080), "loadbalancer")
	id := str(lb, "id")
	b.await("created on a", "one:")
	b.must(http.StatusOK, "PUT", "/v2/lbaas/loadbalancers/"+id, update(id, "from b"), "loadbalancer")
	a.await("updated on b", "one:from b")
	applies := a.dp.applies()
	two := b.must(http.StatusCreated, "POST", "/v2/lbaas/loadbalancers", lbBody("two"), "loadbalancer")
	a.await("second created on b", "one:from b two:")
	b.must(http.StatusNoContent, "DELETE", "/v2/lbaas/loadbalancers/"+id+"?cascade=true", nil, "")
	a.await("deleted on b", "two:")
	if n := a.dp.applies() - applies; n != 2 {
		t.Errorf("a's data plane applied %d times for two changes made elsewhere, want 2", n)
	}
	// The instance that made a change applies it once: its own commit
	// coming back from the watch is skipped.
	applies = b.dp.applies()
	b.must(http.StatusOK, "PUT", "/v2/lbaas/loadbalancers/"+str(two, "id"), update("", "again"), "loadbalancer")
	a.await("updated on b", "two:again")
	if n := b.dp.applies() - applies; n != 1 {
		t.Errorf("b's data plane applied its own change %d times, want 1", n)
	}
	// Details the data plane gets, as the originator stored them.
	got := a.must(http.StatusOK, "GET", "/v2/lbaas/loadbalancers/"+str(two, "id"), nil, "loadbalancer")
	if got["provisioning_status"] != "ACTIVE" || got["updated_at"] == nil {
		t.Errorf("a lists the load balancer changed on b as %v", got)
	}
}

// TestSharedConflictAppliedNowhere: a change made on an instance that has
// not yet seen a concurrent change to the same load balancer (committed
// after the instance synced for its own, before it commits) loses the etcd
// transaction: Octavia's 409, and no data plane ever serves it.
func TestSharedConflictAppliedNowhere(t *testing.T) {
	t.Parallel()
	srv := etcdtest.Start(t, etcdtest.Options{})
	p := newPrefix()
	a := newShared(t, srv, p, nil)
	b, g := newGated(t, srv.Config(p), controlplane.Options{})
	id := str(a.must(http.StatusCreated, "POST", "/v2/lbaas/loadbalancers", lbBody("lb"), "loadbalancer"), "id")
	b.await("created", "lb:")
	var won atomic.Bool
	g.onNextHead(func() {
		g.hold() // b falls behind
		code, m := a.do("PUT", "/v2/lbaas/loadbalancers/"+id, update(id, "winner"))
		won.Store(code == http.StatusOK && m != nil)
	})
	b.fault(http.StatusConflict, "Load Balancer "+id+" is immutable and cannot be updated.",
		"PUT", "/v2/lbaas/loadbalancers/"+id, update(id, "loser"))
	if !won.Load() {
		t.Fatal("the concurrent change through a failed")
	}
	if !strings.Contains(b.logs.String(), `"key":"lb/`+id+`"`) {
		t.Errorf("the lost race is not logged with its key: %s", b.logs.String())
	}
	g.open()
	b.await("after catching up", "lb:winner")
	a.await("the winner", "lb:winner")
	for name, e := range map[string]*sharedEnv{"a": a, "b": b} {
		if e.everApplied("loser") {
			t.Errorf("%s's data plane was given the change that lost the race", name)
		}
	}
	// A change made now, on the current revision, goes through.
	b.must(http.StatusOK, "PUT", "/v2/lbaas/loadbalancers/"+id, update(id, "next"), "loadbalancer")
	a.await("after the race", "lb:next")
}

// TestSharedRefusesMalformedValue: a value under the prefix that lbd
// cannot read (written by something else) is refused with a log line
// naming the key; the instance serves what it served, and later changes
// flow.
func TestSharedRefusesMalformedValue(t *testing.T) {
	t.Parallel()
	srv := etcdtest.Start(t, etcdtest.Options{})
	p := newPrefix()
	a, b := newShared(t, srv, p, nil), newShared(t, srv, p, nil)
	id := str(a.must(http.StatusCreated, "POST", "/v2/lbaas/loadbalancers", lbBody("lb"), "loadbalancer"), "id")
	b.await("created", "lb:")
	tool, err := etcdstore.Dial(context.Background(), srv.Config(p))
	if err != nil {
		t.Fatal(err)
	}
	defer tool.Close()
	for _, tc := range []struct{ key, value, why string }{
		{"state/lb/" + id, `{"loadbalancer": {"id": "` + id + `", "name": `, "unexpected end of JSON input"},
		{"state/lb/" + id, `{"loadbalancer": {"id": "someone-else"}}`, "not the load balancer its key names"},
		{"state/flavours/x", `{}`, "unknown key"},
		{"state/format", `"2"`, `format "\"2\"", this lbd reads "1"`},
	} {
		applies := b.dp.applies()
		rev, err := tool.Put(context.Background(), tc.key, []byte(tc.value))
		if err != nil {
			t.Fatal(err)
		}
		// Wait until b took the revision (refused), then look.
		deadline := time.Now().Add(10 * time.Second)
		for !strings.Contains(b.logs.String(), fmt.Sprintf(`"revision":%d`, rev)) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: b logged nothing about revision %d", tc.key, rev)
			}
			time.Sleep(5 * time.Millisecond)
		}
		key := strings.TrimPrefix(tc.key, "state/")
		var line map[string]any
		for l := range strings.SplitSeq(b.logs.String(), "\n") {
			if strings.Contains(l, fmt.Sprintf(`"revision":%d`, rev)) {
				json.Unmarshal([]byte(l), &line)
			}
		}
		if line["level"] != "ERROR" || line["key"] != key || !strings.Contains(fmt.Sprint(line["err"]), tc.why) {
			t.Errorf("%s = %s: logged %v, want an error naming key %s and saying %q", tc.key, tc.value, line, key, tc.why)
		}
		if b.dp.applies() != applies || b.listed() != "lb:" {
			t.Errorf("%s: b applied something or lists %q after a value it cannot read", tc.key, b.listed())
		}
	}
	// Repair what was written, then changes flow again.
	if _, err := tool.Put(context.Background(), "state/format", []byte("1")); err != nil {
		t.Fatal(err)
	}
	tool.Put(context.Background(), "state/flavours/x", nil)
	create := a.must(http.StatusCreated, "POST", "/v2/lbaas/loadbalancers", lbBody("after"), "loadbalancer")
	b.await("a change after the bad values", "lb: after:")
	_ = create
}

// TestSharedCatchesUpAfterCompaction: an instance that was away while the
// history it needs was compacted reads the state whole and applies it in
// one step, never serving anything older than what it had.
func TestSharedCatchesUpAfterCompaction(t *testing.T) {
	t.Parallel()
	srv := etcdtest.Start(t, etcdtest.Options{})
	p := newPrefix()
	a, b := newShared(t, srv, p, nil), newShared(t, srv, p, nil)
	one := str(a.must(http.StatusCreated, "POST", "/v2/lbaas/loadbalancers", lbBody("one"), "loadbalancer"), "id")
	two := str(a.must(http.StatusCreated, "POST", "/v2/lbaas/loadbalancers", lbBody("two"), "loadbalancer"), "id")
	b.await("created", "one: two:")
	b.stopFollow()
	a.must(http.StatusOK, "PUT", "/v2/lbaas/loadbalancers/"+one, update(one, "v1"), "loadbalancer")
	a.must(http.StatusOK, "PUT", "/v2/lbaas/loadbalancers/"+one, update(one, "v2"), "loadbalancer")
	a.must(http.StatusNoContent, "DELETE", "/v2/lbaas/loadbalancers/"+two, nil, "")
	a.must(http.StatusCreated, "POST", "/v2/lbaas/loadbalancers", lbBody("three"), "loadbalancer")
	tool, err := etcdstore.Dial(context.Background(), srv.Config(p))
	if err != nil {
		t.Fatal(err)
	}
	defer tool.Close()
	_, rev, err := tool.Get(context.Background(), "state/lb/"+one)
	if err != nil {
		t.Fatal(err)
	}
	if err := tool.Compact(context.Background(), rev); err != nil {
		t.Fatal(err)
	}
	applies := b.dp.applies()
	b.follow()
	b.await("after the compaction", "one:v2 three:")
	if n := b.dp.applies() - applies; n != 1 {
		t.Errorf("b applied %d times to catch up, want 1 (the whole state read at once)", n)
	}
	if b.everApplied("v1") {
		t.Error("b served v1, older than the state it caught up to")
	}
	if !strings.Contains(b.logs.String(), "reading the state whole") {
		t.Errorf("the full read is not logged: %s", b.logs.String())
	}
}

// TestSharedEtcdDown: with etcd down, instances serve the last state and
// refuse API changes with a 503 saying why, without touching their data
// plane; once etcd is back, changes flow again.
func TestSharedEtcdDown(t *testing.T) {
	t.Parallel()
	srv := etcdtest.Start(t, etcdtest.Options{})
	p := newPrefix()
	a, b := newShared(t, srv, p, nil), newShared(t, srv, p, nil)
	id := str(a.must(http.StatusCreated, "POST", "/v2/lbaas/loadbalancers", lbBody("lb"), "loadbalancer"), "id")
	b.await("created", "lb:")
	srv.Kill()
	applies := a.dp.applies()
	start := time.Now()
	code, f := a.do("PUT", "/v2/lbaas/loadbalancers/"+id, update(id, "down"))
	fs := str(f, "faultstring")
	if code != http.StatusServiceUnavailable || !strings.Contains(fs, "cannot be reached") || !strings.Contains(fs, srv.Endpoint) ||
		!strings.Contains(fs, "keeps serving the last state") {
		t.Fatalf("a change with etcd down: %d %v; want a 503 naming etcd at %s and saying the last state is served", code, f, srv.Endpoint)
	}
	t.Logf("refused in %s: %s", time.Since(start).Round(time.Millisecond), fs)
	if a.dp.applies() != applies || a.listed() != "lb:" || b.listed() != "lb:" {
		t.Errorf("with etcd down: a applied %d times, a lists %q, b lists %q; want nothing changed",
			a.dp.applies()-applies, a.listed(), b.listed())
	}
	// Later changes are refused at once, before the data plane.
	start = time.Now()
	if code, _ := a.do("PUT", "/v2/lbaas/loadbalancers/"+id, update(id, "down")); code != http.StatusServiceUnavailable {
		t.Errorf("second change with etcd down: %d, want 503", code)
	}
	t.Logf("second refusal in %s", time.Since(start).Round(time.Millisecond))
	srv.Restart()
	deadline := time.Now().Add(15 * time.Second)
	for {
		code, _ := b.do("PUT", "/v2/lbaas/loadbalancers/"+id, update(id, "back"))
		if code == http.StatusOK {
			break
		}
		if code != http.StatusServiceUnavailable || time.Now().After(deadline) {
			t.Fatalf("change after etcd's return: %d", code)
		}
		time.Sleep(50 * time.Millisecond)
	}
	a.await("etcd back", "lb:back")
	if a.everApplied("down") || b.everApplied("down") {
		t.Error("a change refused while etcd was down reached a data plane")
	}
}

// TestSharedBigFirstStart: a first start whose config file holds more
// load balancers than etcd takes in one transaction (--max-txn-ops 128)
// stores them in parts; another instance, started meanwhile with the same
// file, serves them all.
func TestSharedBigFirstStart(t *testing.T) {
	t.Parallel()
	srv := etcdtest.Start(t, etcdtest.Options{})
	p := newPrefix()
	file := &octavia.Config{}
	for i := range 300 {
		lb := &octavia.LoadBalancer{Name: fmt.Sprintf("lb%03d", i), VIPAddress: "127.0.0.1"}
		file.LoadBalancers = append(file.LoadBalancers, lb)
	}
	file.SetDefaults()
	file.Normalize()
	b := newShared(t, srv, p, nil)
	a := newShared(t, srv, p, file)
	if err := b.cp.SetFileConfig(context.Background(), file); err != nil {
		t.Fatal(err)
	}
	want := a.served()
	if strings.Count(want, "lb") != 300 {
		t.Fatalf("a serves %q", want)
	}
	b.await("a big first start", want)
}

// TestSharedSimultaneousStarts: instances starting together with the same
// config file each merge it; the one that loses the transaction reads the
// store again and finds nothing left to do.
func TestSharedSimultaneousStarts(t *testing.T) {
	t.Parallel()
	srv := etcdtest.Start(t, etcdtest.Options{})
	p := newPrefix()
	file := &octavia.Config{LoadBalancers: []*octavia.LoadBalancer{{Name: "from-file", VIPAddress: "127.0.0.1"}}}
	file.SetDefaults()
	file.Normalize()
	var envs [3]*sharedEnv
	for i := range envs {
		envs[i] = newShared(t, srv, p, nil)
	}
	var wg sync.WaitGroup
	errs := make([]error, len(envs))
	for i, e := range envs {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = e.cp.SetFileConfig(context.Background(), file) }()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("instance %d: %v", i, err)
		}
	}
	for _, e := range envs {
		e.await("simultaneous starts", "from-file:")
	}
}

// TestSharedEtcdMemberKilled: three etcd members; the leader is killed
// (kill -9) while an instance acknowledges changes: every acknowledged
// change is served by both instances, changes go on through the other
// members (refused with a 503 only while they elect a leader), and the
// member restarted catches up.
func TestSharedEtcdMemberKilled(t *testing.T) {
	t.Parallel()
	cl := etcdtest.StartCluster(t, 3)
	var leader *etcdtest.Server
	deadline := time.Now().Add(10 * time.Second)
	for leader = cl.Leader(context.Background()); leader == nil; leader = cl.Leader(context.Background()) {
		if time.Now().After(deadline) {
			t.Fatal("no etcd member leads")
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The leader first among the endpoints: an instance that used only
	// its first endpoint would never write again.
	cfg := cl.Config(newPrefix())
	cfg.Endpoints = slices.DeleteFunc(cfg.Endpoints, func(e string) bool { return e == leader.Endpoint })
	cfg.Endpoints = append([]string{leader.Endpoint}, cfg.Endpoints...)
	a, b := newSharedOn(t, cfg, nil), newSharedOn(t, cfg, nil)
	var acked []string
	refused := map[int]int{}
	killed := make(chan time.Time, 1)
	afterKill := 0
	start := time.Now()
	for i := 0; afterKill < 10; i++ {
		if i == 10 {
			go func() { leader.Kill(); killed <- time.Now() }() // during the next changes
		}
		name := fmt.Sprintf("lb%d", i)
		sent := time.Now()
		code, m := a.do("POST", "/v2/lbaas/loadbalancers", lbBody(name))
		if took := time.Since(sent); took > time.Second || code != http.StatusCreated {
			t.Logf("change %d: %d after %s: %v", i, code, took.Round(time.Millisecond), m["faultstring"])
		}
		switch code {
		case http.StatusCreated:
			acked = append(acked, name+":")
			if i > 10 {
				afterKill++
			}
		case http.StatusServiceUnavailable:
			refused[code]++
		default:
			t.Fatalf("change %d with an etcd member killed: %d %v; want 201 or 503", i, code, m)
		}
		if time.Since(start) > 30*time.Second {
			t.Fatalf("changes did not go on after the leader's kill: %d acknowledged, refused %v", len(acked), refused)
		}
	}
	at := <-killed
	t.Logf("%d changes acknowledged, %d refused with 503 while the members elected a leader; the last acknowledged %s after the kill",
		len(acked), refused[http.StatusServiceUnavailable], time.Since(at).Round(time.Millisecond))
	a.awaitHas("after the kill of etcd's leader", acked...)
	b.awaitHas("after the kill of etcd's leader", acked...)
	leader.Restart()
	b.must(http.StatusCreated, "POST", "/v2/lbaas/loadbalancers", lbBody("after-restart"), "loadbalancer")
	a.awaitHas("after the member's restart", "after-restart:")
}

// awaitHas polls until the instance lists every one of names (as listed
// renders them).
func (s *sharedEnv) awaitHas(what string, names ...string) {
	s.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		listed := " " + s.listed() + " "
		var missing []string
		for _, name := range names {
			if !strings.Contains(listed, " "+name+" ") {
				missing = append(missing, name)
			}
		}
		if len(missing) == 0 {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("%s: acknowledged changes missing: %v", what, missing)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
