package reconcile

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/gophercloud/gophercloud/v2/openstack/loadbalancer/v2/l7policies"

	"lbd/internal/octavia"
)

// L7 policies and their rules. A policy is identified in its listener by
// its name, an unnamed one by its place ("#2"); its rules are its
// condition, so they converge with it (rules the file does not have are
// deleted, the missing ones created: rules have no identity of their own).
// Positions follow the file: the plan simulates Octavia's renumbering
// (deletes, then each of the file's policies moved or created at its place
// in order) and moves only the policies that need it.

// readL7 reads the policies of the tree's listeners and their rules.
func (c *Client) readL7(ctx context.Context, t *Tree, op string) error {
	for _, l := range t.Listeners {
		pages, err := l7policies.List(c.SC, l7policies.ListOpts{ListenerID: l.ID}).AllPages(ctx)
		if err != nil {
			return c.describe(op, err)
		}
		ps, err := l7policies.ExtractL7Policies(pages)
		if err != nil {
			return c.describe(op, err)
		}
		slices.SortFunc(ps, func(a, b l7policies.L7Policy) int { return int(a.Position) - int(b.Position) })
		t.Policies[l.ID] = ps
		for _, p := range ps {
			rp, err := l7policies.ListRules(c.SC, p.ID, l7policies.ListRulesOpts{}).AllPages(ctx)
			if err != nil {
				return c.describe(op, err)
			}
			if t.Rules[p.ID], err = l7policies.ExtractRules(rp); err != nil {
				return c.describe(op, err)
			}
		}
	}
	return nil
}

// policyKey identifies a policy in its listener: its name, else its place.
func policyKey(name string, position int) string {
	if name != "" {
		return name
	}
	return fmt.Sprintf("#%d", position)
}

// ruleSig is a rule's whole content: rules are matched by it.
func ruleSig(typ, cmp, key, value string, invert, enabled bool) string {
	return strings.Join([]string{typ, cmp, key, value, fmt.Sprint(invert), fmt.Sprint(enabled)}, "\x00")
}

func wantRuleSig(r *octavia.L7Rule) string {
	key := r.Key
	if !r.Type.UsesKey() {
		key = "" // Octavia does not keep it
	}
	return ruleSig(string(r.Type), string(r.CompareType), key, r.Value, r.Invert, r.Enabled())
}

func haveRuleSig(r l7policies.Rule) string {
	return ruleSig(r.RuleType, r.CompareType, r.Key, r.Value, r.Invert, r.AdminStateUp)
}

func ruleName(r *octavia.L7Rule) string {
	s := fmt.Sprintf("%s %s %q", r.Type, r.CompareType, r.Value)
	if r.Key != "" && r.Type.UsesKey() {
		s = fmt.Sprintf("%s %s %s %q", r.Type, r.Key, r.CompareType, r.Value)
	}
	if r.Invert {
		s = "not " + s
	}
	return s
}

func (w *walker) policyChild(name string) child {
	return child{"L7 policy", name, func(ctx context.Context, id string) (string, error) {
		p, err := l7policies.Get(ctx, w.c.SC, id).Extract()
		if err != nil {
			return "", err
		}
		return p.ProvisioningStatus, nil
	}}
}

// l7Changes converges the policies of the file's listener l, whose cloud
// listener is have (nil: created by this plan, its ID in w.listenerIDs).
func (w *walker) l7Changes(want *octavia.LoadBalancer, l *octavia.Listener, cur *Tree, haveID string, o Options) []Change {
	lb := cur.Ref()
	lname := ListenerName(l.Name, string(l.Protocol), l.ProtocolPort)
	var have []l7policies.L7Policy
	if haveID != "" {
		have = cur.Policies[haveID]
	}
	byKey := map[string]*l7policies.L7Policy{}
	for i := range have {
		byKey[policyKey(have[i].Name, int(have[i].Position))] = &have[i]
	}
	wanted := map[string]bool{}
	for _, p := range l.L7Policies {
		wanted[policyKey(p.Name, p.PositionOr(0))] = true
	}
	// The cloud's order as it will be, to know which policies move.
	var order []string
	var out []Change
	for _, a := range have {
		k := policyKey(a.Name, int(a.Position))
		if !wanted[k] && o.Prune {
			out = append(out, w.deletePolicy(lb, a, lname, "not in the file"))
			continue
		}
		order = append(order, a.ID)
	}
	for i, p := range l.L7Policies {
		key := policyKey(p.Name, p.PositionOr(0))
		name := fmt.Sprintf("%s of listener %s", key, lname)
		a := byKey[key]
		if a == nil {
			order = slices.Insert(order, min(i, len(order)), "new")
			out = append(out, w.createPolicy(lb, want, l, p, name, i+1))
			continue
		}
		uo, d := policyUpdate(want, p, a, cur)
		if at := slices.Index(order, a.ID); at != i {
			order = slices.Delete(order, at, at+1)
			order = slices.Insert(order, min(i, len(order)), a.ID)
			d = append(d, fmt.Sprintf("position %d → %d", at+1, i+1))
			uo.Position = int32(i + 1)
		}
		if len(d) > 0 {
			target := poolNameOf(want, p)
			out = append(out, w.change(lb, OpUpdate, w.policyChild(name), d.String(), func(ctx context.Context) (string, error) {
				if uo.RedirectPoolID != nil {
					*uo.RedirectPoolID = w.poolIDs[target]
				}
				return a.ID, l7policies.Update(ctx, w.c.SC, a.ID, uo).Err
			}))
		}
		out = append(out, w.ruleChanges(lb, p, name, a.ID, cur.Rules[a.ID])...)
	}
	return out
}

func poolNameOf(want *octavia.LoadBalancer, p *octavia.L7Policy) string {
	if pool := want.PoolByID(p.RedirectPoolID); pool != nil {
		return pool.Name
	}
	return ""
}

// createPolicy creates a policy at position pos, then its rules (Octavia
// 11 answers rules inline in a policy create with a 500).
func (w *walker) createPolicy(lb LBRef, want *octavia.LoadBalancer, l *octavia.Listener, p *octavia.L7Policy, name string, pos int) Change {
	target := poolNameOf(want, p)
	detail := string(p.Action)
	switch p.Action {
	case octavia.L7RedirectToPool:
		detail += " to pool " + target
	case octavia.L7RedirectToURL:
		detail += " " + p.RedirectURL
	case octavia.L7RedirectPrefix:
		detail += " " + p.RedirectPrefix
	}
	rules := make([]string, len(p.Rules))
	for i, r := range p.Rules {
		rules[i] = ruleName(r)
	}
	detail += fmt.Sprintf(", position %d, if %s", pos, strings.Join(rules, " and "))
	fileID := l.ID
	return w.change(lb, OpCreate, w.policyChild(name), detail, func(ctx context.Context) (string, error) {
		opts := l7policies.CreateOpts{Name: p.Name, Description: p.Description, ListenerID: w.listenerIDs[fileID],
			Action: l7policies.Action(p.Action), Position: int32(pos), RedirectURL: p.RedirectURL, RedirectPrefix: p.RedirectPrefix,
			RedirectHttpCode: int32(octavia.IntOr(p.RedirectHTTPCode, 0)), AdminStateUp: p.AdminStateUp, Tags: p.Tags}
		if p.Action == octavia.L7RedirectToPool {
			opts.RedirectPoolID = w.poolIDs[target]
		}
		got, err := l7policies.Create(ctx, w.c.SC, opts).Extract()
		if err != nil {
			return "", err
		}
		w.run.Created(got.ID)
		for _, r := range p.Rules {
			if err := w.c.Mutate(ctx, lb, "create L7 rule "+ruleName(r)+" of "+name, false, func(ctx context.Context) error {
				_, err := l7policies.CreateRule(ctx, w.c.SC, got.ID, ruleCreateOpts(r)).Extract()
				return err
			}); err != nil {
				return got.ID, err
			}
		}
		return got.ID, nil
	})
}

func ruleCreateOpts(r *octavia.L7Rule) l7policies.CreateRuleOpts {
	return l7policies.CreateRuleOpts{RuleType: l7policies.RuleType(r.Type), CompareType: l7policies.CompareType(r.CompareType),
		Value: r.Value, Key: r.Key, Invert: r.Invert, AdminStateUp: r.AdminStateUp, Tags: r.Tags}
}

// ruleChanges converges a policy's rules: those not in the file go, the
// missing ones are created.
func (w *walker) ruleChanges(lb LBRef, p *octavia.L7Policy, pname, policyID string, have []l7policies.Rule) []Change {
	var out []Change
	left := map[string]int{}
	for _, r := range p.Rules {
		left[wantRuleSig(r)]++
	}
	for _, a := range have {
		if sig := haveRuleSig(a); left[sig] > 0 {
			left[sig]--
			continue
		}
		out = append(out, w.change(lb, OpDelete, child{kind: "L7 rule", name: fmt.Sprintf("%s %s %q of %s", a.RuleType, a.CompareType, a.Value, pname)},
			"not in the file", func(ctx context.Context) (string, error) {
				return "", l7policies.DeleteRule(ctx, w.c.SC, policyID, a.ID).Err
			}))
	}
	for _, r := range p.Rules {
		sig := wantRuleSig(r)
		if left[sig] == 0 {
			continue
		}
		left[sig]--
		out = append(out, w.change(lb, OpCreate, child{kind: "L7 rule", name: ruleName(r) + " of " + pname}, "", func(ctx context.Context) (string, error) {
			got, err := l7policies.CreateRule(ctx, w.c.SC, policyID, ruleCreateOpts(r)).Extract()
			if err != nil {
				return "", err
			}
			w.run.Created(got.ID)
			return "", nil
		}))
	}
	return out
}

// policyUpdate compares what a policy PUT changes. The redirect targets
// are sent with the action, as Octavia's sanitize requires; a pool is
// compared by name.
func policyUpdate(want *octavia.LoadBalancer, p *octavia.L7Policy, have *l7policies.L7Policy, cur *Tree) (l7policies.UpdateOpts, diff) {
	var d diff
	var o l7policies.UpdateOpts
	if d.str("name", p.Name, have.Name) {
		o.Name = &p.Name
	}
	if d.str("description", p.Description, have.Description) {
		o.Description = &p.Description
	}
	if d.flag("admin_state_up", p.Enabled(), have.AdminStateUp) {
		o.AdminStateUp = ptrTo(p.Enabled())
	}
	if d.set("tags", p.Tags, have.Tags) {
		o.Tags = ptrTo(append([]string{}, p.Tags...))
	}
	action := d.str("action", string(p.Action), have.Action)
	switch p.Action {
	case octavia.L7RedirectToPool:
		if d.str("redirect pool", poolNameOf(want, p), cur.poolName(have.RedirectPoolID)) || action {
			o.RedirectPoolID = new(string) // filled when applied: the pool may be new
		}
	case octavia.L7RedirectToURL:
		if d.str("redirect_url", p.RedirectURL, have.RedirectURL) || action {
			o.RedirectURL = &p.RedirectURL
		}
	case octavia.L7RedirectPrefix:
		if d.str("redirect_prefix", p.RedirectPrefix, have.RedirectPrefix) || action {
			o.RedirectPrefix = &p.RedirectPrefix
		}
	}
	if action {
		o.Action = l7policies.Action(p.Action)
	}
	if code := octavia.IntOr(p.RedirectHTTPCode, 0); code != 0 && d.num("redirect_http_code", code, int(have.RedirectHttpCode)) {
		o.RedirectHttpCode = int32(code)
	}
	return o, d
}

func (w *walker) deletePolicy(lb LBRef, a l7policies.L7Policy, listener, why string) Change {
	return w.change(lb, OpDelete, w.policyChild(policyKey(a.Name, int(a.Position))+" of listener "+listener), why, func(ctx context.Context) (string, error) {
		return a.ID, l7policies.Delete(ctx, w.c.SC, a.ID).Err
	})
}
