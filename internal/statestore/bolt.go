package statestore

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
)

// BoltFile is the bbolt store's file under its directory.
const BoltFile = "state.db"

var (
	boltKeys = []byte("keys")
	boltMeta = []byte("meta")
	boltRev  = []byte("rev")
)

type boltStore struct {
	db   *bolt.DB
	path string
}

// OpenBolt opens the store as a bbolt database in dir.
func OpenBolt(dir string) (Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("state directory: %w", err)
	}
	path := filepath.Join(dir, BoltFile)
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second, NoFreelistSync: true, FreelistType: bolt.FreelistMapType})
	if err != nil {
		return nil, fmt.Errorf("open state %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		if _, err := tx.CreateBucketIfNotExists(boltKeys); err != nil {
			return err
		}
		_, err := tx.CreateBucketIfNotExists(boltMeta)
		return err
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open state %s: %w", path, err)
	}
	return &boltStore{db: db, path: path}, nil
}

func boltValue(v []byte) (create, mod int64, value []byte, err error) {
	c, n := binary.Uvarint(v)
	if n <= 0 {
		return 0, 0, nil, errors.New("bad value")
	}
	m, k := binary.Uvarint(v[n:])
	if k <= 0 {
		return 0, 0, nil, errors.New("bad value")
	}
	return int64(c), int64(m), v[n+k:], nil
}

func (s *boltStore) Load(ctx context.Context) (Snapshot, error) {
	var snap Snapshot
	err := s.db.View(func(tx *bolt.Tx) error {
		if r := tx.Bucket(boltMeta).Get(boltRev); r != nil {
			snap.Rev = int64(binary.BigEndian.Uint64(r))
		}
		b := tx.Bucket(boltKeys)
		snap.KVs = make([]KV, 0, b.Stats().KeyN)
		return b.ForEach(func(k, v []byte) error {
			c, m, val, err := boltValue(v)
			if err != nil {
				return fmt.Errorf("key %q: %w", k, err)
			}
			snap.KVs = append(snap.KVs, KV{Key: string(k), Value: append([]byte(nil), val...), CreateRev: c, ModRev: m})
			return nil
		})
	})
	if err != nil {
		return Snapshot{}, fmt.Errorf("read state %s: %w", s.path, err)
	}
	sortKVs(snap.KVs)
	return snap, nil
}

func (s *boltStore) Commit(ctx context.Context, txn Txn) (int64, error) {
	var rev int64
	err := s.db.Update(func(tx *bolt.Tx) error {
		b, meta := tx.Bucket(boltKeys), tx.Bucket(boltMeta)
		if r := meta.Get(boltRev); r != nil {
			rev = int64(binary.BigEndian.Uint64(r))
		}
		rev++
		if err := checkConds(txn.If, func(k string) int64 {
			v := b.Get([]byte(k))
			if v == nil {
				return 0
			}
			_, m, _, _ := boltValue(v)
			return m
		}); err != nil {
			return err
		}
		for _, op := range txn.Ops {
			if op.Delete {
				if err := b.Delete([]byte(op.Key)); err != nil {
					return err
				}
				continue
			}
			create := rev
			if v := b.Get([]byte(op.Key)); v != nil {
				create, _, _, _ = boltValue(v)
			}
			val := binary.AppendUvarint(nil, uint64(create))
			val = binary.AppendUvarint(val, uint64(rev))
			val = append(val, op.Value...)
			if err := b.Put([]byte(op.Key), val); err != nil {
				return err
			}
		}
		var r [8]byte
		binary.BigEndian.PutUint64(r[:], uint64(rev))
		return meta.Put(boltRev, r[:])
	})
	if err != nil {
		var pe *fs.PathError
		var ce *ConflictError
		if !errors.As(err, &pe) && !errors.As(err, &ce) {
			err = &fs.PathError{Op: "commit", Path: s.path, Err: err}
		}
		return 0, err
	}
	return rev, nil
}

func (s *boltStore) Close() error { return s.db.Close() }
