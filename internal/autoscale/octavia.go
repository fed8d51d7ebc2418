package autoscale

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/gophercloud/gophercloud/v2/openstack/loadbalancer/v2/pools"

	"lbd/internal/octavia/reconcile"
)

// Members reads and changes the group's pool members.
type Members interface {
	// Read finds the load balancer, its pools and the group's members.
	Read(ctx context.Context) (*PoolView, error)
	// Add makes the server a member of mb's pool at weight 0, warming
	// (Member.Warming): health-checked, sent no request.
	Add(ctx context.Context, v *PoolView, s Server, mb Membership) error
	// SetWeight gives a member a weight (0 drains it) and ends its
	// warm-up if it was warming.
	SetWeight(ctx context.Context, v *PoolView, m Member, weight int) error
	Remove(ctx context.Context, v *PoolView, m Member) error
}

// PoolView is the load balancer as one Read found it.
type PoolView struct {
	LB      reconcile.LBRef
	PoolIDs map[string]string // by pool name
	// MetricsPoolID and ListenerID identify the measured pool's series:
	// Octavia's metrics label a pool "<pool ID>:<listener ID>".
	MetricsPoolID, ListenerID string
	Members                   []Member
}

// OctaviaPool is Members through an Octavia API (a real Octavia, or lbd),
// with internal/octavia/reconcile's client: every change waits for the load
// balancer to be ACTIVE again, and a busy one is waited out. The group's
// members carry Tag; members without it are not the group's and are left
// alone. A warming member carries WarmingTag too: it is created with both
// tags and weight 0, and the update that gives it its weight sets its tags
// to Tag alone, so that no moment shows a warming member as drained, or
// the reverse.
type OctaviaPool struct {
	Client       *reconcile.Client
	LoadBalancer string // its name
	MetricsPool  string // the measured pool's name
	Tag          string
}

// Tag is the tag a group's members carry.
func Tag(group string) string { return tagPrefix + group }

const tagPrefix = "lbctl-autoscale:"

// WarmingTag marks a member added at weight 0 that waits for a health
// check to pass before it takes traffic (Member.Warming).
const WarmingTag = "lbctl-autoscale-warming"

// Owns reports whether a member belongs to an autoscaling group (it
// carries a group's tag): lbctl up and lbctl apply --prune leave it.
func Owns(m pools.Member) bool {
	for _, t := range m.Tags {
		if strings.HasPrefix(t, tagPrefix) {
			return true
		}
	}
	return false
}

// Read finds the load balancer by name, the pools by name and the group's
// members in them.
func (o *OctaviaPool) Read(ctx context.Context) (*PoolView, error) {
	lb, err := o.Client.FindLoadBalancer(ctx, o.LoadBalancer)
	if err != nil {
		return nil, err
	}
	if lb == nil {
		return nil, fmt.Errorf("load balancer %q: %w: run `lbctl up` (or `lbctl apply`) with the file first", o.LoadBalancer, reconcile.ErrNotFound)
	}
	v := &PoolView{LB: reconcile.Ref(lb), PoolIDs: map[string]string{}}
	ps, err := o.Client.Pools(ctx, lb.ID)
	if err != nil {
		return nil, err
	}
	for _, p := range ps {
		v.PoolIDs[p.Name] = p.ID
		if p.Name == o.MetricsPool {
			v.MetricsPoolID = p.ID
			if len(p.Listeners) > 0 {
				v.ListenerID = p.Listeners[0].ID
			}
		}
		ms, err := o.Client.Members(ctx, p.ID)
		if err != nil {
			return nil, err
		}
		for _, m := range ms {
			if !slices.Contains(m.Tags, o.Tag) {
				continue
			}
			v.Members = append(v.Members, Member{ID: m.ID, Name: m.Name, Pool: p.Name, Address: m.Address, Port: m.ProtocolPort,
				Weight: m.Weight, AdminUp: m.AdminStateUp, Status: m.OperatingStatus, Created: m.CreatedAt, Updated: m.UpdatedAt,
				Warming: slices.Contains(m.Tags, WarmingTag)})
		}
	}
	if v.MetricsPoolID == "" {
		return nil, fmt.Errorf("pool %q of %s: %w: the file's pool must exist; run `lbctl up` with the file", o.MetricsPool, v.LB, reconcile.ErrNotFound)
	}
	return v, nil
}

func (o *OctaviaPool) poolID(v *PoolView, name string) (string, error) {
	id, ok := v.PoolIDs[name]
	if !ok {
		return "", fmt.Errorf("pool %q of %s: %w", name, v.LB, reconcile.ErrNotFound)
	}
	return id, nil
}

// Add makes the server a member of the membership's pool, named after it,
// warming (weight 0 and WarmingTag) when there is a health check to wait
// for (mb.Warmup), at its weight otherwise: without a monitor there is no
// verdict to wait for, and a provider whose ACTIVE means "accepts
// connections" (the local one) needs none.
func (o *OctaviaPool) Add(ctx context.Context, v *PoolView, s Server, mb Membership) error {
	id, err := o.poolID(v, mb.Pool)
	if err != nil {
		return err
	}
	w, tags := 0, []string{o.Tag, WarmingTag}
	if mb.Warmup == 0 {
		w, tags = mb.Weight, []string{o.Tag}
	}
	_, err = o.Client.AddMember(ctx, v.LB, id, pools.CreateMemberOpts{Name: s.Name, Address: s.Address, ProtocolPort: portOf(s, mb),
		Weight: &w, Backup: &mb.Backup, MonitorPort: mb.MonitorPort, Tags: tags})
	return err
}

// SetWeight changes a member's weight (0 drains it); its tags become Tag
// alone, which ends a warm-up.
func (o *OctaviaPool) SetWeight(ctx context.Context, v *PoolView, m Member, weight int) error {
	id, err := o.poolID(v, m.Pool)
	if err != nil {
		return err
	}
	return o.Client.UpdateMember(ctx, v.LB, id, &pools.Member{ID: m.ID, Name: m.Name, Address: m.Address, ProtocolPort: m.Port},
		pools.UpdateMemberOpts{Weight: &weight, Tags: []string{o.Tag}})
}

// Remove deletes a member; one already gone is fine.
func (o *OctaviaPool) Remove(ctx context.Context, v *PoolView, m Member) error {
	id, err := o.poolID(v, m.Pool)
	if err != nil {
		return err
	}
	return o.Client.RemoveMember(ctx, v.LB, id, &pools.Member{ID: m.ID, Name: m.Name, Address: m.Address, ProtocolPort: m.Port})
}
