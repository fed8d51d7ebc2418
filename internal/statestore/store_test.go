package statestore_test

import (
	"testing"

	"lbd/internal/statestore"
	"lbd/internal/statestore/storetest"
)

func TestLogStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Opener {
		dir := t.TempDir()
		return func(t *testing.T) statestore.Store {
			s, err := statestore.Open(dir, statestore.LogOptions{CompactMin: 1024})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		}
	})
}

func TestMemoryStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Opener {
		s := statestore.Memory()
		return func(t *testing.T) statestore.Store { return s } // "reopening" keeps the same store
	})
}
