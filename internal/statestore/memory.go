package statestore

import (
	"bytes"
	"context"
	"sync"
)

// memStore keeps keys in memory only: what lbd uses with --state-dir none.
type memStore struct {
	mu  sync.Mutex
	rev int64
	kvs map[string]*KV
}

// Memory returns a store that keeps nothing across restarts.
func Memory() Store { return &memStore{kvs: map[string]*KV{}} }

func (s *memStore) Load(context.Context) (Snapshot, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	snap := Snapshot{Rev: s.rev, KVs: make([]KV, 0, len(s.kvs))}
	for _, kv := range s.kvs {
		snap.KVs = append(snap.KVs, *kv)
	}
	sortKVs(snap.KVs)
	return snap, nil
}

func (s *memStore) Commit(_ context.Context, txn Txn) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := checkConds(txn.If, func(k string) int64 {
		if kv := s.kvs[k]; kv != nil {
			return kv.ModRev
		}
		return 0
	}); err != nil {
		return 0, err
	}
	s.rev++
	for _, op := range txn.Ops {
		if op.Delete {
			delete(s.kvs, op.Key)
			continue
		}
		kv := &KV{Key: op.Key, Value: bytes.Clone(op.Value), CreateRev: s.rev, ModRev: s.rev}
		if old := s.kvs[op.Key]; old != nil {
			kv.CreateRev = old.CreateRev
		}
		s.kvs[op.Key] = kv
	}
	return s.rev, nil
}

func (s *memStore) Close() error { return nil }
