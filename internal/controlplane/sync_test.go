package controlplane_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"lbd/internal/controlplane"
	"lbd/internal/statestore"
	"lbd/internal/statestore/etcdstore"
	"lbd/internal/statestore/etcdstore/etcdtest"
)

// gatedStore is an instance's etcd store whose watch can be held: what
// other instances commit then reaches it only once released, as when its
// watch lags. Each Head it answers is sent on heads (when there is room).
type gatedStore struct {
	*etcdstore.Store
	heads chan int64

	mu      sync.Mutex
	release chan struct{} // nil: events pass
	// afterHead, when set, runs once after the next Head has read the
	// store's head, before it returns.
	afterHead func()
}

// onNextHead sets afterHead.
func (g *gatedStore) onNextHead(f func()) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.afterHead = f
}

func (g *gatedStore) hold() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.release = make(chan struct{})
}

func (g *gatedStore) open() {
	g.mu.Lock()
	defer g.mu.Unlock()
	close(g.release)
	g.release = nil
}

func (g *gatedStore) Head(ctx context.Context) (int64, error) {
	rev, err := g.Store.Head(ctx)
	g.mu.Lock()
	f := g.afterHead
	g.afterHead = nil
	g.mu.Unlock()
	if f != nil {
		f()
	}
	select {
	case g.heads <- rev:
	default:
	}
	return rev, err
}

func (g *gatedStore) Watch(ctx context.Context, rev int64) <-chan statestore.Event {
	in := g.Store.Watch(ctx, rev)
	out := make(chan statestore.Event)
	go func() {
		defer close(out)
		for ev := range in {
			g.mu.Lock()
			rel := g.release
			g.mu.Unlock()
			if rel != nil {
				select {
				case <-rel:
				case <-ctx.Done():
					return
				}
			}
			select {
			case out <- ev:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out
}

// newGated starts an instance on cfg whose watch the test holds.
func newGated(t *testing.T, cfg etcdstore.Config, opts controlplane.Options) (*sharedEnv, *gatedStore) {
	t.Helper()
	store, err := etcdstore.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	g := &gatedStore{Store: store, heads: make(chan int64, 64)}
	opts.Store = g
	s := &sharedEnv{storeEnv: newStoreEnv(t, opts)}
	s.follow()
	return s, g
}

// reply is an API reply received on another goroutine.
type reply struct {
	code int
	body map[string]any
}

// whileHeld sends a request to b while its watch is held past what a
// committed, waits until b reads the store's head (it is waiting for its
// watch), releases the watch and returns the reply. Without the wait, b
// answers from the state it holds, before reading any head.
func whileHeld(t *testing.T, b *sharedEnv, g *gatedStore, method, path string, body any) reply {
	t.Helper()
	for len(g.heads) > 0 { // heads of the requests before
		<-g.heads
	}
	done := make(chan reply, 1)
	go func() {
		code, m := b.do(method, path, body)
		done <- reply{code, m}
	}()
	select {
	case <-g.heads:
	case a := <-done:
		g.open()
		t.Fatalf("%s %s on an instance whose watch is behind answered %d %v before reading the shared state's head", method, path, a.code, a.body)
	case <-time.After(10 * time.Second):
		t.Fatalf("%s %s: no head read within 10 s", method, path)
	}
	select {
	case a := <-done:
		g.open()
		t.Fatalf("%s %s answered %d %v while the instance's watch was still behind", method, path, a.code, a.body)
	default:
	}
	g.open()
	return <-done
}

// TestSyncReadsYourWrites: an object created through one instance's API
// can be named at once in a change through another instance's API, and
// read there, however far behind that instance's watch is (within the
// sync timeout): the second waits until it holds the first's commit.
func TestSyncReadsYourWrites(t *testing.T) {
	t.Parallel()
	srv := etcdtest.Start(t, etcdtest.Options{})
	cfg := srv.Config(newPrefix())
	a := newSharedOn(t, cfg, nil)
	b, g := newGated(t, cfg, controlplane.Options{})

	g.hold()
	fp := a.must(http.StatusCreated, "POST", "/v2/lbaas/flavorprofiles", fpBody("as", "amphora", `{"loadbalancer_topology": "ACTIVE_STANDBY"}`), "flavorprofile")
	fl := a.must(http.StatusCreated, "POST", "/v2/lbaas/flavors", map[string]any{"flavor": map[string]any{"name": "as", "flavor_profile_id": str(fp, "id")}}, "flavor")
	body := lbBody("second")
	body["loadbalancer"].(map[string]any)["flavor_id"] = str(fl, "id")
	ans := whileHeld(t, b, g, "POST", "/v2/lbaas/loadbalancers", body)
	if ans.code != http.StatusCreated {
		t.Fatalf("a load balancer with the flavor just created through another instance: %d %v, want 201", ans.code, ans.body)
	}
	lb := ans.body["loadbalancer"].(map[string]any)
	if lb["flavor_id"] != str(fl, "id") || lb["topology"] != "ACTIVE_STANDBY" && lb["topology"] != nil {
		t.Errorf("created %v, want the flavor's", lb)
	}

	g.hold()
	lbA := a.must(http.StatusCreated, "POST", "/v2/lbaas/loadbalancers", lbBody("first"), "loadbalancer")
	ans = whileHeld(t, b, g, "GET", "/v2/lbaas/loadbalancers/"+str(lbA, "id"), nil)
	if ans.code != http.StatusOK {
		t.Fatalf("GET of a load balancer just created through another instance: %d %v, want 200", ans.code, ans.body)
	}
}

// TestSyncTimeout: an instance whose watch stays behind refuses changes
// after the sync timeout with a 503 saying so, still answers reads from
// the state it holds, and takes changes again once it has caught up.
func TestSyncTimeout(t *testing.T) {
	t.Parallel()
	srv := etcdtest.Start(t, etcdtest.Options{})
	cfg := srv.Config(newPrefix())
	a := newSharedOn(t, cfg, nil)
	b, g := newGated(t, cfg, controlplane.Options{SyncTimeout: 300 * time.Millisecond})

	g.hold()
	a.must(http.StatusCreated, "POST", "/v2/lbaas/flavorprofiles", fpBody("p", "amphora", `{}`), "flavorprofile")
	code, m := b.do("POST", "/v2/lbaas/flavorprofiles", fpBody("q", "amphora", `{}`))
	fs, _ := m["faultstring"].(string)
	if code != http.StatusServiceUnavailable || !strings.Contains(fs, "has not yet applied the shared state's revision") {
		t.Fatalf("a change on an instance whose watch stays behind: %d %v, want 503 saying it is behind", code, m)
	}
	if got := len(b.must(http.StatusOK, "GET", "/v2/lbaas/flavorprofiles", nil, "")["flavorprofiles"].([]any)); got != 0 {
		t.Fatalf("the lagging instance lists %d flavor profiles, want its own state's 0", got)
	}
	g.open()
	b.must(http.StatusCreated, "POST", "/v2/lbaas/flavorprofiles", fpBody("q", "amphora", `{}`), "flavorprofile")
	if got := len(b.must(http.StatusOK, "GET", "/v2/lbaas/flavorprofiles", nil, "")["flavorprofiles"].([]any)); got != 2 {
		t.Fatalf("after catching up the instance lists %d flavor profiles, want 2", got)
	}
}

// TestSyncReadBound: a read on an instance whose watch stays behind is
// answered from the state it holds within a second or so, not after the
// (here long) wait a change gets.
func TestSyncReadBound(t *testing.T) {
	t.Parallel()
	srv := etcdtest.Start(t, etcdtest.Options{})
	cfg := srv.Config(newPrefix())
	a := newSharedOn(t, cfg, nil)
	b, g := newGated(t, cfg, controlplane.Options{SyncTimeout: time.Minute})
	g.hold()
	defer g.open()
	a.must(http.StatusCreated, "POST", "/v2/lbaas/flavorprofiles", fpBody("p", "amphora", `{}`), "flavorprofile")
	done := make(chan reply, 1)
	go func() {
		code, m := b.do("GET", "/v2/lbaas/flavorprofiles", nil)
		done <- reply{code, m}
	}()
	select {
	case r := <-done:
		if r.code != http.StatusOK || len(r.body["flavorprofiles"].([]any)) != 0 {
			t.Fatalf("a read on an instance whose watch is behind: %d %v, want 200 and its own state's empty list", r.code, r.body)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("a read on an instance whose watch is behind waited as long as a change would (a minute here)")
	}
}
