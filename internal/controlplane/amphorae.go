package controlplane

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net"
	"net/http"
	"time"

	"lbd/internal/octavia"
	"lbd/internal/octavia/api"
)

// Amphorae: lbd serves every load balancer itself, so it reports one
// amphora per load balancer, STANDALONE and ALLOCATED, as Octavia's SINGLE
// topology does. An ACTIVE_STANDBY load balancer on instances sharing the
// state (Options.Instances) has one amphora per instance, MASTER or
// BACKUP as its keepalived is, with its VRRP address and priority (see
// instanceAmphora). Its ID derives from the load balancer's until a failover
// gives it a fresh one, kept in the load balancer's bookkeeping (meta), so
// an amphora keeps its ID across restarts and a failover changes it, as in
// Octavia. Its compute and VRRP port IDs derive from its ID; its HA port is
// the load balancer's VIP port, which a failover keeps.

type amphora struct {
	ID, ComputeID, VRRPPortID string
	CreatedAt                 time.Time
}

// derivedID is a UUID (version 8, name-based) from an ID and a purpose,
// stable across restarts.
func derivedID(id, purpose string) string {
	sum := sha256.Sum256([]byte("lbd amphora\x00" + id + "\x00" + purpose))
	u := sum[:16]
	u[6] = (u[6] & 0x0f) | 0x80
	u[8] = (u[8] & 0x3f) | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}

// amphoraOf is the load balancer's amphora. Callers hold cp.mu.
func (cp *ControlPlane) amphoraOf(lb *octavia.LoadBalancer) amphora {
	m := cp.metaOf(lb.ID)
	a := amphora{ID: m.AmphoraID, CreatedAt: m.AmphoraCreatedAt}
	if a.ID == "" {
		a = amphora{ID: derivedID(lb.ID, "amphora"), CreatedAt: m.CreatedAt}
	}
	a.ComputeID, a.VRRPPortID = derivedID(a.ID, "compute"), derivedID(a.ID, "vrrp_port")
	return a
}

func (cp *ControlPlane) amphoraView(lb *octavia.LoadBalancer) api.Amphora {
	a := cp.amphoraOf(lb)
	m := cp.metaOf(lb.ID)
	updated := m.UpdatedAt
	if updated.Before(a.CreatedAt) {
		updated = a.CreatedAt
	}
	var mgmt *string
	if host, _, err := net.SplitHostPort(cp.opts.APIAddr); err == nil && host != "" {
		mgmt = &host // where lbd, the amphora, is managed
	}
	role, one, haPort := "STANDALONE", 1, vipPort(lb)
	return api.Amphora{
		ID:             a.ID,
		LoadBalancerID: &lb.ID,
		ComputeID:      &a.ComputeID,
		LBNetworkIP:    mgmt,
		VRRPIP:         api.Nullable(lb.VIPAddress),
		HAIP:           api.Nullable(lb.VIPAddress),
		VRRPPortID:     &a.VRRPPortID,
		HAPortID:       &haPort,
		CertExpiration: api.Timestamp(a.CreatedAt.AddDate(2, 0, 0)),
		Role:           &role,
		Status:         "ALLOCATED",
		VRRPID:         &one,
		CachedZone:     api.Nullable(lb.AvailabilityZone),
		CreatedAt:      api.Timestamp(a.CreatedAt),
		UpdatedAt:      api.Timestamp(updated),
	}
}

// Instance is an lbd instance sharing the state, as internal/ha reports
// it.
type Instance struct {
	Name    string
	APIAddr string
	// Role is MASTER, BACKUP or STANDALONE: the live VRRP state.
	Role          string
	VRRPIP        string
	VRRPInterface string
	VRRPPriority  int
	// Alive: it reported within the heartbeat timeout.
	Alive bool
}

// amphoraeOf are the load balancer's amphorae: one per instance for an
// ACTIVE_STANDBY load balancer on instances sharing the state, else one.
// Callers hold cp.mu.
func (cp *ControlPlane) amphoraeOf(lb *octavia.LoadBalancer, instances []Instance) []api.Amphora {
	one := cp.amphoraView(lb)
	if !lb.ActiveStandby() {
		return []api.Amphora{one}
	}
	var out []api.Amphora
	for _, in := range instances {
		if in.VRRPIP != "" { // an instance without keepalived holds no VIP
			out = append(out, instanceAmphora(one, in))
		}
	}
	if len(out) == 0 {
		return []api.Amphora{one}
	}
	return out
}

// instanceAmphora is an instance as an amphora of an ACTIVE_STANDBY load
// balancer whose single amphora view is base: its IDs derive from base's
// and the instance's name (a failover of the load balancer changes them
// all, as Octavia replaces both amphorae), its role is the live one, its
// vrrp_ip the instance's, its lb_network_ip where the instance's API
// listens. An instance that stopped reporting is ERROR.
func instanceAmphora(base api.Amphora, in Instance) api.Amphora {
	a := base
	a.ID = derivedID(base.ID, "instance "+in.Name)
	compute, port := derivedID(a.ID, "compute"), derivedID(a.ID, "vrrp_port")
	a.ComputeID, a.VRRPPortID = &compute, &port
	role := in.Role
	if role != "MASTER" {
		role = "BACKUP"
	}
	a.Role = &role
	a.VRRPIP = api.Nullable(in.VRRPIP)
	a.VRRPInterface = api.Nullable(in.VRRPInterface)
	if in.VRRPPriority > 0 {
		p := in.VRRPPriority
		a.VRRPPriority = &p
	}
	if host, _, err := net.SplitHostPort(in.APIAddr); err == nil && host != "" {
		a.LBNetworkIP = &host
	}
	if !in.Alive {
		a.Status = "ERROR"
	}
	return a
}

// instances lists the instances sharing the state (none without).
func (cp *ControlPlane) instances() []Instance {
	if cp.opts.Instances == nil {
		return nil
	}
	return cp.opts.Instances()
}

// lbOfAmphora finds the load balancer an amphora serves, and the amphora.
// Callers hold cp.mu.
func (cp *ControlPlane) lbOfAmphora(id string, instances []Instance) (*octavia.LoadBalancer, api.Amphora) {
	for _, lb := range cp.st.LoadBalancers {
		for _, a := range cp.amphoraeOf(lb, instances) {
			if a.ID == id {
				return lb, a
			}
		}
	}
	return nil, api.Amphora{}
}

// Amphorae implements api.Amphorae.
func (cp *ControlPlane) Amphorae() []api.Amphora {
	instances := cp.instances()
	cp.mu.Lock()
	defer cp.mu.Unlock()
	out := make([]api.Amphora, 0, len(cp.st.LoadBalancers))
	for _, lb := range cp.st.LoadBalancers {
		out = append(out, cp.amphoraeOf(lb, instances)...)
	}
	return out
}

// Amphora implements api.Amphorae.
func (cp *ControlPlane) Amphora(id string) (api.Amphora, error) {
	instances := cp.instances()
	cp.mu.Lock()
	defer cp.mu.Unlock()
	lb, a := cp.lbOfAmphora(id, instances)
	if lb == nil {
		return api.Amphora{}, api.NotFound(api.KindAmphora, id)
	}
	return a, nil
}

// AmphoraStats implements api.Amphorae: the counters of the load
// balancer's listeners.
func (cp *ControlPlane) AmphoraStats(id string) ([]api.AmphoraStats, error) {
	instances := cp.instances()
	cp.mu.Lock()
	defer cp.mu.Unlock()
	lb, _ := cp.lbOfAmphora(id, instances)
	var out []api.AmphoraStats
	if lb != nil {
		for _, l := range lb.Listeners {
			s, ok := cp.dp.ListenerStats(l.ID)
			if !ok {
				continue
			}
			out = append(out, api.AmphoraStats{ID: id, ListenerID: l.ID, LoadBalancerID: lb.ID,
				ActiveConnections: s.ActiveConnections, BytesIn: s.BytesIn, BytesOut: s.BytesOut,
				RequestErrors: s.RequestErrors, TotalConnections: s.TotalConnections})
		}
	}
	if len(out) == 0 {
		return nil, api.NotFound("Amphora stats for", id)
	}
	return out, nil
}

// FailoverAmphora implements api.Amphorae: a failover of the amphora's
// load balancer.
func (cp *ControlPlane) FailoverAmphora(ctx context.Context, id string) error {
	instances := cp.instances()
	cp.mu.Lock()
	lb, _ := cp.lbOfAmphora(id, instances)
	cp.mu.Unlock()
	if lb == nil {
		return api.NotFound(api.KindAmphora, id)
	}
	return cp.FailoverLoadBalancer(ctx, lb.ID)
}

// ConfigureAmphora implements api.Amphorae. lbd's agent configuration is
// its own flags: nothing to push.
func (cp *ControlPlane) ConfigureAmphora(_ context.Context, id string) error {
	_, err := cp.Amphora(id)
	return err
}

// DeleteAmphora implements api.Amphorae. Octavia deletes only spare
// (READY) or failed (ERROR) amphorae; lbd's all serve a load balancer.
func (cp *ControlPlane) DeleteAmphora(_ context.Context, id string) error {
	if _, err := cp.Amphora(id); err != nil {
		return err
	}
	return api.Errorf(http.StatusConflict, "amphora %s is immutable and cannot be updated.", id)
}
