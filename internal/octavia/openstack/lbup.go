package openstack

import (
	"context"
	"fmt"
	"strings"

	"github.com/gophercloud/gophercloud/v2/openstack/loadbalancer/v2/loadbalancers"
)

// upLoadBalancer creates the load balancer with one fully-populated call
// when it does not exist, then converges its tree: every difference between
// the file and the cloud is one change, each followed by a wait for ACTIVE.
func (r *run) upLoadBalancer(ctx context.Context) error {
	if ref := r.spec.OS.VIPSubnet; ref != "" {
		sub, err := r.subnet(ctx, ref, "", "openstack.vip_subnet")
		if err != nil {
			return err
		}
		r.vipSubnet = sub.ID
	}
	lb, err := r.findLB(ctx)
	if err != nil {
		return err
	}
	if lb == nil {
		if err := r.applyAll(ctx, []Change{r.createLB()}); err != nil || r.plan {
			return err
		}
		lb = r.lb
	}
	r.lb = lb
	ref := lbRef{ID: lb.ID, Name: lb.Name}
	switch {
	case lb.ProvisioningStatus == "ERROR":
		return &Error{Op: ref.String(), Message: "is in ERROR: Octavia will not change it",
			Hint: fmt.Sprintf("`lbctl down -f %s` removes it (a load balancer in ERROR can be deleted), then `lbctl up` creates it again", r.spec.File)}
	case strings.HasPrefix(lb.ProvisioningStatus, "PENDING_") && r.plan:
		r.p.printf("  (%s is %s: the plan may change once it settles)", ref, lb.ProvisioningStatus)
	case strings.HasPrefix(lb.ProvisioningStatus, "PENDING_"):
		if err := r.p.waitLB(ctx, ref); err != nil {
			return err
		}
	}
	if err := r.checkVIP(lb); err != nil {
		return err
	}
	for pass := 1; ; pass++ {
		cur, err := r.readTree(ctx, lb)
		if err != nil {
			return err
		}
		err = r.applyAll(ctx, r.treeChanges(cur))
		if err == nil {
			break
		}
		if !r.retryPass(err, pass) {
			return err
		}
	}
	if r.plan {
		return nil
	}
	// Read it again: the floating IP needs vip_port_id, the result its state.
	r.lb, err = loadbalancers.Get(ctx, r.c.LoadBalancer, lb.ID).Extract()
	return describe("read "+ref.String(), err)
}

// checkVIP refuses a file whose VIP differs from the existing load
// balancer's: Octavia cannot move a VIP.
func (r *run) checkVIP(lb *loadbalancers.LoadBalancer) error {
	want := r.spec.LB
	var d diff
	if s := firstOf(want.VIPSubnetID, r.vipSubnet); s != "" {
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
		Hint: fmt.Sprintf("a VIP cannot be moved: put the old value back, or `lbctl down -f %s` then `lbctl up` to recreate it (with a new VIP address)", r.spec.File)}
}

// createLB is the fully-populated create: the load balancer, its listeners
// with their default pools, members and monitors, in one call and one wait.
func (r *run) createLB() Change {
	want := r.spec.LB
	pools := r.desiredPools()
	byID := map[string]*desiredPool{}
	for _, dp := range pools {
		byID[dp.ID] = dp
	}
	// A pool is inlined as the default pool of the first listener using it;
	// the others are created at load-balancer level. A pool shared by two
	// listeners is attached to the second by the convergence that follows.
	listenerPools := map[string]*desiredPool{}
	inlined := map[string]bool{}
	for _, l := range want.Listeners {
		if dp := byID[l.DefaultPoolID]; dp != nil && !inlined[dp.ID] {
			listenerPools[l.ID], inlined[dp.ID] = dp, true
		}
	}
	var lbPools []*desiredPool
	members, monitors := 0, 0
	for _, dp := range pools {
		if !inlined[dp.ID] {
			lbPools = append(lbPools, dp)
		}
		members += len(dp.Members)
		if dp.HealthMonitor != nil {
			monitors++
		}
	}
	vip := firstOf(r.spec.OS.VIPSubnet, want.VIPSubnetID)
	if vip == "" {
		vip = firstOf(want.VIPNetworkID, want.VIPPortID)
	}
	detail := fmt.Sprintf("VIP on %s; %d listener(s), %d pool(s), %d member(s), %d health monitor(s) in one call",
		vip, len(want.Listeners), len(pools), members, monitors)
	return Change{Op: OpCreate, Kind: "load balancer", Name: want.Name, Detail: detail, apply: func(ctx context.Context) error {
		opts := lbCreateOpts(want, r.vipSubnet, listenerPools, lbPools)
		got, err := loadbalancers.Create(ctx, r.c.LoadBalancer, opts).Extract()
		if err != nil {
			return describe(fmt.Sprintf("create load balancer %q", want.Name), err)
		}
		r.created(got.ID)
		r.lb = got
		if err := r.p.waitLB(ctx, lbRef{ID: got.ID, Name: got.Name}); err != nil {
			return err
		}
		r.lb, err = loadbalancers.Get(ctx, r.c.LoadBalancer, got.ID).Extract()
		return describe(fmt.Sprintf("read load balancer %q", want.Name), err)
	}}
}
