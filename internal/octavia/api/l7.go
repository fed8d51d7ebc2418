package api

import (
	"encoding/json"
	"io"
	"net/http"
)

// lbd does not serve L7 policies and rules yet. Their endpoints answer as
// Octavia does for a provider that does not implement them: lists are
// empty, an ID names nothing (404), and a create reaches the provider,
// which refuses it with 501 (ProviderNotImplementedError) once the
// listener and the caller's rights are checked.

// L7Policy is an L7 policy as Octavia renders it; lbd has none, so it is
// only the list's filter and sort attributes.
type L7Policy struct {
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
	RedirectHTTPCode   *int      `json:"redirect_http_code"`
	Position           int       `json:"position"`
	Rules              []IDRef   `json:"rules"`
	CreatedAt          Timestamp `json:"created_at"`
	UpdatedAt          Timestamp `json:"updated_at"`
	Tags               []string  `json:"tags"`
}

// l7NotBuilt is the provider's refusal.
func l7NotBuilt(provider, what string) *Error {
	return Errorf(http.StatusNotImplemented, "Provider '%s' does not support a requested action: lbd does not serve %s yet.", provider, what)
}

func (h *Handler) routeL7(p string) {
	h.mux.HandleFunc("GET "+p+"/l7policies", func(w http.ResponseWriter, r *http.Request) {
		h.listOf(w, r, "l7policies", nil, L7Policy{}, nil, nil)
	})
	h.mux.HandleFunc("POST "+p+"/l7policies", h.createL7Policy)
	policyNotFound := func(w http.ResponseWriter, r *http.Request) {
		h.fail(w, r, NotFound(KindL7Policy, r.PathValue("id")))
	}
	for _, m := range []string{"GET", "PUT", "DELETE"} {
		h.mux.HandleFunc(m+" "+p+"/l7policies/{id}", policyNotFound)
		h.mux.HandleFunc(m+" "+p+"/l7policies/{id}/rules/{rule}", policyNotFound)
	}
	h.mux.HandleFunc("GET "+p+"/l7policies/{id}/rules", policyNotFound)
	h.mux.HandleFunc("POST "+p+"/l7policies/{id}/rules", policyNotFound)
}

func (h *Handler) createL7Policy(w http.ResponseWriter, r *http.Request) {
	data, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
	if err != nil {
		h.fail(w, r, Errorf(http.StatusBadRequest, "Request body could not be read: %v", err))
		return
	}
	var doc struct {
		L7Policy *struct {
			ListenerID *string `json:"listener_id"`
		} `json:"l7policy"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		h.fail(w, r, Errorf(http.StatusBadRequest, "Request is not in valid JSON format"))
		return
	}
	if doc.L7Policy == nil {
		h.fail(w, r, InvalidInput("l7policy", nil, "Mandatory field missing."))
		return
	}
	if doc.L7Policy.ListenerID == nil {
		h.fail(w, r, InvalidInput("listener_id", nil, "Mandatory field missing."))
		return
	}
	l, err := h.svc.Listener(*doc.L7Policy.ListenerID)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if err := authorize(r, l.ProjectID, true); err != nil {
		h.fail(w, r, err)
		return
	}
	provider := "amphora"
	if len(l.Loadbalancers) > 0 {
		if lb, err := h.svc.LoadBalancer(l.Loadbalancers[0].ID); err == nil {
			provider = lb.Provider
		}
	}
	h.fail(w, r, l7NotBuilt(provider, "L7 policies"))
}
