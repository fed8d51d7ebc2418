// Package etcdlock is the autoscaler's lock where lbd's state is in etcd:
// the lock etcdstore keeps for tools, PREFIX/locks/autoscale/GROUP on the
// etcd and prefix the lbd instances share (lbctl autoscale --etcd, the
// value of lbd's --state). etcdstore owns the lock (a lease-backed mutex of
// etcd's concurrency package, the lease kept alive while the controller
// runs, Lost closed when it ends); this package only names it and adapts
// it to autoscale.Locker.
//
// It must not import the data plane, the control plane, lbd's metrics, nor
// gophercloud: it is a lock, nothing more.
package etcdlock

import (
	"context"
	"fmt"
	"time"

	"lbd/internal/autoscale"
	"lbd/internal/statestore/etcdstore"
)

// Lock is an autoscale.Locker on etcd.
type Lock struct {
	client *etcdstore.Client
	name   string
	ttl    time.Duration
}

var _ autoscale.Locker = (*Lock)(nil)

// New connects to the etcd cfg names for the group's lock, whose lease
// lives ttl without renewals.
func New(ctx context.Context, cfg etcdstore.Config, group string, ttl time.Duration) (*Lock, error) {
	c, err := etcdstore.Dial(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return &Lock{client: c, name: Name(group), ttl: ttl}, nil
}

// Name is the group's lock name under the prefix's locks/.
func Name(group string) string { return "autoscale/" + group }

func (l *Lock) String() string {
	return fmt.Sprintf("etcd lock %s in %s (TTL %s)", l.name, l.client, l.ttl)
}

// Close closes the etcd connection.
func (l *Lock) Close() error { return l.client.Close() }

// Lock waits for the lock.
func (l *Lock) Lock(ctx context.Context) (autoscale.Lease, error) {
	return l.client.Lock(ctx, l.name, l.ttl)
}
