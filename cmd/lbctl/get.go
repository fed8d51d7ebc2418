package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/gophercloud/gophercloud/v2/openstack/loadbalancer/v2/l7policies"
	"github.com/gophercloud/gophercloud/v2/openstack/loadbalancer/v2/listeners"
	"github.com/gophercloud/gophercloud/v2/openstack/loadbalancer/v2/loadbalancers"
	"github.com/gophercloud/gophercloud/v2/openstack/loadbalancer/v2/monitors"
	"github.com/gophercloud/gophercloud/v2/openstack/loadbalancer/v2/pools"

	"lbd/internal/octavia/reconcile"
)

// getKinds are the kinds get lists, as its help and completion name them.
var getKinds = []string{"loadbalancers", "listeners", "pools", "members", "healthmonitors", "l7policies"}

var getCommand = command{
	summary: "List the load balancers, listeners, pools, members, health monitors or L7 policies of a running lbd, or show those with a name or ID.",
	usage:   "lbctl get KIND [NAME|ID] [--lb LB] [--pool POOL] [-o table|json|yaml] [flags]",
	args: "KIND     " + strings.Join(getKinds, ", ") + " (singular, lb and hm also do)\n" +
		"NAME|ID  only the objects with this name or ID (a member: also ADDRESS:PORT)",
	example: "lbctl get loadbalancers\nlbctl get members --pool pool1\nlbctl get listeners listener1 -o yaml",
	define:  defineGet,
}

// defineGet lists objects of one kind, or shows those with a name or ID.
func defineGet(fs *flag.FlagSet) runner {
	var cf clientFlags
	cf.register(fs)
	lbName := fs.String("lb", "", "only objects of this load balancer")
	poolName := fs.String("pool", "", "the pool whose members to list (members only)")
	return cf.wrap(func(ctx context.Context, pos []string, stdout, stderr io.Writer) error {
		return runGet(ctx, &cf, *lbName, *poolName, pos, stdout)
	})
}

func runGet(ctx context.Context, cf *clientFlags, lbName, poolName string, pos []string, stdout io.Writer) error {
	if err := cf.check(); err != nil {
		return err
	}
	if len(pos) < 1 || len(pos) > 2 {
		return fmt.Errorf("get needs a KIND (%s) and at most one NAME|ID", strings.Join(getKinds, ", "))
	}
	name := ""
	if len(pos) == 2 {
		name = pos[1]
	}
	c := cf.client(reconcile.Advice{})
	lbID := ""
	if lbName != "" {
		lb, err := c.LoadBalancer(ctx, lbName)
		if err != nil {
			return err
		}
		lbID = lb.ID
	}
	match := func(id, n string) bool { return name == "" || name == id || name == n }
	kind := strings.ToLower(pos[0])
	if kind == "l7policies" || kind == "l7policy" {
		return getL7Policies(ctx, c, cf, lbID, match, stdout)
	}
	switch strings.TrimSuffix(kind, "s") {
	case "loadbalancer", "lb":
		all, err := c.LoadBalancers(ctx, "")
		if err != nil {
			return err
		}
		out := []loadbalancers.LoadBalancer{}
		for _, lb := range all {
			if match(lb.ID, lb.Name) && (lbID == "" || lb.ID == lbID) {
				out = append(out, lb)
			}
		}
		return emitObjects(ctx, c, cf, stdout, "loadbalancers", "", idsOf(out, func(x loadbalancers.LoadBalancer) string { return x.ID }), func(tw *tabwriter.Writer) {
			row(tw, "ID", "NAME", "VIP", "LISTENERS", "POOLS", "PROVISIONING", "OPERATING")
			for _, lb := range out {
				row(tw, lb.ID, lb.Name, lb.VipAddress, len(lb.Listeners), len(lb.Pools), lb.ProvisioningStatus, lb.OperatingStatus)
			}
		})
	case "listener":
		all, err := c.Listeners(ctx, lbID)
		if err != nil {
			return err
		}
		out := []listeners.Listener{}
		for _, l := range all {
			if match(l.ID, l.Name) {
				out = append(out, l)
			}
		}
		return emitObjects(ctx, c, cf, stdout, "listeners", "", idsOf(out, func(x listeners.Listener) string { return x.ID }), func(tw *tabwriter.Writer) {
			row(tw, "ID", "NAME", "PROTOCOL", "PORT", "DEFAULT_POOL", "PROVISIONING", "OPERATING")
			for _, l := range out {
				row(tw, l.ID, l.Name, l.Protocol, l.ProtocolPort, dash(l.DefaultPoolID), l.ProvisioningStatus, l.OperatingStatus)
			}
		})
	case "pool":
		all, err := c.Pools(ctx, lbID)
		if err != nil {
			return err
		}
		out := []pools.Pool{}
		for _, p := range all {
			if match(p.ID, p.Name) {
				out = append(out, p)
			}
		}
		return emitObjects(ctx, c, cf, stdout, "pools", "", idsOf(out, func(x pools.Pool) string { return x.ID }), func(tw *tabwriter.Writer) {
			row(tw, "ID", "NAME", "PROTOCOL", "ALGORITHM", "MEMBERS", "MONITOR", "PROVISIONING", "OPERATING")
			for _, p := range out {
				row(tw, p.ID, p.Name, p.Protocol, p.LBMethod, len(p.Members), dash(p.MonitorID), p.ProvisioningStatus, p.OperatingStatus)
			}
		})
	case "member":
		if poolName == "" {
			return errors.New("get members: --pool POOL is required")
		}
		p, err := c.Pool(ctx, lbID, poolName)
		if err != nil {
			return err
		}
		all, err := c.Members(ctx, p.ID)
		if err != nil {
			return err
		}
		out := []pools.Member{}
		for _, m := range all {
			if match(m.ID, m.Name) || name == fmt.Sprintf("%s:%d", m.Address, m.ProtocolPort) {
				out = append(out, m)
			}
		}
		sortMembers(out)
		return emitObjects(ctx, c, cf, stdout, "members", p.ID, idsOf(out, func(x pools.Member) string { return x.ID }), func(tw *tabwriter.Writer) {
			row(tw, "ID", "NAME", "ADDRESS", "PORT", "WEIGHT", "BACKUP", "ADMIN", "PROVISIONING", "OPERATING")
			for _, m := range out {
				row(tw, m.ID, dash(m.Name), m.Address, m.ProtocolPort, m.Weight, m.Backup, m.AdminStateUp, m.ProvisioningStatus, m.OperatingStatus)
			}
		})
	case "healthmonitor", "hm", "monitor":
		all, err := c.Monitors(ctx)
		if err != nil {
			return err
		}
		out := []monitors.Monitor{}
		for _, h := range all {
			if match(h.ID, h.Name) {
				out = append(out, h)
			}
		}
		return emitObjects(ctx, c, cf, stdout, "healthmonitors", "", idsOf(out, func(x monitors.Monitor) string { return x.ID }), func(tw *tabwriter.Writer) {
			row(tw, "ID", "NAME", "TYPE", "DELAY", "TIMEOUT", "RETRIES", "RETRIES_DOWN", "POOL", "PROVISIONING", "OPERATING")
			for _, h := range out {
				pool := "-"
				if len(h.Pools) > 0 {
					pool = h.Pools[0].ID
				}
				row(tw, h.ID, dash(h.Name), h.Type, h.Delay, h.Timeout, h.MaxRetries, h.MaxRetriesDown, pool, h.ProvisioningStatus, h.OperatingStatus)
			}
		})
	}
	return fmt.Errorf("get: unknown kind %q: one of %s", pos[0], strings.Join(getKinds, ", "))
}

// sortMembers orders members as people look for them: by name, then
// address and port (numerically), then ID.
func sortMembers(ms []pools.Member) {
	slices.SortStableFunc(ms, func(a, b pools.Member) int {
		aa, _ := netip.ParseAddr(a.Address)
		ba, _ := netip.ParseAddr(b.Address)
		return cmp.Or(cmp.Compare(a.Name, b.Name), aa.Compare(ba), strings.Compare(a.Address, b.Address),
			cmp.Compare(a.ProtocolPort, b.ProtocolPort), cmp.Compare(a.ID, b.ID))
	})
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func idsOf[T any](xs []T, id func(T) string) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = id(x)
	}
	return out
}

// emitObjects prints the table, or for -o json|yaml the objects as the
// API renders them (not gophercloud's structs, which add empty fields).
func emitObjects(ctx context.Context, c *reconcile.Client, cf *clientFlags, w io.Writer, collection, poolID string, ids []string, table func(*tabwriter.Writer)) error {
	if cf.output == "table" {
		return cf.emit(w, nil, table)
	}
	if collection == "members" {
		collection = "pools/" + poolID + "/members"
	}
	out, err := c.Raw(ctx, collection, ids)
	if err != nil {
		return err
	}
	return cf.emit(w, out, nil)
}

// getL7Policies lists L7 policies (of the load balancer lbID's listeners
// when it is not empty) in their listeners' order, each with its rules.
func getL7Policies(ctx context.Context, c *reconcile.Client, cf *clientFlags, lbID string, match func(id, n string) bool, stdout io.Writer) error {
	ls, err := c.Listeners(ctx, lbID)
	if err != nil {
		return err
	}
	type shown struct {
		p     l7policies.L7Policy
		rules string
	}
	var out []shown
	for _, l := range ls {
		pages, err := l7policies.List(c.SC, l7policies.ListOpts{ListenerID: l.ID}).AllPages(ctx)
		if err != nil {
			return fmt.Errorf("list L7 policies: %w", err)
		}
		ps, err := l7policies.ExtractL7Policies(pages)
		if err != nil {
			return fmt.Errorf("list L7 policies: %w", err)
		}
		slices.SortFunc(ps, func(a, b l7policies.L7Policy) int { return cmp.Compare(a.Position, b.Position) })
		for _, p := range ps {
			if !match(p.ID, p.Name) {
				continue
			}
			rp, err := l7policies.ListRules(c.SC, p.ID, l7policies.ListRulesOpts{}).AllPages(ctx)
			if err != nil {
				return fmt.Errorf("list the rules of L7 policy %s: %w", p.ID, err)
			}
			rules, err := l7policies.ExtractRules(rp)
			if err != nil {
				return fmt.Errorf("list the rules of L7 policy %s: %w", p.ID, err)
			}
			var rs []string
			for _, r := range rules {
				s := r.RuleType + " " + r.CompareType + " " + r.Value
				if r.Key != "" {
					s = r.RuleType + " " + r.Key + " " + r.CompareType + " " + r.Value
				}
				if r.Invert {
					s = "not " + s
				}
				rs = append(rs, s)
			}
			out = append(out, shown{p, dash(strings.Join(rs, " and "))})
		}
	}
	return emitObjects(ctx, c, cf, stdout, "l7policies", "", idsOf(out, func(x shown) string { return x.p.ID }), func(tw *tabwriter.Writer) {
		row(tw, "ID", "NAME", "LISTENER", "POSITION", "ACTION", "TARGET", "RULES", "PROVISIONING", "OPERATING")
		for _, x := range out {
			p := x.p
			target := dash(p.RedirectPoolID + p.RedirectURL + p.RedirectPrefix)
			row(tw, p.ID, dash(p.Name), p.ListenerID, p.Position, p.Action, target, x.rules, p.ProvisioningStatus, p.OperatingStatus)
		}
	})
}
