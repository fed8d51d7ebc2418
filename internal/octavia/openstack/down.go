package openstack

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/gophercloud/gophercloud/v2/openstack/loadbalancer/v2/loadbalancers"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/security/groups"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/security/rules"
)

const downNext = "run the same `lbctl down` again: what is already gone is skipped"

// Down removes what Up provisioned for the spec, in the tutorial's order:
// members, monitor, pool, listener, load balancer (or all at once with
// cascade), then the floating IP, the servers and the security group.
// Resources already gone are fine. Only servers, floating IPs, security
// groups and rules lbctl created (they carry its marker) are deleted; a
// security group that existed before keeps everything but lbctl's rules.
// A load balancer in ERROR is deleted with cascade, the one way Octavia
// allows. With plan it only reports what it would delete.
func (p *Provisioner) Down(ctx context.Context, spec *Spec, cascade, plan bool) (*Result, error) {
	r := p.newRun(spec, plan)
	steps := []func(context.Context) error{
		func(ctx context.Context) error { return r.downLoadBalancer(ctx, cascade) },
		func(ctx context.Context) error {
			changes, err := r.deleteFloatingIPs(ctx)
			if err != nil {
				return err
			}
			return r.applyAll(ctx, changes)
		},
		r.downServers,
		r.downSecurityGroup,
	}
	for _, step := range steps {
		if err := step(ctx); err != nil {
			return r.res, r.incomplete(err, downNext)
		}
	}
	return r.res, nil
}

func (r *run) downLoadBalancer(ctx context.Context, cascade bool) error {
	lb, err := r.findLB(ctx)
	if err != nil || lb == nil {
		return err
	}
	r.lb = lb
	ref := lbRef{ID: lb.ID, Name: lb.Name}
	if lb.ProvisioningStatus == "PENDING_DELETE" {
		if r.plan {
			return nil
		}
		return r.p.waitLBGone(ctx, ref)
	}
	if !cascade && lb.ProvisioningStatus != "ERROR" {
		if strings.HasPrefix(lb.ProvisioningStatus, "PENDING_") && !r.plan {
			if err := r.p.waitLB(ctx, ref); err != nil {
				return err
			}
		}
		for pass := 1; ; pass++ {
			cur, err := r.readTree(ctx, lb)
			if err != nil {
				return err
			}
			err = r.applyAll(ctx, r.childDeletes(cur))
			if err == nil {
				break
			}
			if !r.retryPass(err, pass) {
				return err
			}
		}
	}
	why := ""
	switch {
	case lb.ProvisioningStatus == "ERROR":
		why, cascade = "in ERROR: deleted with its children (cascade)", true
	case cascade:
		why = "with its children (cascade)"
	}
	return r.applyAll(ctx, []Change{{Op: OpDelete, Kind: "load balancer", Name: lb.Name, Detail: why, apply: func(ctx context.Context) error {
		return r.deleteLB(ctx, ref, cascade)
	}}})
}

// childDeletes are the tutorial's teardown, pool by pool: members, monitor,
// pool; then the listeners.
func (r *run) childDeletes(cur *current) []Change {
	lb := cur.ref()
	var out []Change
	for _, p := range cur.pools {
		r.poolIDs[p.Name] = p.ID
		for _, m := range cur.members[p.ID] {
			out = append(out, r.deleteMember(lb, p.Name, m, fmt.Sprintf("%s:%d in pool %s", m.Address, m.ProtocolPort, p.Name)))
		}
		if hm := cur.monitors[p.ID]; hm != nil {
			out = append(out, r.deleteMonitor(lb, p.Name, *hm, ""))
		}
		out = append(out, r.deletePool(lb, p, ""))
	}
	for _, l := range cur.listeners {
		out = append(out, r.deleteListener(lb, l, ""))
	}
	return out
}

// deleteLB deletes the load balancer and waits until it is gone. While it is
// PENDING_* Octavia answers 409; that is waited out (ERROR counts as settled:
// an LB in ERROR can be deleted).
func (r *run) deleteLB(ctx context.Context, ref lbRef, cascade bool) error {
	start := time.Now()
	backoff := r.p.poll()
	for pass := 1; ; {
		err := loadbalancers.Delete(ctx, r.c.LoadBalancer, ref.ID, loadbalancers.DeleteOpts{Cascade: cascade}).ExtractErr()
		switch {
		case err == nil:
			// A delete the worker fails leaves the load balancer in ERROR,
			// which can be deleted again (with its children: some may be
			// gone, some not).
			err := r.p.waitLBGone(ctx, ref)
			var we *WaitError
			if errors.As(err, &we) && we.Failed && pass < maxPasses {
				r.p.printf("  %v\n  deleting it again, with its children (%d of %d)", err, pass+1, maxPasses)
				pass, cascade = pass+1, true
				continue
			}
			return err
		case isCode(err, http.StatusNotFound):
			return nil
		case !isBusy(err) || time.Since(start) > r.p.timeout():
			e := describe("delete "+ref.String(), err)
			if isCode(err, http.StatusBadRequest) && !cascade {
				e.(*Error).Hint = "it still has children lbctl did not remove; run lbctl down --cascade"
			}
			return e
		}
		err = r.p.waitFor(ctx, ref.String(), "ACTIVE or ERROR", nil, "", func(ctx context.Context) (string, bool, error) {
			got, err := loadbalancers.Get(ctx, r.c.LoadBalancer, ref.ID).Extract()
			if isCode(err, http.StatusNotFound) {
				return "deleted", true, nil
			}
			if err != nil {
				return "", false, describe("read "+ref.String(), err)
			}
			return got.ProvisioningStatus, !strings.HasPrefix(got.ProvisioningStatus, "PENDING_"), nil
		})
		if err != nil {
			return err
		}
		if err := sleep(ctx, backoff); err != nil {
			return describe("delete "+ref.String(), err)
		}
		backoff = min(backoff*2, maxPoll)
	}
}

func (r *run) downServers(ctx context.Context) error {
	mine, err := r.lbctlServers(ctx)
	if err != nil {
		return err
	}
	return r.deleteServers(ctx, mine, "")
}

// downSecurityGroup deletes the security group if lbctl created it, or else
// only the rules lbctl added to it. Neutron refuses (409) while ports of
// deleted servers still use the group; that is waited out.
func (r *run) downSecurityGroup(ctx context.Context) error {
	name := r.spec.OS.SecurityGroup
	if name == "" {
		return nil
	}
	sg, err := r.findSecurityGroup(ctx, name)
	if err != nil || sg == nil {
		return err
	}
	if sg.Description != r.spec.marker() {
		var changes []Change
		for _, rule := range sg.Rules {
			if rule.Description != r.spec.marker() {
				continue
			}
			changes = append(changes, Change{Op: OpDelete, Kind: "security group rule", Name: name, Detail: ruleText(rule) + " (the group itself was not created by lbctl)",
				apply: func(ctx context.Context) error {
					err := rules.Delete(ctx, r.c.Network, rule.ID).ExtractErr()
					if isCode(err, http.StatusNotFound) {
						return nil
					}
					return describe(fmt.Sprintf("delete rule %s of security group %q", ruleText(rule), name), err)
				}})
		}
		return r.applyAll(ctx, changes)
	}
	return r.applyAll(ctx, []Change{{Op: OpDelete, Kind: "security group", Name: name, apply: func(ctx context.Context) error {
		start, backoff := time.Now(), r.p.poll()
		for {
			err := groups.Delete(ctx, r.c.Network, sg.ID).ExtractErr()
			switch {
			case err == nil || isCode(err, http.StatusNotFound):
				return nil
			case !isCode(err, http.StatusConflict) || time.Since(start) > r.p.timeout():
				e := describe(fmt.Sprintf("delete security group %q", name), err)
				if isCode(err, http.StatusConflict) {
					e.(*Error).Hint = "ports still use it: `openstack port list --security-group " + sg.ID + "` shows them; delete them or retry"
				}
				return e
			}
			if err := sleep(ctx, backoff); err != nil {
				return describe(fmt.Sprintf("delete security group %q", name), err)
			}
			backoff = min(backoff*2, maxPoll)
		}
	}}})
}

func ruleText(x rules.SecGroupRule) string {
	if x.Protocol == "icmp" || x.PortRangeMin == 0 {
		return fmt.Sprintf("%s %s", x.Direction, x.Protocol)
	}
	return fmt.Sprintf("%s %s %d", x.Direction, x.Protocol, x.PortRangeMin)
}
