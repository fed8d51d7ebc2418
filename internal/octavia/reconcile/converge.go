package reconcile

import (
	"context"
	"fmt"
	"strings"

	"github.com/gophercloud/gophercloud/v2/openstack/loadbalancer/v2/loadbalancers"
	"github.com/gophercloud/gophercloud/v2/openstack/loadbalancer/v2/pools"

	"lbd/internal/octavia"
)

// Options say how far Converge may go.
type Options struct {
	// Prune deletes the listeners, pools, members and health monitors of
	// the load balancer that the file does not have.
	Prune bool
	// Replace deletes and creates again a listener or pool whose protocol
	// changed, and any object in ERROR; without it a changed protocol is
	// an error and objects in ERROR are left as they are. A health monitor
	// whose type changed is always replaced: that interrupts no traffic.
	Replace bool
	// VIPSubnetID is sent as vip_subnet_id when creating a load balancer
	// whose file names none, and VIPSubnetName is how the file named it
	// (for the plan; default the ID).
	VIPSubnetID, VIPSubnetName string
	// Keep, when set, names the members the file does not list that belong
	// to someone else (an autoscaling controller's): Prune leaves them.
	Keep func(pools.Member) bool
}

// Converge makes the load balancer named want.Name match want (normalized,
// defaults filled): when there is none it is created with one
// fully-populated call; then every difference between the file and the
// cloud is one change, made in an order in which each is valid, each
// followed by a wait for ACTIVE. Children a change left in ERROR get
// another pass (up to three). With run.Plan nothing changes. It returns the
// load balancer as last read (nil when only planned to be created).
func (c *Client) Converge(ctx context.Context, run *Run, want *octavia.LoadBalancer, o Options) (*loadbalancers.LoadBalancer, error) {
	w := &walker{c: c, run: run, poolIDs: map[string]string{}, listenerIDs: map[string]string{}, again: c.Advice.again(), replace: o.Replace}
	lb, err := c.FindLoadBalancer(ctx, want.Name)
	if err != nil {
		return nil, err
	}
	if lb == nil {
		create := w.createLB(want, o, &lb)
		if err := run.Apply(ctx, []Change{create}); err != nil || run.Plan {
			return lb, err
		}
	}
	ref := Ref(lb)
	switch {
	case lb.ProvisioningStatus == "ERROR":
		return lb, &Error{Op: ref.String(), Message: "is in ERROR: Octavia will not change it",
			Hint: fmt.Sprintf("`%s` removes it (a load balancer in ERROR can be deleted), then `%s` creates it again", c.Advice.remove(), c.Advice.again())}
	case strings.HasPrefix(lb.ProvisioningStatus, "PENDING_") && run.Plan:
		c.Printf("  (%s is %s: the plan may change once it settles)", ref, lb.ProvisioningStatus)
	case strings.HasPrefix(lb.ProvisioningStatus, "PENDING_"):
		if err := c.WaitActive(ctx, ref); err != nil {
			return lb, err
		}
	}
	if err := c.checkVIP(want, o, lb); err != nil {
		return lb, err
	}
	for pass := 1; ; pass++ {
		cur, err := c.ReadTree(ctx, lb)
		if err != nil {
			return lb, err
		}
		changes, err := w.treeChanges(want, cur, o)
		if err == nil {
			err = run.Apply(ctx, changes)
		}
		if err == nil {
			break
		}
		if !w.retryPass(err, pass) {
			return lb, err
		}
	}
	if run.Plan {
		return lb, nil
	}
	// Read it again: callers want its state after the changes.
	got, err := loadbalancers.Get(ctx, c.SC, lb.ID).Extract()
	if err != nil {
		return lb, c.describe("read "+ref.String(), err)
	}
	return got, nil
}

// checkVIP refuses a file whose VIP differs from the existing load
// balancer's: Octavia cannot move a VIP.
func (c *Client) checkVIP(want *octavia.LoadBalancer, o Options, lb *loadbalancers.LoadBalancer) error {
	var d diff
	if s := firstOf(want.VIPSubnetID, o.VIPSubnetID); s != "" {
		d.str("vip_subnet_id", s, lb.VipSubnetID)
	}
	if want.VIPNetworkID != "" {
		d.str("vip_network_id", want.VIPNetworkID, lb.VipNetworkID)
	}
	if want.VIPPortID != "" {
		d.str("vip_port_id", want.VIPPortID, lb.VipPortID)
	}
	if want.VIPAddress != "" {
		d.str("vip_address", want.VIPAddress, lb.VipAddress)
	}
	if len(d) == 0 {
		return nil
	}
	return &Error{Op: fmt.Sprintf("load balancer %q (%s)", lb.Name, lb.ID), Message: "its VIP differs from the file: " + d.String(),
		Hint: fmt.Sprintf("a VIP cannot be moved: put the old value back, or `%s` then `%s` to recreate it (with a new VIP address)", c.Advice.remove(), c.Advice.again())}
}

// createLB is the fully-populated create: the load balancer, its listeners
// with their default pools, members and monitors, in one call and one wait.
// It stores the load balancer, once read back, in *out.
func (w *walker) createLB(want *octavia.LoadBalancer, o Options, out **loadbalancers.LoadBalancer) Change {
	members, mons := 0, 0
	for _, p := range want.Pools {
		members += len(p.Members)
		if p.HealthMonitor != nil {
			mons++
		}
	}
	vip := firstOf(want.VIPSubnetID, o.VIPSubnetName, o.VIPSubnetID, want.VIPNetworkID, want.VIPPortID)
	detail := fmt.Sprintf("VIP on %s; %d listener(s), %d pool(s), %d member(s), %d health monitor(s) in one call",
		vip, len(want.Listeners), len(want.Pools), members, mons)
	return Change{Op: OpCreate, Kind: "load balancer", Name: want.Name, Detail: detail, Do: func(ctx context.Context) error {
		got, err := loadbalancers.Create(ctx, w.c.SC, lbCreateOpts(want, o.VIPSubnetID)).Extract()
		if err != nil {
			return w.c.describe(fmt.Sprintf("create load balancer %q", want.Name), err)
		}
		w.run.Created(got.ID)
		*out = got
		if err := w.c.WaitActive(ctx, Ref(got)); err != nil {
			return err
		}
		*out, err = loadbalancers.Get(ctx, w.c.SC, got.ID).Extract()
		return w.c.describe(fmt.Sprintf("read load balancer %q", want.Name), err)
	}}
}

// Apply converges the endpoint to each of cfg's load balancers, matched by
// name, as lbctl apply does: Converge with o, except that o.VIPSubnetID is
// sent only for load balancers whose file names no VIP subnet, network or
// port. It returns the changes made, also when it fails part way.
func (c *Client) Apply(ctx context.Context, cfg *octavia.Config, o Options) ([]Change, error) {
	run := NewRun(&c.Waiter, false)
	for i, lb := range cfg.LoadBalancers {
		if lb.Name == "" {
			return run.Changes, fmt.Errorf("loadbalancers[%d]: apply matches load balancers by name; give it one", i)
		}
		lo := o
		if lb.VIPSubnetID != "" || lb.VIPNetworkID != "" || lb.VIPPortID != "" {
			lo.VIPSubnetID, lo.VIPSubnetName = "", ""
		}
		if _, err := c.Converge(ctx, run, lb, lo); err != nil {
			return run.Changes, fmt.Errorf("load balancer %s: %w", lb.Name, err)
		}
	}
	return run.Changes, nil
}
