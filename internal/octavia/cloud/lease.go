package cloud

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/security/groups"

	"lbd/internal/autoscale"
	"lbd/internal/octavia/reconcile"
)

// NeutronLock is the autoscaler's lock when lbd's state is not in etcd: a
// lease kept in a Neutron object every controller of the group reaches, a
// security group of no rules named LeaseName(group) whose description says
// who holds it. Neutron gives the compare-and-swap a lease needs: an update
// sent with If-Match: revision_number=N fails (412) when anyone changed the
// object since revision N, so of two controllers taking or renewing it at
// once, exactly one wins.
//
// The holder renews every TTL/3, which moves the revision. A waiting
// controller takes the lease over when the revision has not moved for TTL,
// measured on its own clock: no two machines' clocks are compared. A holder
// whose renewals fail for TTL-TTL/3 (its cloud unreachable) gives it up
// before anyone can take it over.
type NeutronLock struct {
	Clients *Clients
	Group   string
	TTL     time.Duration // default 30s
	// Holder names this controller in the lease (default host:pid:random).
	Holder string
}

var _ autoscale.Locker = (*NeutronLock)(nil)

// LeaseName is the name of the security group holding a group's lease.
func LeaseName(group string) string { return "lbctl-autoscale-lease-" + group }

const leaseFree = "lbctl autoscale lease: free"

func (l *NeutronLock) String() string {
	return fmt.Sprintf("Neutron lease (security group %q, TTL %s)", LeaseName(l.Group), l.ttl())
}

func (l *NeutronLock) ttl() time.Duration {
	if l.TTL > 0 {
		return l.TTL
	}
	return 30 * time.Second
}

func (l *NeutronLock) holder() string {
	if l.Holder == "" {
		host, _ := os.Hostname()
		b := make([]byte, 4)
		rand.Read(b)
		l.Holder = fmt.Sprintf("%s:%d:%s", host, os.Getpid(), hex.EncodeToString(b))
	}
	return l.Holder
}

// held is the description of a lease this controller holds. It changes
// with every renewal (Neutron moves the revision only when something
// changes).
func (l *NeutronLock) held() string {
	return fmt.Sprintf("%s, renewed %s", l.heldPrefix(), time.Now().UTC().Format(time.RFC3339Nano))
}

func (l *NeutronLock) heldPrefix() string { return "lbctl autoscale lease: held by " + l.holder() }

// find returns the lease's security group, creating it (free) when
// missing. Two controllers creating it at once make two: the one with the
// smallest ID is the lease, and the other is deleted.
func (l *NeutronLock) find(ctx context.Context) (*groups.SecGroup, error) {
	name := LeaseName(l.Group)
	for range 3 {
		pages, err := groups.List(l.Clients.Network, groups.ListOpts{Name: name}).AllPages(ctx)
		if err != nil {
			return nil, describe("find the lease "+name, err)
		}
		all, err := groups.ExtractGroups(pages)
		if err != nil {
			return nil, describe("find the lease "+name, err)
		}
		all = slices.DeleteFunc(all, func(g groups.SecGroup) bool { return g.Name != name })
		if len(all) > 0 {
			slices.SortFunc(all, func(a, b groups.SecGroup) int { return strings.Compare(a.ID, b.ID) })
			for _, extra := range all[1:] {
				groups.Delete(ctx, l.Clients.Network, extra.ID) // a twin made in a race; its maker lost
			}
			return &all[0], nil
		}
		if _, err := groups.Create(ctx, l.Clients.Network, groups.CreateOpts{Name: name, Description: leaseFree}).Extract(); err != nil {
			return nil, describe("create the lease "+name, err)
		}
	}
	return nil, fmt.Errorf("lease %s: created but not listed", name)
}

// swap writes desc if the lease is still at revision rev; ok is false when
// someone changed it first.
func (l *NeutronLock) swap(ctx context.Context, g *groups.SecGroup, desc string) (*groups.SecGroup, bool, error) {
	rev := g.RevisionNumber
	got, err := groups.Update(ctx, l.Clients.Network, g.ID, groups.UpdateOpts{Description: &desc, RevisionNumber: &rev}).Extract()
	switch {
	case isCode(err, http.StatusPreconditionFailed):
		return nil, false, nil
	case err != nil:
		return nil, false, describe("update the lease "+g.Name, err)
	}
	return got, true, nil
}

// Lock waits until the lease is free, or unchanged for TTL, and takes it.
func (l *NeutronLock) Lock(ctx context.Context) (autoscale.Lease, error) {
	ttl := l.ttl()
	var lastRev int
	var lastMove time.Time
	for {
		g, err := l.find(ctx)
		if err == nil {
			now := time.Now()
			if g.RevisionNumber != lastRev || lastMove.IsZero() {
				lastRev, lastMove = g.RevisionNumber, now
			}
			if g.Description == leaseFree || strings.HasPrefix(g.Description, l.heldPrefix()+",") || now.Sub(lastMove) >= ttl {
				got, ok, err := l.swap(ctx, g, l.held())
				if err == nil && ok {
					lease := &neutronLease{l: l, g: got, lost: make(chan struct{}), stop: make(chan struct{})}
					go lease.renew()
					return lease, nil
				}
			}
		}
		t := time.NewTimer(ttl / 6)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
	}
}

type neutronLease struct {
	l        *NeutronLock
	mu       sync.Mutex
	g        *groups.SecGroup
	lost     chan struct{}
	stop     chan struct{}
	stopOnce sync.Once
}

func (n *neutronLease) Lost() <-chan struct{} { return n.lost }

// renew moves the revision every TTL/3 while the lease is held. A 412 means
// another controller took it: lost. Failures for TTL-TTL/3 since the last
// renewal: lost too, before a waiter can take it over.
func (n *neutronLease) renew() {
	ttl := n.l.ttl()
	last := time.Now()
	t := time.NewTicker(ttl / 3)
	defer t.Stop()
	for {
		select {
		case <-n.stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), ttl/3)
		n.mu.Lock()
		got, ok, err := n.l.swap(ctx, n.g, n.l.held())
		if ok {
			n.g = got
			last = time.Now()
		}
		n.mu.Unlock()
		cancel()
		if (err == nil && !ok) || time.Since(last) >= ttl-ttl/3 {
			close(n.lost)
			return
		}
	}
}

// Unlock frees the lease if this controller still holds it.
func (n *neutronLease) Unlock(ctx context.Context) error {
	n.stopOnce.Do(func() { close(n.stop) })
	n.mu.Lock()
	defer n.mu.Unlock()
	_, _, err := n.l.swap(ctx, n.g, leaseFree)
	return err
}

// downLease deletes the autoscaling group's lease (lbctl down), if any.
func (r *run) downLease(ctx context.Context) error {
	a := r.spec.Autoscaling
	if a == nil {
		return nil
	}
	name := LeaseName(a.Group)
	pages, err := groups.List(r.c.Network, groups.ListOpts{Name: name}).AllPages(ctx)
	if err != nil {
		return describe("find the lease "+name, err)
	}
	all, err := groups.ExtractGroups(pages)
	if err != nil {
		return describe("find the lease "+name, err)
	}
	var changes []reconcile.Change
	for _, g := range all {
		if g.Name != name {
			continue
		}
		changes = append(changes, reconcile.Change{Op: reconcile.OpDelete, Kind: "security group", Name: name, Detail: "the autoscaling group's lease",
			Do: func(ctx context.Context) error {
				err := groups.Delete(ctx, r.c.Network, g.ID).ExtractErr()
				if isCode(err, http.StatusNotFound) {
					return nil
				}
				return describe("delete the lease "+name, err)
			}})
	}
	return r.Apply(ctx, changes)
}
