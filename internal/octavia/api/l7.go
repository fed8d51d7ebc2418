package api

import (
	"context"
	"net/http"
	"regexp"

	"lbd/internal/octavia"
)

// L7 is what the API needs from the control plane for L7 policies and
// their rules (/v2/lbaas/l7policies and /l7policies/{id}/rules).
type L7 interface {
	L7Policies() []L7Policy
	L7Policy(id string) (L7Policy, error)
	CreateL7Policy(ctx context.Context, p *octavia.L7Policy) (L7Policy, error)
	UpdateL7Policy(ctx context.Context, id string, p Patch) (L7Policy, error)
	DeleteL7Policy(ctx context.Context, id string) error

	L7Rules(policyID string) ([]L7Rule, error)
	L7Rule(policyID, id string) (L7Rule, error)
	CreateL7Rule(ctx context.Context, policyID string, r *octavia.L7Rule) (L7Rule, error)
	UpdateL7Rule(ctx context.Context, policyID, id string, p Patch) (L7Rule, error)
	DeleteL7Rule(ctx context.Context, policyID, id string) error
}

var uuidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$`)

// KindL7Rule is an L7 rule's name in Octavia's messages (KindL7Policy is
// with the others, in catalog.go).
const KindL7Rule = "L7 Rule"

// L7PolicyBase is what every rendering of an L7 policy has.
type L7PolicyBase struct {
	ID                 string    `json:"id"`
	Name               string    `json:"name"`
	Description        string    `json:"description"`
	ProvisioningStatus string    `json:"provisioning_status"`
	OperatingStatus    string    `json:"operating_status"`
	AdminStateUp       bool      `json:"admin_state_up"`
	ProjectID          *string   `json:"project_id"`
	TenantID           *string   `json:"tenant_id"`
	Action             string    `json:"action"`
	ListenerID         string    `json:"listener_id"`
	RedirectPoolID     *string   `json:"redirect_pool_id"`
	RedirectURL        *string   `json:"redirect_url"`
	RedirectPrefix     *string   `json:"redirect_prefix"`
	Position           int       `json:"position"`
	CreatedAt          Timestamp `json:"created_at"`
	UpdatedAt          Timestamp `json:"updated_at"`
	Tags               []string  `json:"tags"`
	RedirectHTTPCode   *int      `json:"redirect_http_code"`
}

// L7Policy is an L7 policy as GET, PUT and lists render it: its rules by
// ID.
type L7Policy struct {
	L7PolicyBase
	Rules []IDRef `json:"rules"`
}

// L7PolicyFull is an L7 policy inside a fully-populated create's answer:
// its rules inline.
type L7PolicyFull struct {
	L7PolicyBase
	Rules []L7Rule `json:"rules"`
}

// L7Rule is an L7 rule.
type L7Rule struct {
	ID                 string    `json:"id"`
	Type               string    `json:"type"`
	CompareType        string    `json:"compare_type"`
	Key                *string   `json:"key"`
	Value              string    `json:"value"`
	Invert             bool      `json:"invert"`
	ProvisioningStatus string    `json:"provisioning_status"`
	OperatingStatus    string    `json:"operating_status"`
	CreatedAt          Timestamp `json:"created_at"`
	UpdatedAt          Timestamp `json:"updated_at"`
	ProjectID          *string   `json:"project_id"`
	TenantID           *string   `json:"tenant_id"`
	AdminStateUp       bool      `json:"admin_state_up"`
	Tags               []string  `json:"tags"`
}

var (
	l7policyPost = body{arg: "l7policy_", envelope: "l7policy", shape: l7PolicyPostShape}
	l7policyPut  = body{arg: "l7policy_", envelope: "l7policy", shape: l7PolicyPutShape}
	l7rulePost   = body{arg: "rule_", envelope: "rule", shape: l7RulePostShape, mandatory: []string{"type", "compare_type", "value"}}
	l7rulePut    = body{arg: "rule_", envelope: "rule", shape: l7RulePutShape}
)

func (h *Handler) routeL7(p string) {
	h.mux.HandleFunc("GET "+p+"/l7policies", h.listL7Policies)
	h.mux.HandleFunc("POST "+p+"/l7policies", h.createL7Policy)
	h.mux.HandleFunc("GET "+p+"/l7policies/{id}", h.getL7Policy)
	h.mux.HandleFunc("PUT "+p+"/l7policies/{id}", h.updateL7Policy)
	h.mux.HandleFunc("DELETE "+p+"/l7policies/{id}", h.deleteL7Policy)
	h.mux.HandleFunc("GET "+p+"/l7policies/{id}/rules", h.listL7Rules)
	h.mux.HandleFunc("POST "+p+"/l7policies/{id}/rules", h.createL7Rule)
	h.mux.HandleFunc("GET "+p+"/l7policies/{id}/rules/{rule}", h.getL7Rule)
	h.mux.HandleFunc("PUT "+p+"/l7policies/{id}/rules/{rule}", h.updateL7Rule)
	h.mux.HandleFunc("DELETE "+p+"/l7policies/{id}/rules/{rule}", h.deleteL7Rule)
}

func (h *Handler) listL7Policies(w http.ResponseWriter, r *http.Request) {
	ps := h.svc.L7Policies()
	items := make([]any, len(ps))
	for i, p := range ps {
		items[i] = p
	}
	h.listOf(w, r, "l7policies", items, L7Policy{Rules: []IDRef{{}}}, nil, nil)
}

func (h *Handler) l7PolicyFor(r *http.Request, write bool) (L7Policy, error) {
	p, err := h.svc.L7Policy(r.PathValue("id"))
	if err != nil {
		return p, err
	}
	return p, authorize(r, p.ProjectID, write)
}

func (h *Handler) getL7Policy(w http.ResponseWriter, r *http.Request) {
	p, err := h.l7PolicyFor(r, false)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.one(w, r, http.StatusOK, "l7policy", p)
}

func (h *Handler) createL7Policy(w http.ResponseWriter, r *http.Request) {
	var p octavia.L7Policy
	if err := decode(r, l7policyPost, &p); err != nil {
		h.fail(w, r, err)
		return
	}
	if p.ListenerID == "" {
		h.fail(w, r, InvalidInput("listener_id", nil, "Mandatory field missing."))
		return
	}
	if !uuidRE.MatchString(p.ListenerID) {
		h.fail(w, r, InvalidInput("listener_id", p.ListenerID, "Value should be UUID format"))
		return
	}
	l, err := h.svc.Listener(p.ListenerID)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if err := authorize(r, l.ProjectID, true); err != nil {
		h.fail(w, r, err)
		return
	}
	out, err := h.svc.CreateL7Policy(r.Context(), &p)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"l7policy": out})
}

func (h *Handler) updateL7Policy(w http.ResponseWriter, r *http.Request) {
	var p Patch
	if err := decode(r, l7policyPut, &p); err != nil {
		h.fail(w, r, err)
		return
	}
	if _, err := h.l7PolicyFor(r, true); err != nil {
		h.fail(w, r, err)
		return
	}
	out, err := h.svc.UpdateL7Policy(r.Context(), r.PathValue("id"), p)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"l7policy": out})
}

func (h *Handler) deleteL7Policy(w http.ResponseWriter, r *http.Request) {
	if _, err := h.l7PolicyFor(r, true); err != nil {
		h.fail(w, r, err)
		return
	}
	if err := h.svc.DeleteL7Policy(r.Context(), r.PathValue("id")); err != nil {
		h.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// policyOfRules is l7PolicyFor on the rules' paths, where Octavia's
// lookup names a missing policy "L7Policy" (controllers/l7policy.py
// _lookup).
func (h *Handler) policyOfRules(r *http.Request, write bool) error {
	_, err := h.l7PolicyFor(r, write)
	if e, ok := err.(*Error); ok && e.Code == http.StatusNotFound {
		return NotFound("L7Policy", r.PathValue("id"))
	}
	return err
}

func (h *Handler) listL7Rules(w http.ResponseWriter, r *http.Request) {
	if err := h.policyOfRules(r, false); err != nil {
		h.fail(w, r, err)
		return
	}
	rs, err := h.svc.L7Rules(r.PathValue("id"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	items := make([]any, len(rs))
	for i, x := range rs {
		items[i] = x
	}
	h.listOf(w, r, "rules", items, L7Rule{}, nil, nil)
}

func (h *Handler) getL7Rule(w http.ResponseWriter, r *http.Request) {
	if err := h.policyOfRules(r, false); err != nil {
		h.fail(w, r, err)
		return
	}
	x, err := h.svc.L7Rule(r.PathValue("id"), r.PathValue("rule"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.one(w, r, http.StatusOK, "rule", x)
}

func (h *Handler) createL7Rule(w http.ResponseWriter, r *http.Request) {
	var x octavia.L7Rule
	if err := decode(r, l7rulePost, &x); err != nil {
		h.fail(w, r, err)
		return
	}
	if err := h.policyOfRules(r, true); err != nil {
		h.fail(w, r, err)
		return
	}
	out, err := h.svc.CreateL7Rule(r.Context(), r.PathValue("id"), &x)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"rule": out})
}

func (h *Handler) updateL7Rule(w http.ResponseWriter, r *http.Request) {
	var p Patch
	if err := decode(r, l7rulePut, &p); err != nil {
		h.fail(w, r, err)
		return
	}
	if err := h.policyOfRules(r, true); err != nil {
		h.fail(w, r, err)
		return
	}
	out, err := h.svc.UpdateL7Rule(r.Context(), r.PathValue("id"), r.PathValue("rule"), p)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"rule": out})
}

func (h *Handler) deleteL7Rule(w http.ResponseWriter, r *http.Request) {
	if err := h.policyOfRules(r, true); err != nil {
		h.fail(w, r, err)
		return
	}
	if err := h.svc.DeleteL7Rule(r.Context(), r.PathValue("id"), r.PathValue("rule")); err != nil {
		h.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
