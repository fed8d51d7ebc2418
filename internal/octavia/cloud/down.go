package cloud

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/security/groups"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/security/rules"

	"lbd/internal/octavia/reconcile"
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
	return r.steps(ctx, downNext,
		func(ctx context.Context) error { return r.lbc.Remove(ctx, r.Run, spec.LB.Name, cascade) },
		func(ctx context.Context) error {
			changes, err := r.deleteFloatingIPs(ctx)
			if err != nil {
				return err
			}
			return r.Apply(ctx, changes)
		},
		r.downServers,
		r.downSecurityGroup,
		r.downLease,
	)
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
		var changes []reconcile.Change
		for _, rule := range sg.Rules {
			if rule.Description != r.spec.marker() {
				continue
			}
			changes = append(changes, reconcile.Change{Op: reconcile.OpDelete, Kind: "security group rule", Name: name, Detail: ruleText(rule) + " (the group itself was not created by lbctl)",
				Do: func(ctx context.Context) error {
					err := rules.Delete(ctx, r.c.Network, rule.ID).ExtractErr()
					if isCode(err, http.StatusNotFound) {
						return nil
					}
					return describe(fmt.Sprintf("delete rule %s of security group %q", ruleText(rule), name), err)
				}})
		}
		return r.Apply(ctx, changes)
	}
	return r.Apply(ctx, []reconcile.Change{{Op: reconcile.OpDelete, Kind: "security group", Name: name, Do: func(ctx context.Context) error {
		start, backoff := time.Now(), r.p.FirstPoll()
		for {
			err := groups.Delete(ctx, r.c.Network, sg.ID).ExtractErr()
			switch {
			case err == nil || isCode(err, http.StatusNotFound):
				return nil
			case !isCode(err, http.StatusConflict) || time.Since(start) > r.p.Bound():
				e := describe(fmt.Sprintf("delete security group %q", name), err)
				if isCode(err, http.StatusConflict) {
					e.(*reconcile.Error).Hint = "ports still use it: `openstack port list --security-group " + sg.ID + "` shows them; delete them or retry"
				}
				return e
			}
			if err := reconcile.Sleep(ctx, backoff); err != nil {
				return describe(fmt.Sprintf("delete security group %q", name), err)
			}
			backoff = min(backoff*2, reconcile.MaxPoll)
		}
	}}})
}

func ruleText(x rules.SecGroupRule) string {
	if x.Protocol == "icmp" || x.PortRangeMin == 0 {
		return fmt.Sprintf("%s %s", x.Direction, x.Protocol)
	}
	return fmt.Sprintf("%s %s %d", x.Direction, x.Protocol, x.PortRangeMin)
}
