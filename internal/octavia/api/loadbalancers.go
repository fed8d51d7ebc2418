package api

import (
	"net/http"
	"strings"

	"lbd/internal/octavia"
	"lbd/internal/octavia/auth"
)

var (
	loadBalancerPost = body{arg: "load_balancer", envelope: "loadbalancer", shape: loadBalancerPostShape}
	loadBalancerPut  = body{arg: "load_balancer", envelope: "loadbalancer", shape: loadBalancerPutShape}
)

func (h *Handler) routeLoadBalancers(p string) {
	h.mux.HandleFunc("GET "+p+"/loadbalancers", h.listLoadBalancers)
	h.mux.HandleFunc("POST "+p+"/loadbalancers", h.createLoadBalancer)
	h.mux.HandleFunc("GET "+p+"/loadbalancers/{id}", h.getLoadBalancer)
	h.mux.HandleFunc("PUT "+p+"/loadbalancers/{id}", h.updateLoadBalancer)
	h.mux.HandleFunc("DELETE "+p+"/loadbalancers/{id}", h.deleteLoadBalancer)
	h.mux.HandleFunc("GET "+p+"/loadbalancers/{id}/status", h.loadBalancerStatus)
	h.mux.HandleFunc("GET "+p+"/loadbalancers/{id}/statuses", h.loadBalancerStatus)
	h.mux.HandleFunc("GET "+p+"/loadbalancers/{id}/stats", h.loadBalancerStats)
	h.mux.HandleFunc("PUT "+p+"/loadbalancers/{id}/failover", h.failoverLoadBalancer)
}

func (h *Handler) listLoadBalancers(w http.ResponseWriter, r *http.Request) {
	lbs := h.svc.LoadBalancers()
	items := make([]any, len(lbs))
	for i, lb := range lbs {
		items[i] = lb
	}
	h.listOf(w, r, "loadbalancers", items, LoadBalancer{}, nil, nil)
}

// loadBalancerFor fetches a load balancer and checks the caller's access.
func (h *Handler) loadBalancerFor(r *http.Request, write bool) (LoadBalancer, error) {
	lb, err := h.svc.LoadBalancer(r.PathValue("id"))
	if err != nil {
		return lb, err
	}
	return lb, authorize(r, lb.ProjectID, write)
}

func (h *Handler) getLoadBalancer(w http.ResponseWriter, r *http.Request) {
	lb, err := h.loadBalancerFor(r, false)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.one(w, r, http.StatusOK, "loadbalancer", lb)
}

func (h *Handler) createLoadBalancer(w http.ResponseWriter, r *http.Request) {
	var lb octavia.LoadBalancer
	if err := decode(r, loadBalancerPost, &lb); err != nil {
		h.fail(w, r, err)
		return
	}
	c := auth.FromContext(r.Context())
	if lb.ProjectID == "" {
		lb.ProjectID = c.ProjectID
	}
	if !c.CanWrite(lb.ProjectID) {
		h.fail(w, r, errForbidden)
		return
	}
	out, err := h.svc.CreateLoadBalancer(r.Context(), &lb)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"loadbalancer": out})
}

func (h *Handler) updateLoadBalancer(w http.ResponseWriter, r *http.Request) {
	var p Patch
	if err := decode(r, loadBalancerPut, &p); err != nil {
		h.fail(w, r, err)
		return
	}
	if _, err := h.loadBalancerFor(r, true); err != nil {
		h.fail(w, r, err)
		return
	}
	out, err := h.svc.UpdateLoadBalancer(r.Context(), r.PathValue("id"), p)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"loadbalancer": out})
}

func (h *Handler) deleteLoadBalancer(w http.ResponseWriter, r *http.Request) {
	if _, err := h.loadBalancerFor(r, true); err != nil {
		h.fail(w, r, err)
		return
	}
	if err := h.svc.DeleteLoadBalancer(r.Context(), r.PathValue("id"), boolParam(r, "cascade")); err != nil {
		h.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *Handler) loadBalancerStatus(w http.ResponseWriter, r *http.Request) {
	if _, err := h.loadBalancerFor(r, false); err != nil {
		h.fail(w, r, err)
		return
	}
	tree, err := h.svc.LoadBalancerStatus(r.PathValue("id"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"statuses": tree})
}

func (h *Handler) loadBalancerStats(w http.ResponseWriter, r *http.Request) {
	if _, err := h.loadBalancerFor(r, false); err != nil {
		h.fail(w, r, err)
		return
	}
	st, err := h.svc.LoadBalancerStats(r.PathValue("id"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"stats": st})
}

// failoverLoadBalancer is admin-only in Octavia's policy.
func (h *Handler) failoverLoadBalancer(w http.ResponseWriter, r *http.Request) {
	if _, err := h.svc.LoadBalancer(r.PathValue("id")); err != nil {
		h.fail(w, r, err)
		return
	}
	if !auth.FromContext(r.Context()).Admin() {
		h.fail(w, r, errForbidden)
		return
	}
	if err := h.svc.FailoverLoadBalancer(r.Context(), r.PathValue("id")); err != nil {
		h.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

// boolParam parses a query flag as oslo's bool_from_string does: true, 1,
// yes, on, y and t (any case) are true, anything else is false.
func boolParam(r *http.Request, name string) bool {
	switch strings.ToLower(strings.TrimSpace(r.URL.Query().Get(name))) {
	case "true", "1", "yes", "on", "y", "t":
		return true
	}
	return false
}
