package etcdlock

import (
	"context"
	"testing"
	"time"

	"lbd/internal/statestore/etcdstore"
	"lbd/internal/statestore/etcdstore/etcdtest"
)

// Two controllers of one group: the second waits while the first holds
// the lock, and gets it when the first unlocks; the lock is the one lbd's
// prefix keeps for the group (an etcdstore client sharing the prefix finds
// it held); a holder whose connection ends sees Lost.
func TestEtcdLockExcludes(t *testing.T) {
	srv := etcdtest.Start(t, etcdtest.Options{})
	cfg := srv.Config("/lbd-autoscale-test")
	ctx := context.Background()
	a, err := New(ctx, cfg, "g1", 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := New(ctx, cfg, "g1", 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	la, err := a.Lock(ctx)
	if err != nil {
		t.Fatal(err)
	}
	other, err := etcdstore.Dial(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, err := other.TryLock(ctx, Name("g1"), 2*time.Second); err != etcdstore.ErrLocked {
		t.Fatalf("the prefix's lock %s while a controller holds it: %v, want ErrLocked", Name("g1"), err)
	}
	got := make(chan error, 1)
	go func() {
		lb, err := b.Lock(ctx)
		if err == nil {
			defer lb.Unlock(ctx)
		}
		got <- err
	}()
	select {
	case err := <-got:
		t.Fatalf("the second got the lock while the first held it (%v)", err)
	case <-time.After(1500 * time.Millisecond):
	}
	if err := la.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-got:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the second never got the lock after the first unlocked")
	}

	// A holder whose connection ends (as one that died) sees Lost, and
	// the lock is free for another.
	la, err = a.Lock(ctx)
	if err != nil {
		t.Fatal(err)
	}
	a.Close()
	select {
	case <-la.Lost():
	case <-time.After(10 * time.Second):
		t.Fatal("Lost not closed after the holder's connection ended")
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	lb, err := b.Lock(wctx)
	if err != nil {
		t.Fatalf("the lock after the holder went away: %v", err)
	}
	lb.Unlock(ctx)
}
