package api

import (
	"net/http"

	"lbd/internal/octavia"
)

var (
	poolPost = body{arg: "pool_", envelope: "pool", shape: poolPostShape}
	poolPut  = body{arg: "pool_", envelope: "pool", shape: poolPutShape}
)

func (h *Handler) routePools(p string) {
	h.mux.HandleFunc("GET "+p+"/pools", h.listPools)
	h.mux.HandleFunc("POST "+p+"/pools", h.createPool)
	h.mux.HandleFunc("GET "+p+"/pools/{id}", h.getPool)
	h.mux.HandleFunc("PUT "+p+"/pools/{id}", h.updatePool)
	h.mux.HandleFunc("DELETE "+p+"/pools/{id}", h.deletePool)
}

func (h *Handler) listPools(w http.ResponseWriter, r *http.Request) {
	ps := h.svc.Pools()
	items := make([]any, len(ps))
	for i, p := range ps {
		items[i] = p
	}
	h.listOf(w, r, "pools", items, Pool{Loadbalancers: []IDRef{{}}},
		[]string{"loadbalancer_id"}, func(i int) map[string]any {
			if len(ps[i].Loadbalancers) == 0 {
				return map[string]any{"loadbalancer_id": nil}
			}
			return map[string]any{"loadbalancer_id": ps[i].Loadbalancers[0].ID}
		})
}

func (h *Handler) poolFor(r *http.Request, id string, write bool) (Pool, error) {
	p, err := h.svc.Pool(id)
	if err != nil {
		return p, err
	}
	return p, authorize(r, p.ProjectID, write)
}

func (h *Handler) getPool(w http.ResponseWriter, r *http.Request) {
	p, err := h.poolFor(r, r.PathValue("id"), false)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.one(w, r, http.StatusOK, "pool", p)
}

func (h *Handler) createPool(w http.ResponseWriter, r *http.Request) {
	var p octavia.Pool
	if err := decode(r, poolPost, &p); err != nil {
		h.fail(w, r, err)
		return
	}
	var project *string
	switch {
	case p.LoadBalancerID != "":
		lb, err := h.svc.LoadBalancer(p.LoadBalancerID)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		project = lb.ProjectID
	case p.ListenerID != "":
		l, err := h.svc.Listener(p.ListenerID)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		project = l.ProjectID
	default:
		h.fail(w, r, Invalid("Must provide at least one of: loadbalancer_id, listener_id"))
		return
	}
	if err := authorize(r, project, true); err != nil {
		h.fail(w, r, err)
		return
	}
	out, err := h.svc.CreatePool(r.Context(), &p)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"pool": out})
}

func (h *Handler) updatePool(w http.ResponseWriter, r *http.Request) {
	var p Patch
	if err := decode(r, poolPut, &p); err != nil {
		h.fail(w, r, err)
		return
	}
	if _, err := h.poolFor(r, r.PathValue("id"), true); err != nil {
		h.fail(w, r, err)
		return
	}
	out, err := h.svc.UpdatePool(r.Context(), r.PathValue("id"), p)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"pool": out})
}

func (h *Handler) deletePool(w http.ResponseWriter, r *http.Request) {
	if _, err := h.poolFor(r, r.PathValue("id"), true); err != nil {
		h.fail(w, r, err)
		return
	}
	if err := h.svc.DeletePool(r.Context(), r.PathValue("id")); err != nil {
		h.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
