package api

import (
	"net/http"

	"lbd/internal/octavia"
)

var (
	monitorPost = body{arg: "health_monitor_", envelope: "healthmonitor", shape: monitorPostShape}
	monitorPut  = body{arg: "health_monitor_", envelope: "healthmonitor", shape: monitorPutShape}
)

func (h *Handler) routeMonitors(p string) {
	h.mux.HandleFunc("GET "+p+"/healthmonitors", h.listMonitors)
	h.mux.HandleFunc("POST "+p+"/healthmonitors", h.createMonitor)
	h.mux.HandleFunc("GET "+p+"/healthmonitors/{id}", h.getMonitor)
	h.mux.HandleFunc("PUT "+p+"/healthmonitors/{id}", h.updateMonitor)
	h.mux.HandleFunc("DELETE "+p+"/healthmonitors/{id}", h.deleteMonitor)
}

func (h *Handler) listMonitors(w http.ResponseWriter, r *http.Request) {
	hms := h.svc.HealthMonitors()
	items := make([]any, len(hms))
	for i, hm := range hms {
		items[i] = hm
	}
	h.listOf(w, r, "healthmonitors", items, HealthMonitor{Pools: []IDRef{{}}},
		[]string{"pool_id"}, func(i int) map[string]any {
			return map[string]any{"pool_id": hms[i].Pools[0].ID}
		})
}

func (h *Handler) monitorFor(r *http.Request, write bool) (HealthMonitor, error) {
	hm, err := h.svc.HealthMonitor(r.PathValue("id"))
	if err != nil {
		return hm, err
	}
	return hm, authorize(r, hm.ProjectID, write)
}

func (h *Handler) getMonitor(w http.ResponseWriter, r *http.Request) {
	hm, err := h.monitorFor(r, false)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.one(w, r, http.StatusOK, "healthmonitor", hm)
}

func (h *Handler) createMonitor(w http.ResponseWriter, r *http.Request) {
	var hm octavia.HealthMonitor
	if err := decode(r, monitorPost, &hm); err != nil {
		h.fail(w, r, err)
		return
	}
	if hm.PoolID == "" {
		h.fail(w, r, InvalidInput("pool_id", nil, "Mandatory field missing."))
		return
	}
	if _, err := h.poolFor(r, hm.PoolID, true); err != nil {
		h.fail(w, r, err)
		return
	}
	out, err := h.svc.CreateHealthMonitor(r.Context(), &hm)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"healthmonitor": out})
}

func (h *Handler) updateMonitor(w http.ResponseWriter, r *http.Request) {
	var p Patch
	if err := decode(r, monitorPut, &p); err != nil {
		h.fail(w, r, err)
		return
	}
	if _, err := h.monitorFor(r, true); err != nil {
		h.fail(w, r, err)
		return
	}
	out, err := h.svc.UpdateHealthMonitor(r.Context(), r.PathValue("id"), p)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"healthmonitor": out})
}

func (h *Handler) deleteMonitor(w http.ResponseWriter, r *http.Request) {
	if _, err := h.monitorFor(r, true); err != nil {
		h.fail(w, r, err)
		return
	}
	if err := h.svc.DeleteHealthMonitor(r.Context(), r.PathValue("id")); err != nil {
		h.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
