package api

import (
	"context"
	"net/http"

	"lbd/internal/octavia/auth"
)

// Amphorae is the part of Service behind /v2/octavia/amphorae, Octavia's
// administrators' view of the machines that serve load balancers
// (octavia/api/v2/controllers/amphora.py). Every endpoint is for
// administrators only.
type Amphorae interface {
	Amphorae() []Amphora
	Amphora(id string) (Amphora, error)
	// AmphoraStats is one entry per listener the amphora serves.
	AmphoraStats(id string) ([]AmphoraStats, error)
	// FailoverAmphora replaces the amphora (a new one, with a new ID).
	FailoverAmphora(ctx context.Context, id string) error
	// ConfigureAmphora pushes the agent configuration again.
	ConfigureAmphora(ctx context.Context, id string) error
	// DeleteAmphora deletes a spare or failed amphora; one serving a load
	// balancer is refused.
	DeleteAmphora(ctx context.Context, id string) error
}

// Amphora is an amphora as Octavia 11 renders it.
type Amphora struct {
	ID             string    `json:"id"`
	LoadBalancerID *string   `json:"loadbalancer_id"`
	ComputeID      *string   `json:"compute_id"`
	LBNetworkIP    *string   `json:"lb_network_ip"`
	VRRPIP         *string   `json:"vrrp_ip"`
	HAIP           *string   `json:"ha_ip"`
	VRRPPortID     *string   `json:"vrrp_port_id"`
	HAPortID       *string   `json:"ha_port_id"`
	CertExpiration Timestamp `json:"cert_expiration"`
	CertBusy       bool      `json:"cert_busy"`
	Role           *string   `json:"role"`
	Status         string    `json:"status"`
	VRRPInterface  *string   `json:"vrrp_interface"`
	VRRPID         *int      `json:"vrrp_id"`
	VRRPPriority   *int      `json:"vrrp_priority"`
	CachedZone     *string   `json:"cached_zone"`
	CreatedAt      Timestamp `json:"created_at"`
	UpdatedAt      Timestamp `json:"updated_at"`
	ImageID        *string   `json:"image_id"`
	ComputeFlavor  *string   `json:"compute_flavor"`
}

// AmphoraStats is one listener's counters on an amphora.
type AmphoraStats struct {
	ActiveConnections int64  `json:"active_connections"`
	BytesIn           int64  `json:"bytes_in"`
	BytesOut          int64  `json:"bytes_out"`
	ID                string `json:"id"`
	ListenerID        string `json:"listener_id"`
	LoadBalancerID    string `json:"loadbalancer_id"`
	RequestErrors     int64  `json:"request_errors"`
	TotalConnections  int64  `json:"total_connections"`
}

func (h *Handler) routeAmphorae(p string) {
	h.mux.HandleFunc("GET "+p+"/amphorae", func(w http.ResponseWriter, r *http.Request) {
		if err := adminOnly(r); err != nil {
			h.fail(w, r, err)
			return
		}
		h.writeList(w, r, r.URL.Query(), listSpec{key: "amphorae", links: "amphorae_links", sample: Amphora{}, defaults: defaultSort},
			anys(h.svc.Amphorae()))
	})
	h.mux.HandleFunc("GET "+p+"/amphorae/{id}", func(w http.ResponseWriter, r *http.Request) {
		a, err := h.svc.Amphora(r.PathValue("id"))
		if err == nil {
			err = adminOnly(r)
		}
		if err != nil {
			h.fail(w, r, err)
			return
		}
		h.one(w, r, http.StatusOK, "amphora", a)
	})
	h.mux.HandleFunc("GET "+p+"/amphorae/{id}/stats", func(w http.ResponseWriter, r *http.Request) {
		if err := adminOnly(r); err != nil {
			h.fail(w, r, err)
			return
		}
		st, err := h.svc.AmphoraStats(r.PathValue("id"))
		if err != nil {
			h.fail(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"amphora_stats": st})
	})
	h.mux.HandleFunc("DELETE "+p+"/amphorae/{id}", func(w http.ResponseWriter, r *http.Request) {
		if err := adminOnly(r); err != nil {
			h.fail(w, r, err)
			return
		}
		if err := h.svc.DeleteAmphora(r.Context(), r.PathValue("id")); err != nil {
			h.fail(w, r, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	for _, action := range []struct {
		path string
		do   func(context.Context, string) error
	}{{"failover", h.svc.FailoverAmphora}, {"config", h.svc.ConfigureAmphora}} {
		h.mux.HandleFunc("PUT "+p+"/amphorae/{id}/"+action.path, func(w http.ResponseWriter, r *http.Request) {
			// Octavia looks the amphora up before checking the policy.
			_, err := h.svc.Amphora(r.PathValue("id"))
			if err == nil {
				err = adminOnly(r)
			}
			if err == nil {
				err = action.do(r.Context(), r.PathValue("id"))
			}
			if err != nil {
				h.fail(w, r, err)
				return
			}
			w.WriteHeader(http.StatusAccepted)
		})
	}
}

// adminOnly is load-balancer:admin.
func adminOnly(r *http.Request) error {
	if auth.FromContext(r.Context()).Admin() {
		return nil
	}
	return errForbidden
}
