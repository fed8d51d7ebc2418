package octavia

import "context"

// DataPlane is what the control plane needs from the running data plane.
// proxy.Runtime implements it; it is declared here, on the consumer's side.
type DataPlane interface {
	// Apply makes the data plane serve cfg, the whole desired state in
	// normalized form (see Config.Normalize), in place of what it served
	// before. Unchanged listeners keep their sockets and no established
	// connection is dropped. It returns once the change is live; on error
	// nothing changed.
	Apply(ctx context.Context, cfg *Config) error
	// OperatingStatus reports the live operating_status of the load
	// balancer, listener, pool, member or health monitor with that ID; ok is
	// false when the data plane does not serve such an object.
	OperatingStatus(id string) (status OperatingStatus, ok bool)
	// ListenerStats returns a listener's counters; ok is false for an
	// unknown listener.
	ListenerStats(listenerID string) (stats Stats, ok bool)
}

// Stats are Octavia's listener and load balancer statistics.
type Stats struct {
	BytesIn           int64 `json:"bytes_in"`
	BytesOut          int64 `json:"bytes_out"`
	ActiveConnections int64 `json:"active_connections"`
	TotalConnections  int64 `json:"total_connections"`
	RequestErrors     int64 `json:"request_errors"`
}

// Add sums two sets of statistics, as a load balancer's are the sum of its
// listeners'.
func (s Stats) Add(o Stats) Stats {
	return Stats{
		BytesIn:           s.BytesIn + o.BytesIn,
		BytesOut:          s.BytesOut + o.BytesOut,
		ActiveConnections: s.ActiveConnections + o.ActiveConnections,
		TotalConnections:  s.TotalConnections + o.TotalConnections,
		RequestErrors:     s.RequestErrors + o.RequestErrors,
	}
}
