package etcdstore_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"lbd/internal/statestore"
	"lbd/internal/statestore/etcdstore"
	"lbd/internal/statestore/etcdstore/etcdtest"
	"lbd/internal/statestore/storetest"
)

var prefixes atomic.Int64

// prefix is a prefix of its own for each store of a test.
func prefix() string { return fmt.Sprintf("/test%d", prefixes.Add(1)) }

func open(t *testing.T, cfg etcdstore.Config) *etcdstore.Store {
	t.Helper()
	s, err := etcdstore.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestEtcdStore: the etcd backend keeps the store's contract, watches
// included, against a real etcd.
func TestEtcdStore(t *testing.T) {
	t.Parallel()
	srv := etcdtest.Start(t, etcdtest.Options{})
	storetest.Run(t, func(t *testing.T) storetest.Opener {
		cfg := srv.Config(prefix())
		return func(t *testing.T) statestore.Store { return open(t, cfg) }
	})
}

// TestHeadAcrossInstances: the head one instance reads counts what another
// committed, not what is written outside the state (an instance's
// heartbeat), and a transaction as large as Limits allows still fits with
// the head key in it.
func TestHeadAcrossInstances(t *testing.T) {
	t.Parallel()
	srv := etcdtest.Start(t, etcdtest.Options{})
	cfg := srv.Config(prefix())
	a, b := open(t, cfg), open(t, cfg)
	ctx := context.Background()
	rev, err := a.Commit(ctx, statestore.Txn{Ops: []statestore.Op{statestore.Put("flavors/f1", []byte("{}"))}})
	if err != nil {
		t.Fatal(err)
	}
	head := func() int64 {
		t.Helper()
		h, err := b.Head(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	if h := head(); h != rev {
		t.Fatalf("instance b reads head %d after a's commit at %d", h, rev)
	}
	c, err := etcdstore.Dial(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Put(ctx, "members/b", []byte("beat")); err != nil {
		t.Fatal(err)
	}
	if h := head(); h != rev {
		t.Fatalf("a write outside the state moved the head from %d to %d", rev, h)
	}
	var ops []statestore.Op
	for i := range a.Limits().MaxOps {
		ops = append(ops, statestore.Put(fmt.Sprintf("k%d", i), []byte("v")))
	}
	if rev, err = a.Commit(ctx, statestore.Txn{Ops: ops}); err != nil {
		t.Fatalf("a transaction of Limits().MaxOps (%d) operations: %v", len(ops), err)
	}
	if h := head(); h != rev {
		t.Fatalf("head %d after a commit at %d", h, rev)
	}
	snap, err := b.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(snap.KVs); n != 1+len(ops) {
		t.Fatalf("the state holds %d keys, want %d: the head key is not part of it", n, 1+len(ops))
	}
}
