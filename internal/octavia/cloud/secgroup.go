package cloud

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"slices"

	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/tokens"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/security/groups"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/security/rules"

	"lbd/internal/octavia"
	"lbd/internal/octavia/reconcile"
)

// ruleSpec is one ingress rule the servers need, from anywhere (0.0.0.0/0).
type ruleSpec struct {
	Protocol string // tcp, udp or icmp
	Port     int    // 0 for icmp
}

func (w ruleSpec) String() string {
	if w.Protocol == "icmp" {
		return "ingress icmp from 0.0.0.0/0"
	}
	return fmt.Sprintf("ingress %s %d from 0.0.0.0/0", w.Protocol, w.Port)
}

// wantRules are the ingress rules the servers need: each listener port (as
// the tutorial opens them), each port the servers serve members on, and ICMP
// when a PING monitor checks them.
func (r *run) wantRules() []ruleSpec {
	set := map[ruleSpec]bool{}
	for _, l := range r.spec.LB.Listeners {
		if l.Protocol != octavia.ProtocolPrometheus {
			set[ruleSpec{l.Protocol.Transport(), l.ProtocolPort}] = true
		}
	}
	if srv := r.spec.OS.Servers; srv != nil {
		for _, m := range srv.Members {
			proto := "tcp"
			if p := r.specPool(m.Pool); p != nil {
				proto = p.Protocol.Transport()
			}
			set[ruleSpec{proto, m.ProtocolPort}] = true
			if m.MonitorPort != nil {
				set[ruleSpec{proto, *m.MonitorPort}] = true
			}
		}
	}
	for _, p := range r.spec.LB.Pools {
		if p.HealthMonitor != nil && p.HealthMonitor.Type == octavia.MonitorPING {
			set[ruleSpec{"icmp", 0}] = true
		}
	}
	out := make([]ruleSpec, 0, len(set))
	for w := range set {
		out = append(out, w)
	}
	slices.SortFunc(out, func(a, b ruleSpec) int {
		return cmp.Or(cmp.Compare(a.Protocol, b.Protocol), cmp.Compare(a.Port, b.Port))
	})
	return out
}

// specPool returns the file's pool of that name, or nil.
func (r *run) specPool(name string) *octavia.Pool {
	for _, p := range r.spec.LB.Pools {
		if p.Name == name {
			return p
		}
	}
	return nil
}

func (w ruleSpec) matches(x rules.SecGroupRule) bool {
	if x.Direction != "ingress" || x.EtherType != "IPv4" || x.Protocol != w.Protocol || x.RemoteGroupID != "" || x.RemoteAddressGroupID != "" {
		return false
	}
	if x.RemoteIPPrefix != "" && x.RemoteIPPrefix != "0.0.0.0/0" {
		return false
	}
	if w.Protocol == "icmp" {
		return x.PortRangeMin == 0 && x.PortRangeMax == 0
	}
	// A range that covers the port serves as well.
	return (x.PortRangeMin == 0 && x.PortRangeMax == 0) || (x.PortRangeMin <= w.Port && w.Port <= x.PortRangeMax)
}

func (r *run) findSecurityGroup(ctx context.Context, name string) (*groups.SecGroup, error) {
	op := fmt.Sprintf("find security group %q", name)
	pages, err := groups.List(r.c.Network, groups.ListOpts{Name: name, ProjectID: r.projectID()}).AllPages(ctx)
	if err != nil {
		return nil, describe(op, err)
	}
	all, err := groups.ExtractGroups(pages)
	if err != nil {
		return nil, describe(op, err)
	}
	if len(all) == 0 {
		return nil, nil
	}
	sg, err := reconcile.One("security group", name, "openstack.security_group", "openstack security group list", all, func(g groups.SecGroup) string { return g.ID })
	return &sg, err
}

// projectID is the project the token is scoped to, so that an admin's
// lookups by name do not see other projects' security groups.
func (r *run) projectID() string {
	if res, ok := r.c.Network.GetAuthResult().(tokens.CreateResult); ok {
		if proj, err := res.ExtractProject(); err == nil && proj != nil {
			return proj.ID
		}
	}
	return ""
}

func (r *run) upSecurityGroup(ctx context.Context) error {
	name := r.spec.OS.SecurityGroup
	if name == "" {
		return nil
	}
	sg, err := r.findSecurityGroup(ctx, name)
	if err != nil {
		return err
	}
	var changes []reconcile.Change
	var have []rules.SecGroupRule
	if sg == nil {
		changes = append(changes, reconcile.Change{Op: reconcile.OpCreate, Kind: "security group", Name: name, Do: func(ctx context.Context) error {
			g, err := groups.Create(ctx, r.c.Network, groups.CreateOpts{Name: name, Description: r.spec.marker()}).Extract()
			if err != nil {
				return describe(fmt.Sprintf("create security group %q", name), err)
			}
			r.sgID = g.ID
			r.Created(g.ID)
			return nil
		}})
	} else {
		r.sgID, have = sg.ID, sg.Rules
	}
	for _, w := range r.wantRules() {
		if slices.ContainsFunc(have, w.matches) {
			continue
		}
		changes = append(changes, reconcile.Change{Op: reconcile.OpCreate, Kind: "security group rule", Name: name, Detail: w.String(), Do: func(ctx context.Context) error {
			opts := rules.CreateOpts{Direction: rules.DirIngress, EtherType: rules.EtherType4, SecGroupID: r.sgID,
				Protocol: rules.RuleProtocol(w.Protocol), RemoteIPPrefix: "0.0.0.0/0", Description: r.spec.marker()}
			if w.Protocol != "icmp" {
				opts.PortRangeMin, opts.PortRangeMax = w.Port, w.Port
			}
			rule, err := rules.Create(ctx, r.c.Network, opts).Extract()
			// A 5xx may have created the rule or not: trying again is safe,
			// as a duplicate is refused with 409.
			for try := 1; try < 3 && err != nil && reconcile.Transient(describe("", err)); try++ {
				if err := reconcile.Sleep(ctx, r.p.FirstPoll()); err != nil {
					return describe("add a rule to security group "+name, err)
				}
				rule, err = rules.Create(ctx, r.c.Network, opts).Extract()
			}
			if isCode(err, http.StatusConflict) {
				return nil // the same rule exists already (added meanwhile)
			}
			if err != nil {
				return describe(fmt.Sprintf("add rule %s to security group %q", w, name), err)
			}
			r.Created(rule.ID)
			return nil
		}})
	}
	return r.Apply(ctx, changes)
}
