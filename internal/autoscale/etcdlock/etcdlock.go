// Package etcdlock is the autoscaler's lock where lbd's shared state is in
// etcd: a lease-backed mutex of etcd's own concurrency package, under
// /lbctl/autoscale/GROUP. The lease is kept alive while the controller
// runs; when it stops (or dies, or loses etcd) the lease expires after its
// TTL and the next controller takes the lock. A lost lease closes Lost.
//
// It must not import the data plane, the control plane, lbd's metrics, nor
// gophercloud: it is a lock, nothing more.
package etcdlock

import (
	"context"
	"fmt"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
	"go.uber.org/zap"

	"lbd/internal/autoscale"
)

// Lock is an autoscale.Locker on etcd.
type Lock struct {
	client *clientv3.Client
	group  string
	ttl    time.Duration
	key    string
}

var _ autoscale.Locker = (*Lock)(nil)

// New connects to etcd at endpoints (comma-separated client URLs) for the
// group's lock, whose lease lives ttl without renewals.
func New(endpoints, group string, ttl time.Duration) (*Lock, error) {
	eps := strings.Split(endpoints, ",")
	c, err := clientv3.New(clientv3.Config{Endpoints: eps, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		return nil, fmt.Errorf("etcd %s: %w", endpoints, err)
	}
	return &Lock{client: c, group: group, ttl: max(ttl, time.Second), key: "/lbctl/autoscale/" + group}, nil
}

func (l *Lock) String() string {
	return fmt.Sprintf("etcd lease (%s on %s, TTL %s)", l.key, strings.Join(l.client.Endpoints(), ","), l.ttl)
}

// Close closes the etcd client.
func (l *Lock) Close() error { return l.client.Close() }

// Lock waits for the mutex under a new lease.
func (l *Lock) Lock(ctx context.Context) (autoscale.Lease, error) {
	s, err := concurrency.NewSession(l.client, concurrency.WithTTL(int(l.ttl.Seconds())), concurrency.WithContext(context.WithoutCancel(ctx)))
	if err != nil {
		return nil, fmt.Errorf("etcd lease: %w", err)
	}
	m := concurrency.NewMutex(s, l.key)
	if err := m.Lock(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("etcd lock %s: %w", l.key, err)
	}
	return &lease{s: s, m: m}, nil
}

type lease struct {
	s *concurrency.Session
	m *concurrency.Mutex
}

// Lost is closed when the session's lease is gone (expired, revoked, etcd
// unreachable for its TTL).
func (l *lease) Lost() <-chan struct{} { return l.s.Done() }

func (l *lease) Unlock(ctx context.Context) error {
	err := l.m.Unlock(ctx)
	if cerr := l.s.Close(); err == nil {
		err = cerr
	}
	return err
}
