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
