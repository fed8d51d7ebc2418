// Package storetest checks a statestore.Store backend against the
// interface's contract: revisions, conditions, atomicity, durability across
// a reopen, and one winner among concurrent conflicting changes. Each
// backend's tests call Run. It is test support: it must not import any lbd
// package but statestore, and no non-test code may import it.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

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
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, fresh(t)) })
	}
}

var ctx = context.Background()

func load(t *testing.T, s statestore.Store) statestore.Snapshot {
	t.Helper()
	snap, err := s.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return snap
}

func commit(t *testing.T, s statestore.Store, txn statestore.Txn) int64 {
	t.Helper()
	rev, err := s.Commit(ctx, txn)
	if err != nil {
		t.Fatal(err)
	}
	return rev
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
	want(t, open(t), "rev 0:")
}

func testRevisions(t *testing.T, open Opener) {
	s := open(t)
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
	s := open(t)
	commit(t, s, statestore.Txn{If: []statestore.Cond{{Key: "a"}}, Ops: []statestore.Op{put("a", "1")}})
	_, err := s.Commit(ctx, statestore.Txn{If: []statestore.Cond{{Key: "a"}}, Ops: []statestore.Op{put("a", "2")}})
	var ce *statestore.ConflictError
	if !errors.Is(err, statestore.ErrConflict) || !errors.As(err, &ce) || ce.Key != "a" || ce.Want != 0 || ce.Have != 1 {
		t.Fatalf("creating an existing key: %v, want a conflict on a (want 0, have 1)", err)
	}
	commit(t, s, statestore.Txn{If: []statestore.Cond{{Key: "a", ModRev: 1}}, Ops: []statestore.Op{put("a", "3")}})
	_, err = s.Commit(ctx, statestore.Txn{If: []statestore.Cond{{Key: "a", ModRev: 1}}, Ops: []statestore.Op{put("a", "4")}})
	if !errors.As(err, &ce) || ce.Want != 1 || ce.Have != 2 {
		t.Fatalf("changing a key read at an old revision: %v, want a conflict (want 1, have 2)", err)
	}
	commit(t, s, statestore.Txn{If: []statestore.Cond{{Key: "a", ModRev: 2}}, Ops: []statestore.Op{statestore.Delete("a")}})
	_, err = s.Commit(ctx, statestore.Txn{If: []statestore.Cond{{Key: "a", ModRev: 2}}, Ops: []statestore.Op{put("a", "5")}})
	if !errors.As(err, &ce) || ce.Have != 0 {
		t.Fatalf("changing a deleted key: %v, want a conflict (have 0)", err)
	}
	want(t, s, "rev 3:")
}

// testAtomic: a transaction whose second condition fails applies nothing,
// and takes no revision.
func testAtomic(t *testing.T, open Opener) {
	s := open(t)
	commit(t, s, ops(put("a", "1"), put("b", "1")))
	_, err := s.Commit(ctx, statestore.Txn{
		If:  []statestore.Cond{{Key: "a", ModRev: 1}, {Key: "b", ModRev: 7}},
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
	s := open(t)
	commit(t, s, ops(put("a", "1"), put("b", "1")))
	commit(t, s, ops(put("a", "2"), statestore.Delete("b")))
	commit(t, s, ops(statestore.Delete("a")))
	commit(t, s, ops(put("c", string(bytes.Repeat([]byte("x"), 100000)))))
	commit(t, s, ops(put("d", "")))
	before := dump(load(t, s))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t)
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
	s := open(t)
	rev := commit(t, s, ops(put("k", "0")))
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
		rev = load(t, s).Rev
	}
}

// testCallerBuffer: the store keeps its own copy of a value.
func testCallerBuffer(t *testing.T, open Opener) {
	s := open(t)
	buf := []byte("abc")
	commit(t, s, statestore.Txn{Ops: []statestore.Op{statestore.Put("a", buf)}})
	copy(buf, "xyz")
	want(t, s, "rev 1: a=abc@1/1")
}
