package metrics

import (
	"encoding/json"
	"net/http"
	"time"
)

// MemberLoads is the document MembersHandler serves: each pool's members
// with their live load.
type MemberLoads struct {
	Pools []PoolLoad `json:"pools"`
}

// PoolLoad is one pool's members.
type PoolLoad struct {
	ID      string       `json:"id"`
	Name    string       `json:"name"`
	Members []MemberLoad `json:"members"`
}

// MemberLoad is one member as the data plane sees it now.
type MemberLoad struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Address string `json:"address"`
	Weight  int    `json:"weight"`
	// Healthy is the balancer's view: the member's health monitor (or
	// passive ejection) has not taken it out.
	Healthy bool `json:"healthy"`
	// HealthChangedAt is when the health monitor last changed its verdict
	// (or started checking the member); absent without a monitor.
	HealthChangedAt *time.Time `json:"health_changed_at,omitempty"`
	// InFlight is the connections or requests in flight to the member now,
	// queued ones included.
	InFlight int64 `json:"in_flight"`
	// PeakInFlight is the highest InFlight since the previous request to
	// this handler: every pick counts, however rarely it is read.
	PeakInFlight int64 `json:"peak_in_flight"`
}

// MembersHandler serves GET /debug/members on the admin server: every
// pool member's in-flight count now and its peak since the previous
// request, its weight and health, as JSON. Reading resets the peaks, so
// it is meant for one reader at a time (lbctl bench samples lbd with it);
// Prometheus scrapes /metrics, which resets nothing.
func MembersHandler(src Source) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		doc := MemberLoads{Pools: []PoolLoad{}}
		for _, lb := range src.Config().LoadBalancers {
			for _, p := range lb.Pools {
				pl := PoolLoad{ID: p.ID, Name: p.Name, Members: []MemberLoad{}}
				for _, m := range src.PoolMembers(p.ID) {
					ml := MemberLoad{
						ID: m.ID, Name: m.Name, Address: m.Addr.String(), Weight: m.Weight,
						Healthy: m.Healthy(), InFlight: m.Active(), PeakInFlight: m.TakePeakActive(),
					}
					if h, ok := src.MemberHealth(p.ID, m.ID); ok && !h.LastChange.IsZero() {
						at := h.LastChange
						ml.HealthChangedAt = &at
					}
					pl.Members = append(pl.Members, ml)
				}
				doc.Pools = append(doc.Pools, pl)
			}
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		json.NewEncoder(w).Encode(doc)
	})
}
