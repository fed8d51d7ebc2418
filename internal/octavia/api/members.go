package api

import (
	"net/http"

	"lbd/internal/octavia"
)

var (
	memberPost  = body{arg: "member_", envelope: "member", shape: memberPostShape}
	memberPut   = body{arg: "member_", envelope: "member", shape: memberPutShape}
	membersPut  = body{arg: "members_", envelope: "members", shape: memberPostShape, list: true}
	emptyMember = Member{}
)

func (h *Handler) routeMembers(p string) {
	h.mux.HandleFunc("GET "+p+"/pools/{pool}/members", h.listMembers)
	h.mux.HandleFunc("POST "+p+"/pools/{pool}/members", h.createMember)
	h.mux.HandleFunc("PUT "+p+"/pools/{pool}/members", h.replaceMembers)
	h.mux.HandleFunc("GET "+p+"/pools/{pool}/members/{id}", h.getMember)
	h.mux.HandleFunc("PUT "+p+"/pools/{pool}/members/{id}", h.updateMember)
	h.mux.HandleFunc("DELETE "+p+"/pools/{pool}/members/{id}", h.deleteMember)
}

func (h *Handler) listMembers(w http.ResponseWriter, r *http.Request) {
	if _, err := h.poolFor(r, r.PathValue("pool"), false); err != nil {
		h.fail(w, r, err)
		return
	}
	ms, err := h.svc.Members(r.PathValue("pool"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	items := make([]any, len(ms))
	for i, m := range ms {
		items[i] = m
	}
	h.listOf(w, r, "members", items, emptyMember, nil, nil)
}

func (h *Handler) getMember(w http.ResponseWriter, r *http.Request) {
	if _, err := h.poolFor(r, r.PathValue("pool"), false); err != nil {
		h.fail(w, r, err)
		return
	}
	m, err := h.svc.Member(r.PathValue("pool"), r.PathValue("id"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.one(w, r, http.StatusOK, "member", m)
}

func (h *Handler) createMember(w http.ResponseWriter, r *http.Request) {
	var m octavia.Member
	if err := decode(r, memberPost, &m); err != nil {
		h.fail(w, r, err)
		return
	}
	if _, err := h.poolFor(r, r.PathValue("pool"), true); err != nil {
		h.fail(w, r, err)
		return
	}
	out, err := h.svc.CreateMember(r.Context(), r.PathValue("pool"), &m)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"member": out})
}

func (h *Handler) updateMember(w http.ResponseWriter, r *http.Request) {
	var p Patch
	if err := decode(r, memberPut, &p); err != nil {
		h.fail(w, r, err)
		return
	}
	if _, err := h.poolFor(r, r.PathValue("pool"), true); err != nil {
		h.fail(w, r, err)
		return
	}
	out, err := h.svc.UpdateMember(r.Context(), r.PathValue("pool"), r.PathValue("id"), p)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"member": out})
}

func (h *Handler) deleteMember(w http.ResponseWriter, r *http.Request) {
	if _, err := h.poolFor(r, r.PathValue("pool"), true); err != nil {
		h.fail(w, r, err)
		return
	}
	if err := h.svc.DeleteMember(r.Context(), r.PathValue("pool"), r.PathValue("id")); err != nil {
		h.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *Handler) replaceMembers(w http.ResponseWriter, r *http.Request) {
	var ms []*octavia.Member
	if err := decode(r, membersPut, &ms); err != nil {
		h.fail(w, r, err)
		return
	}
	if _, err := h.poolFor(r, r.PathValue("pool"), true); err != nil {
		h.fail(w, r, err)
		return
	}
	if err := h.svc.ReplaceMembers(r.Context(), r.PathValue("pool"), ms, boolParam(r, "additive_only")); err != nil {
		h.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusAccepted)
}
