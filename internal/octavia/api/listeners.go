package api

import (
	"net/http"

	"lbd/internal/octavia"
)

var (
	listenerPost = body{arg: "listener_", envelope: "listener", shape: listenerPostShape}
	listenerPut  = body{arg: "listener_", envelope: "listener", shape: listenerPutShape}
)

func (h *Handler) routeListeners(p string) {
	h.mux.HandleFunc("GET "+p+"/listeners", h.listListeners)
	h.mux.HandleFunc("POST "+p+"/listeners", h.createListener)
	h.mux.HandleFunc("GET "+p+"/listeners/{id}", h.getListener)
	h.mux.HandleFunc("PUT "+p+"/listeners/{id}", h.updateListener)
	h.mux.HandleFunc("DELETE "+p+"/listeners/{id}", h.deleteListener)
	h.mux.HandleFunc("GET "+p+"/listeners/{id}/stats", h.listenerStats)
}

func (h *Handler) listListeners(w http.ResponseWriter, r *http.Request) {
	ls := h.svc.Listeners()
	items := make([]any, len(ls))
	for i, l := range ls {
		items[i] = l
	}
	h.listOf(w, r, "listeners", items, Listener{Loadbalancers: []IDRef{{}}},
		[]string{"loadbalancer_id"}, func(i int) map[string]any {
			return map[string]any{"loadbalancer_id": ls[i].Loadbalancers[0].ID}
		})
}

func (h *Handler) listenerFor(r *http.Request, write bool) (Listener, error) {
	l, err := h.svc.Listener(r.PathValue("id"))
	if err != nil {
		return l, err
	}
	return l, authorize(r, l.ProjectID, write)
}

func (h *Handler) getListener(w http.ResponseWriter, r *http.Request) {
	l, err := h.listenerFor(r, false)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.one(w, r, http.StatusOK, "listener", l)
}

func (h *Handler) createListener(w http.ResponseWriter, r *http.Request) {
	var l octavia.Listener
	if err := decode(r, listenerPost, &l); err != nil {
		h.fail(w, r, err)
		return
	}
	if l.LoadBalancerID == "" {
		h.fail(w, r, InvalidInput("loadbalancer_id", nil, "Mandatory field missing."))
		return
	}
	lb, err := h.svc.LoadBalancer(l.LoadBalancerID)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if err := authorize(r, lb.ProjectID, true); err != nil {
		h.fail(w, r, err)
		return
	}
	out, err := h.svc.CreateListener(r.Context(), &l)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"listener": out})
}

func (h *Handler) updateListener(w http.ResponseWriter, r *http.Request) {
	var p Patch
	if err := decode(r, listenerPut, &p); err != nil {
		h.fail(w, r, err)
		return
	}
	if _, err := h.listenerFor(r, true); err != nil {
		h.fail(w, r, err)
		return
	}
	out, err := h.svc.UpdateListener(r.Context(), r.PathValue("id"), p)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"listener": out})
}

func (h *Handler) deleteListener(w http.ResponseWriter, r *http.Request) {
	if _, err := h.listenerFor(r, true); err != nil {
		h.fail(w, r, err)
		return
	}
	if err := h.svc.DeleteListener(r.Context(), r.PathValue("id")); err != nil {
		h.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *Handler) listenerStats(w http.ResponseWriter, r *http.Request) {
	if _, err := h.listenerFor(r, false); err != nil {
		h.fail(w, r, err)
		return
	}
	st, err := h.svc.ListenerStats(r.PathValue("id"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"stats": st})
}
