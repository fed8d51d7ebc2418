package etcdstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"lbd/internal/statestore"
)

// Store is lbd's desired state in etcd, under Prefix/state/: a
// statestore.Store that others share (Watcher), that says when etcd is
// unreachable (Availability) and whose transactions have etcd's bounds
// (Limited).
type Store struct {
	c      *Client
	prefix string
	// head is the key every commit puts besides its own (outside prefix,
	// so no watch of the state sees it): its mod revision is the revision
	// of the last transaction committed to the state, deletes included,
	// which Head reads.
	head  string
	owned bool // Close closes the client
}

var (
	_ statestore.Watcher      = (*Store)(nil)
	_ statestore.Availability = (*Store)(nil)
	_ statestore.Limited      = (*Store)(nil)
)

// loadPage is how many keys one request of Load reads (a variable for
// the tests).
var loadPage int64 = 1000

// Open connects to etcd and returns the state store, which owns the
// connection.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	c, err := Dial(ctx, cfg)
	if err != nil {
		return nil, err
	}
	s := c.State()
	s.owned = true
	return s, nil
}

// State is the desired state under the client's prefix. Its Close leaves
// the client open.
func (c *Client) State() *Store {
	return &Store{c: c, prefix: c.key("state/"), head: c.key("state-head")}
}

// String names the store in logs and errors.
func (s *Store) String() string { return s.c.String() }

// Close closes the connection if the store owns it.
func (s *Store) Close() error {
	if s.owned {
		return s.c.Close()
	}
	return nil
}

// Available implements statestore.Availability.
func (s *Store) Available() error { return s.c.Available() }

// Limits implements statestore.Limited: etcd's bounds, and what a key's
// prefix and the request's framing add to each operation.
func (s *Store) Limits() statestore.Limits {
	return statestore.Limits{
		// One operation and its bytes are the head key's (Commit).
		MaxOps: s.c.cfg.MaxTxnOps - 1,
		// Leave room for the request's own framing.
		MaxBytes:   s.c.cfg.MaxRequestBytes - 4096 - len(s.head) - 32,
		OpOverhead: len(s.prefix) + 32,
	}
}

// Load reads the state at one revision, a page at a time (a large state
// does not have to fit one response), every page at the first one's
// revision.
func (s *Store) Load(ctx context.Context) (statestore.Snapshot, error) {
	var snap statestore.Snapshot
	end := clientv3.GetPrefixRangeEnd(s.prefix)
	from := s.prefix
	for {
		opts := []clientv3.OpOption{clientv3.WithRange(end), clientv3.WithLimit(loadPage)}
		if snap.Rev != 0 {
			opts = append(opts, clientv3.WithRev(snap.Rev))
		}
		rctx, cancel := s.c.timeout(ctx)
		resp, err := s.c.cli.Get(rctx, from, opts...)
		cancel()
		if err != nil {
			if errors.Is(err, rpctypes.ErrCompacted) {
				// Compacted between two pages: start again.
				snap = statestore.Snapshot{}
				from = s.prefix
				continue
			}
			return statestore.Snapshot{}, fmt.Errorf("read %s: %w", s, s.c.wrap(err))
		}
		if snap.Rev == 0 {
			snap.Rev = resp.Header.Revision
		}
		for _, kv := range resp.Kvs {
			snap.KVs = append(snap.KVs, s.kv(kv))
		}
		if !resp.More || len(resp.Kvs) == 0 {
			break
		}
		from = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
	slices.SortFunc(snap.KVs, func(a, b statestore.KV) int {
		if a.CreateRev != b.CreateRev {
			return int(a.CreateRev - b.CreateRev)
		}
		return strings.Compare(a.Key, b.Key)
	})
	return snap, nil
}

func (s *Store) kv(kv *mvccpb.KeyValue) statestore.KV {
	return statestore.KV{Key: strings.TrimPrefix(string(kv.Key), s.prefix), Value: kv.Value,
		CreateRev: kv.CreateRevision, ModRev: kv.ModRevision}
}

// Commit implements statestore.Store with one etcd transaction: compare
// each condition's key's mod revision (its create revision with 0: the
// key absent), then put and delete; on a failed comparison, read the
// keys' revisions to say which condition failed.
func (s *Store) Commit(ctx context.Context, txn statestore.Txn) (int64, error) {
	cmps := make([]clientv3.Cmp, 0, len(txn.If))
	reads := make([]clientv3.Op, 0, len(txn.If))
	for _, c := range txn.If {
		k := s.prefix + c.Key
		if c.ModRev == 0 {
			cmps = append(cmps, clientv3.Compare(clientv3.CreateRevision(k), "=", 0))
		} else {
			cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(k), "=", c.ModRev))
		}
		reads = append(reads, clientv3.OpGet(k, clientv3.WithKeysOnly()))
	}
	ops := make([]clientv3.Op, 0, len(txn.Ops)+1)
	size := 0
	if len(txn.Ops) > 0 {
		ops = append(ops, clientv3.OpPut(s.head, ""))
	}
	for _, op := range txn.Ops {
		k := s.prefix + op.Key
		size += len(k) + len(op.Value)
		if op.Delete {
			ops = append(ops, clientv3.OpDelete(k))
		} else {
			// etcd keeps the value: the caller may reuse its buffer.
			ops = append(ops, clientv3.OpPut(k, string(op.Value)))
		}
	}
	rctx, cancel := s.c.timeout(ctx)
	defer cancel()
	resp, err := s.c.cli.Txn(rctx).If(cmps...).Then(ops...).Else(reads...).Commit()
	switch {
	case errors.Is(err, rpctypes.ErrRequestTooLarge):
		return 0, &statestore.TooLargeError{Ops: len(txn.Ops), Bytes: size,
			What: fmt.Sprintf("etcd refuses requests larger than its --max-request-bytes (lbd assumes %d; 1.5 MiB by default): raise it on every etcd member, and lbd's --etcd-max-request-bytes with it", s.c.cfg.MaxRequestBytes)}
	case errors.Is(err, rpctypes.ErrTooManyOps):
		return 0, &statestore.TooLargeError{Ops: len(txn.Ops), Bytes: size,
			What: fmt.Sprintf("etcd refuses transactions of more operations than its --max-txn-ops (lbd assumes %d; 128 by default): give lbd the server's value with --etcd-max-txn-ops", s.c.cfg.MaxTxnOps)}
	case err != nil:
		return 0, fmt.Errorf("commit to %s: %w", s, s.c.wrap(err))
	}
	if resp.Succeeded {
		return resp.Header.Revision, nil
	}
	for i, c := range txn.If {
		var have int64
		if kvs := resp.Responses[i].GetResponseRange().GetKvs(); len(kvs) > 0 {
			have = kvs[0].ModRevision
		}
		if have != c.ModRev {
			return 0, &statestore.ConflictError{Key: c.Key, Want: c.ModRev, Have: have}
		}
	}
	// Every key is as required now: it changed and changed back between
	// the transaction and the reads. Still a conflict.
	return 0, &statestore.ConflictError{Key: txn.If[0].Key, Want: txn.If[0].ModRev, Have: txn.If[0].ModRev}
}

// Head implements statestore.Watcher: the mod revision of the head key,
// which every Commit puts in the same transaction, read linearizably (a
// quorum read). Transactions of an lbd that did not put it are not
// counted.
func (s *Store) Head(ctx context.Context) (int64, error) {
	rctx, cancel := s.c.timeout(ctx)
	defer cancel()
	resp, err := s.c.cli.Get(rctx, s.head, clientv3.WithKeysOnly())
	if err != nil {
		return 0, fmt.Errorf("read the head of %s: %w", s, s.c.wrap(err))
	}
	if len(resp.Kvs) == 0 {
		return 0, nil
	}
	return resp.Kvs[0].ModRevision, nil
}

// Watch implements statestore.Watcher. It follows the prefix from rev+1,
// resuming after a lost connection or leader from the last revision it
// sent; etcd's progress notices are sent as Events without changes.
func (s *Store) Watch(ctx context.Context, rev int64) <-chan statestore.Event {
	out := make(chan statestore.Event, 16)
	go func() {
		defer close(out)
		send := func(ev statestore.Event) bool {
			select {
			case out <- ev:
				return true
			case <-ctx.Done():
				return false
			}
		}
		last := rev
		for ctx.Err() == nil {
			// WithRequireLeader: a member cut off from the others ends
			// the watch instead of keeping it open with nothing to say.
			wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
			wch := s.c.cli.Watch(wctx, s.prefix, clientv3.WithPrefix(), clientv3.WithRev(last+1), clientv3.WithProgressNotify())
			for resp := range wch {
				if resp.CompactRevision != 0 {
					cancel()
					send(statestore.Event{Rev: resp.CompactRevision, Err: fmt.Errorf("%w: watch %s from revision %d: compacted at %d",
						statestore.ErrCompacted, s, last+1, resp.CompactRevision)})
					return
				}
				if resp.Err() != nil {
					break // retried below, from last
				}
				if resp.IsProgressNotify() {
					if resp.Header.Revision > last {
						last = resp.Header.Revision
						if !send(statestore.Event{Rev: last}) {
							cancel()
							return
						}
					}
					continue
				}
				for _, ev := range s.group(resp.Events) {
					if ev.Rev <= last {
						continue
					}
					if !send(ev) {
						cancel()
						return
					}
					last = ev.Rev
				}
			}
			cancel()
			select {
			case <-ctx.Done():
			case <-time.After(200 * time.Millisecond):
			}
		}
	}()
	return out
}

// group turns a watch response's events into one Event per revision.
func (s *Store) group(evs []*clientv3.Event) []statestore.Event {
	var out []statestore.Event
	for _, e := range evs {
		rev := e.Kv.ModRevision
		if len(out) == 0 || out[len(out)-1].Rev != rev {
			out = append(out, statestore.Event{Rev: rev})
		}
		cur := &out[len(out)-1]
		if e.Type == clientv3.EventTypeDelete {
			cur.Deletes = append(cur.Deletes, strings.TrimPrefix(string(e.Kv.Key), s.prefix))
		} else {
			cur.Puts = append(cur.Puts, s.kv(e.Kv))
		}
	}
	return out
}

// Compact discards the history before rev, as etcd's auto-compaction
// does: for tests and tools.
func (c *Client) Compact(ctx context.Context, rev int64) error {
	_, err := c.cli.Compact(ctx, rev, clientv3.WithCompactPhysical())
	return err
}

// Put writes key (under the client's prefix, outside the state) to value
// as a tool or another program would: for tests of what lbd does with
// what others write.
func (c *Client) Put(ctx context.Context, key string, value []byte) (int64, error) {
	resp, err := c.cli.Put(ctx, c.key(key), string(value))
	if err != nil {
		return 0, c.wrap(err)
	}
	return resp.Header.Revision, nil
}

// Get reads key under the client's prefix; nil if it does not exist.
func (c *Client) Get(ctx context.Context, key string) ([]byte, int64, error) {
	resp, err := c.cli.Get(ctx, c.key(key))
	if err != nil {
		return nil, 0, c.wrap(err)
	}
	if len(resp.Kvs) == 0 {
		return nil, 0, nil
	}
	return bytes.Clone(resp.Kvs[0].Value), resp.Kvs[0].ModRevision, nil
}

// Compact discards the state's history before rev (all of etcd's, as
// etcd compacts a whole cluster).
func (s *Store) Compact(ctx context.Context, rev int64) error { return s.c.Compact(ctx, rev) }
