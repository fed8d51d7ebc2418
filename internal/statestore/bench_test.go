package statestore_test

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"lbd/internal/statestore"
)

// go test -run '^$' -bench . ./internal/statestore/

var backends = []struct {
	name string
	open func(dir string) (statestore.Store, error)
}{
	{"log", func(dir string) (statestore.Store, error) { return statestore.Open(dir, statestore.LogOptions{}) }},
}

// value is the size of a load balancer with a listener, a pool, two
// members and a monitor, as the control plane stores it.
var value = bytes.Repeat([]byte("x"), 2500)

func fill(b *testing.B, s statestore.Store, n int) {
	const batch = 1000
	for i := 0; i < n; i += batch {
		var txn statestore.Txn
		for j := i; j < min(n, i+batch); j++ {
			txn.Ops = append(txn.Ops, statestore.Put(fmt.Sprintf("lb/%08d", j), value))
		}
		if _, err := s.Commit(context.Background(), txn); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCommit: one key put into a store holding n.
func BenchmarkCommit(b *testing.B) {
	for _, be := range backends {
		for _, n := range []int{100, 10000} {
			b.Run(fmt.Sprintf("%s/keys=%d", be.name, n), func(b *testing.B) {
				s, err := be.open(b.TempDir())
				if err != nil {
					b.Fatal(err)
				}
				defer s.Close()
				fill(b, s, n)
				b.ResetTimer()
				for i := range b.N {
					if _, err := s.Commit(context.Background(), statestore.Txn{Ops: []statestore.Op{
						statestore.Put(fmt.Sprintf("lb/%08d", i%n), value)}}); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkOpenLoad: open a store of 10,000 keys and read them all.
func BenchmarkOpenLoad(b *testing.B) {
	for _, be := range backends {
		b.Run(be.name+"/keys=10000", func(b *testing.B) {
			dir := b.TempDir()
			s, err := be.open(dir)
			if err != nil {
				b.Fatal(err)
			}
			fill(b, s, 10000)
			s.Close()
			b.ResetTimer()
			for range b.N {
				s, err := be.open(dir)
				if err != nil {
					b.Fatal(err)
				}
				snap, err := s.Load(context.Background())
				if err != nil || len(snap.KVs) != 10000 {
					b.Fatal(err, len(snap.KVs))
				}
				s.Close()
			}
		})
	}
}
