// Package storetest checks a statestore.Store backend against the
// interface's contract: revisions, conditions, atomicity, durability across
// a reopen, and one winner among concurrent conflicting changes; and, for a
// shared store (statestore.Watcher), watches. Each backend's tests call
// Run.
//
// Revisions are checked relative to the store's revision when a test
// starts: a shared store's revisions count every write to its server, so a
// fresh prefix of an etcd that served others does not start at 0.
//
// It is test support: it must not import any lbd package but statestore,
// and no non-test code may import it.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"lbd/internal/statestore"
)

// Opener opens the backend under test. Called again in the same test, it
// must reopen the same store (after the previous one was closed).
type Opener func(t *testing.T) statestore.Store

// Run runs the contract's tests; fresh gives each test an Opener on a store
// of its own, empty.
func Run(t *testing.T, fresh func(t *testing.T) Opener) {
	tests := []struct {
		name string
		fn   func(t *testing.T, open Opener)
	}{
		{"Empty", testEmpty},
		{"Revisions", testRevisions},
		{"Conditions", testConditions},
		{"Atomic", testAtomic},
		{"Reopen", testReopen},
		{"OneWinner", testOneWinner},
		{"CallerBuffer", testCallerBuffer},
		{"Watch", testWatch},
		{"WatchFromPast", testWatchFromPast},
		{"WatchCompacted", testWatchCompacted},
		{"Head", testHead},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, fresh(t)) })
	}
}

var ctx = context.Background()

// bases holds each store's revision when its test started, which the
// revisions the tests see and expect are relative to.
var bases sync.Map // statestore.Store to int64

func base(s statestore.Store) int64 {
	b, _ := bases.Load(s)
	n, _ := b.(int64)
	return n
}

// opened is open(t) with the store's base revision recorded; a store
// reopened keeps the base of the first one of the test.
func opened(t *testing.T, open Opener, first statestore.Store) statestore.Store {
	t.Helper()
	s := open(t)
	if first != nil {
		bases.Store(s, base(first))
		return s
	}
	snap, err := s.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	bases.Store(s, snap.Rev)
	t.Cleanup(func() { bases.Delete(s) })
	return s
}

func load(t *testing.T, s statestore.Store) statestore.Snapshot {
	t.Helper()
	snap, err := s.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b := base(s)
	snap.Rev -= b
	kvs := make([]statestore.KV, len(snap.KVs))
	for i, kv := range snap.KVs {
		kv.CreateRev -= b
		kv.ModRev -= b
		kvs[i] = kv
	}
	snap.KVs = kvs
	return snap
}

// commit commits txn and returns its revision, relative to the base.
func commit(t *testing.T, s statestore.Store, txn statestore.Txn) int64 {
	t.Helper()
	rev, err := s.Commit(ctx, txn)
	if err != nil {
		t.Fatal(err)
	}
	return rev - base(s)
}

func ops(o ...statestore.Op) statestore.Txn { return statestore.Txn{Ops: o} }

func put(k, v string) statestore.Op { return statestore.Put(k, []byte(v)) }

// dump renders a snapshot as "key=value@create/mod" in its order.
func dump(snap statestore.Snapshot) string {
	var b bytes.Buffer
	fmt.Fprintf(&b, "rev %d:", snap.Rev)
	for _, kv := range snap.KVs {
		fmt.Fprintf(&b, " %s=%s@%d/%d", kv.Key, kv.Value, kv.CreateRev, kv.ModRev)
	}
	return b.String()
}

func want(t *testing.T, s statestore.Store, w string) {
	t.Helper()
	if got := dump(load(t, s)); got != w {
		t.Errorf("store holds\n %s\nwant\n %s", got, w)
	}
}

func testEmpty(t *testing.T, open Opener) {
	want(t, opened(t, open, nil), "rev 0:")
}

func testRevisions(t *testing.T, open Opener) {
	s := opened(t, open, nil)
	if rev := commit(t, s, ops(put("b", "1"), put("a", "1"))); rev != 1 {
		t.Errorf("first commit at revision %d, want 1", rev)
	}
	commit(t, s, ops(put("c", "2")))
	commit(t, s, ops(put("a", "3"), statestore.Delete("b"), statestore.Delete("nothing")))
	// Keys in order of creation, then of key; a put keeps the creation.
	want(t, s, "rev 3: a=3@1/3 c=2@2/2")
	commit(t, s, ops(put("b", "4")))
	want(t, s, "rev 4: a=3@1/3 c=2@2/2 b=4@4/4")
}

func testConditions(t *testing.T, open Opener) {
	s := opened(t, open, nil)
	b := base(s)
	commit(t, s, statestore.Txn{If: []statestore.Cond{{Key: "a"}}, Ops: []statestore.Op{put("a", "1")}})
	_, err := s.Commit(ctx, statestore.Txn{If: []statestore.Cond{{Key: "a"}}, Ops: []statestore.Op{put("a", "2")}})
	var ce *statestore.ConflictError
	if !errors.Is(err, statestore.ErrConflict) || !errors.As(err, &ce) || ce.Key != "a" || ce.Want != 0 || ce.Have != b+1 {
		t.Fatalf("creating an existing key: %v, want a conflict on a (want 0, have %d)", err, b+1)
	}
	commit(t, s, statestore.Txn{If: []statestore.Cond{{Key: "a", ModRev: b + 1}}, Ops: []statestore.Op{put("a", "3")}})
	_, err = s.Commit(ctx, statestore.Txn{If: []statestore.Cond{{Key: "a", ModRev: b + 1}}, Ops: []statestore.Op{put("a", "4")}})
	if !errors.As(err, &ce) || ce.Want != b+1 || ce.Have != b+2 {
		t.Fatalf("changing a key read at an old revision: %v, want a conflict (want %d, have %d)", err, b+1, b+2)
	}
	commit(t, s, statestore.Txn{If: []statestore.Cond{{Key: "a", ModRev: b + 2}}, Ops: []statestore.Op{statestore.Delete("a")}})
	_, err = s.Commit(ctx, statestore.Txn{If: []statestore.Cond{{Key: "a", ModRev: b + 2}}, Ops: []statestore.Op{put("a", "5")}})
	if !errors.As(err, &ce) || ce.Have != 0 {
		t.Fatalf("changing a deleted key: %v, want a conflict (have 0)", err)
	}
	want(t, s, "rev 3:")
}

// testAtomic: a transaction whose second condition fails applies nothing,
// and takes no revision.
func testAtomic(t *testing.T, open Opener) {
	s := opened(t, open, nil)
	b := base(s)
	commit(t, s, ops(put("a", "1"), put("b", "1")))
	_, err := s.Commit(ctx, statestore.Txn{
		If:  []statestore.Cond{{Key: "a", ModRev: b + 1}, {Key: "b", ModRev: b + 7}},
		Ops: []statestore.Op{put("a", "2"), statestore.Delete("b"), put("c", "2")},
	})
	if !errors.Is(err, statestore.ErrConflict) {
		t.Fatalf("got %v, want a conflict", err)
	}
	want(t, s, "rev 1: a=1@1/1 b=1@1/1")
	if rev := commit(t, s, ops(put("c", "2"))); rev != 2 {
		t.Errorf("next commit at revision %d, want 2", rev)
	}
}

func testReopen(t *testing.T, open Opener) {
	s := opened(t, open, nil)
	first := s
	commit(t, s, ops(put("a", "1"), put("b", "1")))
	commit(t, s, ops(put("a", "2"), statestore.Delete("b")))
	commit(t, s, ops(statestore.Delete("a")))
	commit(t, s, ops(put("c", string(bytes.Repeat([]byte("x"), 100000)))))
	commit(t, s, ops(put("d", "")))
	before := dump(load(t, s))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = opened(t, open, first)
	if got := dump(load(t, s)); got != before {
		t.Errorf("after reopening: %.100s, before: %.100s", got, before)
	}
	if rev := commit(t, s, ops(put("e", "1"))); rev != 6 {
		t.Errorf("commit after reopening at revision %d, want 6", rev)
	}
}

// testOneWinner: goroutines that read the same revision of a key and
// change it with a condition on it: exactly one wins each round.
func testOneWinner(t *testing.T, open Opener) {
	s := opened(t, open, nil)
	rev, err := s.Commit(ctx, ops(put("k", "0")))
	if err != nil {
		t.Fatal(err)
	}
	for round := range 20 {
		var wg sync.WaitGroup
		var mu sync.Mutex
		wins := 0
		for g := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := s.Commit(ctx, statestore.Txn{If: []statestore.Cond{{Key: "k", ModRev: rev}},
					Ops: []statestore.Op{put("k", fmt.Sprint(round, g))}})
				switch {
				case err == nil:
					mu.Lock()
					wins++
					mu.Unlock()
				case !errors.Is(err, statestore.ErrConflict):
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		if wins != 1 {
			t.Fatalf("round %d: %d commits won, want 1", round, wins)
		}
		snap, err := s.Load(ctx)
		if err != nil {
			t.Fatal(err)
		}
		rev = snap.Rev
	}
}

// testCallerBuffer: the store keeps its own copy of a value.
func testCallerBuffer(t *testing.T, open Opener) {
	s := opened(t, open, nil)
	buf := []byte("abc")
	commit(t, s, statestore.Txn{Ops: []statestore.Op{statestore.Put("a", buf)}})
	copy(buf, "xyz")
	want(t, s, "rev 1: a=abc@1/1")
}

// watcher is s as a shared store, or skips the test.
func watcher(t *testing.T, s statestore.Store) statestore.Watcher {
	t.Helper()
	w, ok := s.(statestore.Watcher)
	if !ok {
		t.Skip("not a shared store: no Watch")
	}
	return w
}

// next receives the next Event with changes (or an error), skipping
// progress notices.
func next(t *testing.T, s statestore.Store, ch <-chan statestore.Event) (statestore.Event, bool) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case ev, ok := <-ch:
			if !ok {
				return ev, false
			}
			if ev.Err == nil && len(ev.Puts) == 0 && len(ev.Deletes) == 0 {
				continue
			}
			return ev, true
		case <-timeout:
			t.Fatal("no event from the watch within 10 s")
		}
	}
}

// dumpEvent renders an Event as "rev N: +key=value@create/mod -key".
func dumpEvent(s statestore.Store, ev statestore.Event) string {
	b := base(s)
	var out bytes.Buffer
	fmt.Fprintf(&out, "rev %d:", ev.Rev-b)
	for _, kv := range ev.Puts {
		fmt.Fprintf(&out, " +%s=%s@%d/%d", kv.Key, kv.Value, kv.CreateRev-b, kv.ModRev-b)
	}
	for _, k := range ev.Deletes {
		fmt.Fprintf(&out, " -%s", k)
	}
	return out.String()
}

func wantEvents(t *testing.T, s statestore.Store, ch <-chan statestore.Event, want ...string) {
	t.Helper()
	for _, w := range want {
		ev, ok := next(t, s, ch)
		if !ok {
			t.Fatalf("watch closed; want %s", w)
		}
		if ev.Err != nil {
			t.Fatalf("watch: %v; want %s", ev.Err, w)
		}
		if got := dumpEvent(s, ev); got != w {
			t.Errorf("watch sent\n %s\nwant\n %s", got, w)
		}
	}
}

// testWatch: each transaction committed after the watch started arrives
// whole, in order, with its revisions.
func testWatch(t *testing.T, open Opener) {
	s := opened(t, open, nil)
	w := watcher(t, s)
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch := w.Watch(wctx, base(s))
	commit(t, s, ops(put("b", "1"), put("a", "1")))
	commit(t, s, ops(put("a", "2"), statestore.Delete("b")))
	commit(t, s, ops(put("c", "3")))
	wantEvents(t, s, ch, "rev 1: +b=1@1/1 +a=1@1/1", "rev 2: +a=2@1/2 -b", "rev 3: +c=3@3/3")
	cancel()
	for range ch { // closed once the context is done
	}
}

// testHead: the head is the revision of the last transaction committed,
// whatever it did (a delete too), and a watch reaches it.
func testHead(t *testing.T, open Opener) {
	s := opened(t, open, nil)
	w := watcher(t, s)
	head := func() int64 {
		t.Helper()
		rev, err := w.Head(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if rev == 0 {
			return 0
		}
		return rev - base(s)
	}
	if h := head(); h != 0 {
		t.Fatalf("head of an empty store: revision %d, want 0", h)
	}
	r1 := commit(t, s, ops(put("a", "1"), put("b", "1")))
	if h := head(); h != r1 {
		t.Fatalf("head after a put: revision %d, want %d", h, r1)
	}
	r2 := commit(t, s, ops(statestore.Delete("a")))
	if h := head(); h != r2 {
		t.Fatalf("head after a delete: revision %d, want %d (deletes count)", h, r2)
	}
	if _, err := s.Commit(ctx, statestore.Txn{If: []statestore.Cond{{Key: "b", ModRev: 99}}, Ops: []statestore.Op{put("c", "1")}}); !errors.Is(err, statestore.ErrConflict) {
		t.Fatalf("commit against a wrong revision: %v, want a conflict", err)
	}
	if h := head(); h != r2 {
		t.Fatalf("head after a refused commit: revision %d, want %d", h, r2)
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	wantEvents(t, s, w.Watch(wctx, base(s)), "rev 1: +a=1@1/1 +b=1@1/1", "rev 2: -a")
}

// testWatchFromPast: a watch from an old revision gets what followed it.
func testWatchFromPast(t *testing.T, open Opener) {
	s := opened(t, open, nil)
	w := watcher(t, s)
	first := commit(t, s, ops(put("a", "1")))
	commit(t, s, ops(put("a", "2")))
	commit(t, s, ops(statestore.Delete("a")))
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	wantEvents(t, s, w.Watch(wctx, base(s)+first), "rev 2: +a=2@1/2", "rev 3: -a")
}

// testWatchCompacted: a watch from a revision the store no longer holds
// says so and closes.
func testWatchCompacted(t *testing.T, open Opener) {
	s := opened(t, open, nil)
	w := watcher(t, s)
	c, ok := s.(interface {
		Compact(ctx context.Context, rev int64) error
	})
	if !ok {
		t.Skip("the store cannot be compacted on demand")
	}
	first := commit(t, s, ops(put("a", "1")))
	commit(t, s, ops(put("a", "2")))
	last := commit(t, s, ops(put("a", "3")))
	if err := c.Compact(ctx, base(s)+last); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch := w.Watch(wctx, base(s)+first)
	ev, ok := next(t, s, ch)
	if !ok || !errors.Is(ev.Err, statestore.ErrCompacted) {
		t.Fatalf("watch from a compacted revision sent %+v (open %v), want ErrCompacted", ev, ok)
	}
	if _, ok := <-ch; ok {
		t.Error("the watch goes on after ErrCompacted; want it closed")
	}
}
