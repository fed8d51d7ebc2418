package etcdstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
)

// The instances sharing a prefix know each other through two directories:
// members/<name>, a record each instance writes when it starts and that
// stays when it stops (who belongs to the group: the VRRP peers), and
// instances/<name>, a record bound to a lease that the instance keeps
// alive while it runs (who is alive, and what it reports). Locks live
// under locks/.

// Record is one instance's record.
type Record struct {
	Name  string
	Value []byte
	// CreateRev orders records by when they were first written.
	CreateRev int64
}

// Members and Instances are the directories Follow reads.
const (
	Members   = "members"
	Instances = "instances"
)

// Register writes the instance's lasting record under members/.
func (c *Client) Register(ctx context.Context, name string, value []byte) error {
	rctx, cancel := c.timeout(ctx)
	defer cancel()
	if _, err := c.cli.Put(rctx, c.key(Members+"/"+name), string(value)); err != nil {
		return fmt.Errorf("register %s in %s: %w", name, c, c.wrap(err))
	}
	return nil
}

// Unregister removes an instance's lasting record (it leaves the group).
func (c *Client) Unregister(ctx context.Context, name string) error {
	rctx, cancel := c.timeout(ctx)
	defer cancel()
	if _, err := c.cli.Delete(rctx, c.key(Members+"/"+name)); err != nil {
		return fmt.Errorf("unregister %s from %s: %w", name, c, c.wrap(err))
	}
	return nil
}

// Shared returns the value stored at key under the prefix, storing init
// there first if the key does not exist: a setting every instance must
// agree on, made by the first that needs it.
func (c *Client) Shared(ctx context.Context, key string, init []byte) ([]byte, error) {
	k := c.key(key)
	rctx, cancel := c.timeout(ctx)
	defer cancel()
	resp, err := c.cli.Txn(rctx).If(clientv3.Compare(clientv3.CreateRevision(k), "=", 0)).
		Then(clientv3.OpPut(k, string(init))).Else(clientv3.OpGet(k)).Commit()
	if err != nil {
		return nil, fmt.Errorf("read %s in %s: %w", key, c, c.wrap(err))
	}
	if resp.Succeeded {
		return init, nil
	}
	kvs := resp.Responses[0].GetResponseRange().GetKvs()
	if len(kvs) == 0 {
		return nil, fmt.Errorf("read %s in %s: deleted meanwhile", key, c)
	}
	return bytes.Clone(kvs[0].Value), nil
}

// Beacon is an instance's live record under instances/: it exists while
// Beat is called more often than its time to live, and goes when the
// instance stops beating (etcd ends the lease) or Stops.
type Beacon struct {
	c   *Client
	key string
	ttl int64

	mu    sync.Mutex
	lease clientv3.LeaseID
	last  []byte
}

// Beacon returns the instance's live record, which Beat first writes.
func (c *Client) Beacon(name string, ttl time.Duration) *Beacon {
	secs := int64((ttl + time.Second - 1) / time.Second)
	if secs < 2 {
		secs = 2
	}
	return &Beacon{c: c, key: c.key(Instances + "/" + name), ttl: secs}
}

// Beat renews the record's lease (a new one if it expired, as after etcd
// was unreachable for longer than the time to live) and writes value if
// it differs from what was written under this lease.
func (b *Beacon) Beat(ctx context.Context, value []byte) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	rctx, cancel := b.c.timeout(ctx)
	defer cancel()
	if b.lease != 0 {
		_, err := b.c.cli.KeepAliveOnce(rctx, b.lease)
		if errors.Is(err, rpctypes.ErrLeaseNotFound) {
			b.lease, b.last = 0, nil
		} else if err != nil {
			return fmt.Errorf("beat %s: %w", b.key, b.c.wrap(err))
		}
	}
	if b.lease == 0 {
		g, err := b.c.cli.Grant(rctx, b.ttl)
		if err != nil {
			return fmt.Errorf("beat %s: %w", b.key, b.c.wrap(err))
		}
		b.lease = g.ID
	}
	if b.last != nil && bytes.Equal(b.last, value) {
		return nil
	}
	if _, err := b.c.cli.Put(rctx, b.key, string(value), clientv3.WithLease(b.lease)); err != nil {
		if errors.Is(err, rpctypes.ErrLeaseNotFound) {
			b.lease = 0
		}
		return fmt.Errorf("beat %s: %w", b.key, b.c.wrap(err))
	}
	b.last = bytes.Clone(value)
	return nil
}

// Stop ends the lease: the record goes at once.
func (b *Beacon) Stop(ctx context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.lease == 0 {
		return nil
	}
	rctx, cancel := b.c.timeout(ctx)
	defer cancel()
	_, err := b.c.cli.Revoke(rctx, b.lease)
	b.lease, b.last = 0, nil
	if err != nil && !errors.Is(err, rpctypes.ErrLeaseNotFound) {
		return fmt.Errorf("stop %s: %w", b.key, b.c.wrap(err))
	}
	return nil
}

// Follow sends the records under dir (Members or Instances), all of them
// in order of CreateRev, first as they are and again after each change,
// until ctx is done. It reads again after an error; while etcd is
// unreachable it sends nothing.
func (c *Client) Follow(ctx context.Context, dir string) <-chan []Record {
	out := make(chan []Record, 1)
	pfx := c.key(dir + "/")
	go func() {
		defer close(out)
		send := func(m map[string]Record) bool {
			recs := make([]Record, 0, len(m))
			for _, r := range m {
				recs = append(recs, r)
			}
			slices.SortFunc(recs, func(a, b Record) int {
				if a.CreateRev != b.CreateRev {
					return int(a.CreateRev - b.CreateRev)
				}
				return strings.Compare(a.Name, b.Name)
			})
			// Only the latest view matters: replace one not yet taken.
			select {
			case <-out:
			default:
			}
			select {
			case out <- recs:
				return true
			case <-ctx.Done():
				return false
			}
		}
		for ctx.Err() == nil {
			rctx, cancel := c.timeout(ctx)
			resp, err := c.cli.Get(rctx, pfx, clientv3.WithPrefix())
			cancel()
			if err != nil {
				select {
				case <-ctx.Done():
				case <-time.After(time.Second):
				}
				continue
			}
			m := map[string]Record{}
			for _, kv := range resp.Kvs {
				name := strings.TrimPrefix(string(kv.Key), pfx)
				m[name] = Record{Name: name, Value: kv.Value, CreateRev: kv.CreateRevision}
			}
			if !send(m) {
				return
			}
			wctx, wcancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
			for wr := range c.cli.Watch(wctx, pfx, clientv3.WithPrefix(), clientv3.WithRev(resp.Header.Revision+1)) {
				if wr.Err() != nil || wr.CompactRevision != 0 {
					break
				}
				for _, e := range wr.Events {
					name := strings.TrimPrefix(string(e.Kv.Key), pfx)
					if e.Type == clientv3.EventTypeDelete {
						delete(m, name)
					} else {
						m[name] = Record{Name: name, Value: e.Kv.Value, CreateRev: e.Kv.CreateRevision}
					}
				}
				if len(wr.Events) > 0 && !send(m) {
					wcancel()
					return
				}
			}
			wcancel()
		}
	}()
	return out
}

// ErrLocked is what TryLock returns when another holds the lock.
var ErrLocked = concurrency.ErrLocked

// Lock is a lock that one process at a time holds among all that share
// the prefix (lbd instances, lbctl). It is bound to an etcd lease that the
// holder keeps alive: if the holder dies or loses etcd for longer than the
// time to live, the lock is freed and Lost is closed.
type Lock struct {
	s *concurrency.Session
	m *concurrency.Mutex
}

// Lock waits until it holds the lock name (under locks/), or ctx is done.
func (c *Client) Lock(ctx context.Context, name string, ttl time.Duration) (*Lock, error) {
	return c.lock(ctx, name, ttl, false)
}

// TryLock takes the lock name if no one holds it, and fails with
// ErrLocked otherwise.
func (c *Client) TryLock(ctx context.Context, name string, ttl time.Duration) (*Lock, error) {
	return c.lock(ctx, name, ttl, true)
}

func (c *Client) lock(ctx context.Context, name string, ttl time.Duration, try bool) (*Lock, error) {
	secs := int((ttl + time.Second - 1) / time.Second)
	if secs < 2 {
		secs = 2
	}
	s, err := concurrency.NewSession(c.cli, concurrency.WithTTL(secs), concurrency.WithContext(context.WithoutCancel(ctx)))
	if err != nil {
		return nil, fmt.Errorf("lock %s in %s: %w", name, c, c.wrap(err))
	}
	m := concurrency.NewMutex(s, c.key("locks/"+name))
	if try {
		err = m.TryLock(ctx)
	} else {
		err = m.Lock(ctx)
	}
	if err != nil {
		s.Close()
		if errors.Is(err, concurrency.ErrLocked) {
			return nil, err
		}
		return nil, fmt.Errorf("lock %s in %s: %w", name, c, c.wrap(err))
	}
	return &Lock{s: s, m: m}, nil
}

// Lost is closed when the lock's lease ended: another may hold it now.
func (l *Lock) Lost() <-chan struct{} { return l.s.Done() }

// Unlock frees the lock.
func (l *Lock) Unlock(ctx context.Context) error {
	err := l.m.Unlock(ctx)
	if cerr := l.s.Close(); err == nil {
		err = cerr
	}
	return err
}
