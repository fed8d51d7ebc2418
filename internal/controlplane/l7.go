package controlplane

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"

	"lbd/internal/octavia"
	"lbd/internal/octavia/api"
)

// L7 policies and rules through the API, in Octavia's order of checks
// (controllers/l7policy.py, l7rule.py; the model holds the rules
// themselves): WSME's field checks, the parents, the redirect pool, the
// sanitize, the rules; positions renumbered as Octavia's repository does.

// l7policy finds a policy, its listener and load balancer.
func (s *state) l7policy(id string) (*octavia.LoadBalancer, *octavia.Listener, *octavia.L7Policy) {
	if lb := s.owning(id); lb != nil {
		for _, l := range lb.Listeners {
			if pol, _ := l.L7PolicyByID(id); pol != nil {
				return lb, l, pol
			}
		}
	}
	return nil, nil, nil
}

// l7rule finds a rule and its policy.
func (s *state) l7rule(id string) (*octavia.L7Policy, *octavia.L7Rule) {
	if lb := s.owning(id); lb != nil {
		for _, l := range lb.Listeners {
			for _, pol := range l.L7Policies {
				for _, r := range pol.Rules {
					if r.ID == id {
						return pol, r
					}
				}
			}
		}
	}
	return nil, nil
}

// L7Policies implements api.Service.
func (cp *ControlPlane) L7Policies() []api.L7Policy {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	var out []api.L7Policy
	for _, lb := range cp.st.LoadBalancers {
		for _, l := range lb.Listeners {
			for _, pol := range l.L7Policies {
				out = append(out, cp.l7PolicyView(pol))
			}
		}
	}
	return out
}

// L7Policy implements api.Service.
func (cp *ControlPlane) L7Policy(id string) (api.L7Policy, error) {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	_, _, pol := cp.st.l7policy(id)
	if pol == nil {
		return api.L7Policy{}, api.NotFound(api.KindL7Policy, id)
	}
	return cp.l7PolicyView(pol), nil
}

// checkRedirectPool is Octavia's check of a redirect_pool_id before its
// sanitize: the pool exists (in any load balancer; that it is this one's
// is checked later) and suits the listener's protocol.
func (cp *ControlPlane) checkRedirectPool(poolID string, listener octavia.Protocol) error {
	if poolID == "" {
		return nil
	}
	cp.mu.Lock()
	_, pool := cp.st.pool(poolID)
	cp.mu.Unlock()
	if pool == nil {
		return api.NotFound(api.KindPool, poolID)
	}
	return checkProtocols(listener, pool.Protocol)
}

// CreateL7Policy implements api.Service.
func (cp *ControlPlane) CreateL7Policy(ctx context.Context, pol *octavia.L7Policy) (api.L7Policy, error) {
	if err := checkUUIDs("listener_id", pol.ListenerID, "redirect_pool_id", pol.RedirectPoolID); err != nil {
		return api.L7Policy{}, err
	}
	if err := pol.ValidateFields("l7policy"); err != nil {
		return api.L7Policy{}, invalid(err)
	}
	for i, r := range pol.Rules {
		if err := r.ValidateFields(fmt.Sprintf("l7policy.rules[%d]", i)); err != nil {
			return api.L7Policy{}, invalid(err)
		}
	}
	cp.mu.Lock()
	lb, l := cp.st.listener(pol.ListenerID)
	cp.mu.Unlock()
	if l == nil {
		return api.L7Policy{}, api.NotFound(api.KindListener, pol.ListenerID)
	}
	if l.Protocol == octavia.ProtocolPrometheus {
		return api.L7Policy{}, api.Errorf(http.StatusBadRequest, "Protocol PROMETHEUS listeners cannot have child objects.")
	}
	if err := cp.checkRedirectPool(pol.RedirectPoolID, l.Protocol); err != nil {
		return api.L7Policy{}, err
	}
	pol.ID = newID()
	for _, r := range pol.Rules {
		r.ID = newID()
	}
	var created *octavia.L7Policy
	_, err := cp.mutate(ctx, change{lbID: lb.ID,
		edit: func(lb *octavia.LoadBalancer) (*octavia.LoadBalancer, touched, error) {
			_, i := listenerIndex(lb, pol.ListenerID)
			if i < 0 {
				return nil, touched{}, api.NotFound(api.KindListener, pol.ListenerID)
			}
			l := lb.Listeners[i]
			pol.SetDefaults()
			if err := pol.Validate("l7policy", lb, l); err != nil {
				return nil, touched{}, invalid(err)
			}
			args := pol.ArgsOf()
			if err := args.Sanitize(true); err != nil {
				return nil, touched{}, l7Error(err)
			}
			args.Apply(pol)
			l.InsertL7Policy(pol)
			created = pol
			t := touched{created: []string{pol.ID}, updated: []string{l.ID}}
			for _, r := range pol.Rules {
				t.created = append(t.created, r.ID)
			}
			return lb, t, nil
		}})
	if err != nil {
		return api.L7Policy{}, err
	}
	return cp.L7Policy(created.ID)
}

func listenerIndex(lb *octavia.LoadBalancer, id string) (*octavia.Listener, int) {
	i := slices.IndexFunc(lb.Listeners, func(l *octavia.Listener) bool { return l.ID == id })
	if i < 0 {
		return nil, -1
	}
	return lb.Listeners[i], i
}

// l7Error answers a model's L7 problem with Octavia's code and words.
func l7Error(err error) error {
	if e, ok := err.(*octavia.L7Error); ok {
		return api.Errorf(e.Code, "%s", e.Message)
	}
	return err
}

// UpdateL7Policy implements api.Service: the body is sanitized alone, as
// Octavia does (an update naming an action must name its target), its
// targets replace the policy's, and an action clears the targets it does
// not use; a new position moves the policy and renumbers the others.
func (cp *ControlPlane) UpdateL7Policy(ctx context.Context, id string, patch api.Patch) (api.L7Policy, error) {
	if err := checkPatchUUIDs(patch, "redirect_pool_id"); err != nil {
		return api.L7Policy{}, err
	}
	var given octavia.L7Policy
	if err := api.ApplyPatch(&given, patch); err != nil {
		return api.L7Policy{}, err
	}
	if err := given.ValidateFields("l7policy"); err != nil {
		return api.L7Policy{}, invalid(err)
	}
	cp.mu.Lock()
	lb, l, cur := cp.st.l7policy(id)
	cp.mu.Unlock()
	if cur == nil {
		return api.L7Policy{}, api.NotFound(api.KindL7Policy, id)
	}
	args := argsOfPatch(&given, patch)
	if err := args.Sanitize(false); err != nil {
		return api.L7Policy{}, l7Error(err)
	}
	if args.RedirectPoolID != nil {
		if err := cp.checkRedirectPool(*args.RedirectPoolID, l.Protocol); err != nil {
			return api.L7Policy{}, err
		}
	}
	_, err := cp.mutate(ctx, change{lbID: lb.ID,
		edit: func(lb *octavia.LoadBalancer) (*octavia.LoadBalancer, touched, error) {
			l, _ := listenerIndex(lb, cur.ListenerID)
			pol, i := l.L7PolicyByID(id)
			if pol == nil {
				return nil, touched{}, api.NotFound(api.KindL7Policy, id)
			}
			if pid := args.RedirectPoolID; pid != nil && *pid != "" && lb.PoolByID(*pid) == nil {
				return nil, touched{}, api.NotFound(api.KindPool, *pid)
			}
			oldPos := pol.PositionOr(i + 1)
			others := api.Patch{}
			for k, v := range patch {
				if !l7TargetAttrs[k] {
					others[k] = v
				}
			}
			if err := api.ApplyPatch(pol, others); err != nil {
				return nil, touched{}, err
			}
			pol.SetDefaults()
			args.ClearForAction()
			args.Apply(pol)
			if pos := pol.PositionOr(oldPos); pos != oldPos {
				l.MoveL7Policy(i, pos)
			} else {
				pol.Position = &oldPos
			}
			return lb, touched{updated: []string{id, l.ID}}, nil
		}})
	if err != nil {
		return api.L7Policy{}, err
	}
	return cp.L7Policy(id)
}

// l7TargetAttrs are the attributes Octavia's sanitize rewrites.
var l7TargetAttrs = map[string]bool{"action": true, "redirect_pool_id": true, "redirect_url": true, "redirect_prefix": true, "redirect_http_code": true}

// argsOfPatch is the attributes of an update as Octavia's sanitize sees
// them: those the body names (null ones as None).
func argsOfPatch(given *octavia.L7Policy, patch api.Patch) *octavia.L7PolicyArgs {
	a := &octavia.L7PolicyArgs{}
	str := func(v string) *string { return &v }
	for k := range patch {
		switch k {
		case "action":
			act := given.Action
			a.Action = &act
		case "redirect_pool_id":
			a.RedirectPoolID = str(given.RedirectPoolID)
		case "redirect_url":
			a.RedirectURL = str(given.RedirectURL)
		case "redirect_prefix":
			a.RedirectPrefix = str(given.RedirectPrefix)
		case "redirect_http_code":
			c := octavia.IntOr(given.RedirectHTTPCode, 0)
			a.RedirectHTTPCode = &c
		default:
			a.Others++
		}
	}
	if a.Action != nil && *a.Action == "" { // "action": null
		a.Action = nil
		a.Others++
	}
	return a
}

// DeleteL7Policy implements api.Service: with its rules; the listener's
// other policies move up.
func (cp *ControlPlane) DeleteL7Policy(ctx context.Context, id string) error {
	lbID, err := cp.parentOf(id, api.KindL7Policy)
	if err != nil {
		return err
	}
	_, err = cp.mutate(ctx, change{lbID: lbID,
		edit: func(lb *octavia.LoadBalancer) (*octavia.LoadBalancer, touched, error) {
			for _, l := range lb.Listeners {
				if pol, i := l.L7PolicyByID(id); pol != nil {
					l.L7Policies = slices.Delete(l.L7Policies, i, i+1)
					l.RenumberL7Policies()
					t := touched{deleted: []string{id}, updated: []string{l.ID}}
					for _, r := range pol.Rules {
						t.deleted = append(t.deleted, r.ID)
					}
					return lb, t, nil
				}
			}
			return nil, touched{}, api.NotFound(api.KindL7Policy, id)
		}})
	return err
}

// L7Rules implements api.Service.
func (cp *ControlPlane) L7Rules(policyID string) ([]api.L7Rule, error) {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	_, _, pol := cp.st.l7policy(policyID)
	if pol == nil {
		return nil, api.NotFound("L7Policy", policyID)
	}
	out := []api.L7Rule{}
	for _, r := range pol.Rules {
		out = append(out, cp.l7RuleView(r))
	}
	return out, nil
}

// L7Rule implements api.Service. As Octavia does, it finds the rule by its
// ID alone; the policy in the path only has to exist.
func (cp *ControlPlane) L7Rule(policyID, id string) (api.L7Rule, error) {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	_, r := cp.st.l7rule(id)
	if r == nil {
		return api.L7Rule{}, api.NotFound(api.KindL7Rule, id)
	}
	return cp.l7RuleView(r), nil
}

// CreateL7Rule implements api.Service.
func (cp *ControlPlane) CreateL7Rule(ctx context.Context, policyID string, r *octavia.L7Rule) (api.L7Rule, error) {
	if err := r.ValidateFields("rule"); err != nil {
		return api.L7Rule{}, invalid(err)
	}
	lbID, err := cp.parentOf(policyID, "L7Policy")
	if err != nil {
		return api.L7Rule{}, err
	}
	if err := r.Check(); err != nil {
		return api.L7Rule{}, l7Error(err)
	}
	r.ID = newID()
	r.SetDefaults()
	if !r.Type.UsesKey() {
		// Octavia's repository clears it at the first update of the rule,
		// which its worker makes as the create completes.
		r.Key = ""
	}
	_, err = cp.mutate(ctx, change{lbID: lbID,
		edit: func(lb *octavia.LoadBalancer) (*octavia.LoadBalancer, touched, error) {
			for _, l := range lb.Listeners {
				if pol, _ := l.L7PolicyByID(policyID); pol != nil {
					if len(pol.Rules) >= octavia.MaxL7RulesPerPolicy {
						return nil, touched{}, api.Errorf(http.StatusConflict, "Too many rules on L7 policy %s", policyID)
					}
					pol.Rules = append(pol.Rules, r)
					return lb, touched{created: []string{r.ID}, updated: []string{policyID, l.ID}}, nil
				}
			}
			return nil, touched{}, api.NotFound("L7Policy", policyID)
		}})
	if err != nil {
		return api.L7Rule{}, err
	}
	return cp.L7Rule(policyID, r.ID)
}

// UpdateL7Rule implements api.Service: the change is merged onto the rule
// and the whole rule checked again; a rule type that does not read its
// key loses it.
func (cp *ControlPlane) UpdateL7Rule(ctx context.Context, policyID, id string, patch api.Patch) (api.L7Rule, error) {
	if raw, ok := patch["invert"]; ok && string(raw) == "null" {
		patch["invert"] = json.RawMessage("false") // Octavia: an unset invert is False
	}
	lbID, err := cp.parentOf(policyID, "L7Policy")
	if err != nil {
		return api.L7Rule{}, err
	}
	cp.mu.Lock()
	_, cur := cp.st.l7rule(id)
	cp.mu.Unlock()
	if cur == nil {
		return api.L7Rule{}, api.NotFound(api.KindL7Rule, id)
	}
	merged := *cur
	if err := api.ApplyPatch(&merged, patch); err != nil {
		return api.L7Rule{}, err
	}
	if err := merged.ValidateFields("rule"); err != nil {
		return api.L7Rule{}, invalid(err)
	}
	if err := merged.Check(); err != nil {
		return api.L7Rule{}, l7Error(err)
	}
	if !merged.Type.UsesKey() {
		merged.Key = ""
	}
	merged.SetDefaults()
	_, err = cp.mutate(ctx, change{lbID: lbID,
		edit: func(lb *octavia.LoadBalancer) (*octavia.LoadBalancer, touched, error) {
			for _, l := range lb.Listeners {
				for _, pol := range l.L7Policies {
					for i, r := range pol.Rules {
						if r.ID == id {
							pol.Rules[i] = &merged
							return lb, touched{updated: []string{id, pol.ID, l.ID}}, nil
						}
					}
				}
			}
			return nil, touched{}, api.NotFound(api.KindL7Rule, id)
		}})
	if err != nil {
		return api.L7Rule{}, err
	}
	return cp.L7Rule(policyID, id)
}

// DeleteL7Rule implements api.Service.
func (cp *ControlPlane) DeleteL7Rule(ctx context.Context, policyID, id string) error {
	lbID, err := cp.parentOf(policyID, "L7Policy")
	if err != nil {
		return err
	}
	cp.mu.Lock()
	_, cur := cp.st.l7rule(id)
	cp.mu.Unlock()
	if cur == nil {
		return api.NotFound(api.KindL7Rule, id)
	}
	_, err = cp.mutate(ctx, change{lbID: lbID,
		edit: func(lb *octavia.LoadBalancer) (*octavia.LoadBalancer, touched, error) {
			for _, l := range lb.Listeners {
				for _, pol := range l.L7Policies {
					for i, r := range pol.Rules {
						if r.ID == id {
							pol.Rules = slices.Delete(pol.Rules, i, i+1)
							return lb, touched{deleted: []string{id}, updated: []string{pol.ID, l.ID}}, nil
						}
					}
				}
			}
			return nil, touched{}, api.NotFound(api.KindL7Rule, id)
		}})
	return err
}

func (cp *ControlPlane) l7PolicyBase(pol *octavia.L7Policy) api.L7PolicyBase {
	m := cp.metaOf(pol.ID)
	return api.L7PolicyBase{
		ID:                 pol.ID,
		Name:               pol.Name,
		Description:        pol.Description,
		ProvisioningStatus: string(m.Status),
		OperatingStatus:    cp.operating(pol.ID, pol.Enabled(), octavia.OperatingOnline),
		AdminStateUp:       pol.Enabled(),
		ProjectID:          project(m),
		TenantID:           project(m),
		Action:             string(pol.Action),
		ListenerID:         pol.ListenerID,
		RedirectPoolID:     api.Nullable(pol.RedirectPoolID),
		RedirectURL:        api.Nullable(pol.RedirectURL),
		RedirectPrefix:     api.Nullable(pol.RedirectPrefix),
		Position:           pol.PositionOr(0),
		CreatedAt:          ts(m.CreatedAt),
		UpdatedAt:          ts(m.UpdatedAt),
		Tags:               list(pol.Tags),
		RedirectHTTPCode:   pol.RedirectHTTPCode,
	}
}

func (cp *ControlPlane) l7PolicyView(pol *octavia.L7Policy) api.L7Policy {
	v := api.L7Policy{L7PolicyBase: cp.l7PolicyBase(pol), Rules: []api.IDRef{}}
	for _, r := range pol.Rules {
		v.Rules = append(v.Rules, api.IDRef{ID: r.ID})
	}
	return v
}

func (cp *ControlPlane) l7PolicyFullView(pol *octavia.L7Policy) api.L7PolicyFull {
	v := api.L7PolicyFull{L7PolicyBase: cp.l7PolicyBase(pol), Rules: []api.L7Rule{}}
	for _, r := range pol.Rules {
		v.Rules = append(v.Rules, cp.l7RuleView(r))
	}
	return v
}

func (cp *ControlPlane) l7RuleView(r *octavia.L7Rule) api.L7Rule {
	m := cp.metaOf(r.ID)
	return api.L7Rule{
		ID:                 r.ID,
		Type:               string(r.Type),
		CompareType:        string(r.CompareType),
		Key:                api.Nullable(r.Key),
		Value:              r.Value,
		Invert:             r.Invert,
		ProvisioningStatus: string(m.Status),
		OperatingStatus:    cp.operating(r.ID, r.Enabled(), octavia.OperatingOnline),
		CreatedAt:          ts(m.CreatedAt),
		UpdatedAt:          ts(m.UpdatedAt),
		ProjectID:          project(m),
		TenantID:           project(m),
		AdminStateUp:       r.Enabled(),
		Tags:               list(r.Tags),
	}
}
