package ha

import (
	"context"
	"fmt"
	"net/http"

	"lbd/internal/octavia"
)

// DataPlane is the runtime as the control plane drives it on a node: each
// Apply also configures keepalived for the ACTIVE_STANDBY load balancers
// (checked before the runtime changes; if keepalived then cannot run it,
// the runtime goes back to what it served and the error names the fix),
// and operating statuses are the worst of this instance's and the other
// live instances' reports.
func (n *Node) DataPlane() octavia.DataPlane { return dataPlane{n} }

type dataPlane struct{ n *Node }

func (d dataPlane) Apply(ctx context.Context, cfg *octavia.Config) error {
	n := d.n
	n.applyMu.Lock()
	defer n.applyMu.Unlock()
	if n.vrrp == nil {
		for _, lb := range cfg.LoadBalancers {
			if lb.ActiveStandby() && !n.warned[lb.ID] {
				n.warned[lb.ID] = true
				n.log.Warn("load balancer is ACTIVE_STANDBY but this instance runs no keepalived: its VIP is bound but nothing brings it here (set --vrrp-interface)",
					"loadbalancer_id", lb.ID, "name", lb.Name, "vip_address", lb.VIPAddress)
			}
		}
		if err := n.rt.Apply(ctx, cfg); err != nil {
			return err
		}
		n.cfg.Store(cfg)
		return nil
	}
	conf := n.keepalivedConf(cfg)
	changed := string(conf) != string(n.vrrp.conf)
	if changed {
		if err := n.vrrp.proc.Check(ctx, conf); err != nil {
			return err
		}
	}
	prev := n.cfg.Load()
	if err := n.rt.Apply(ctx, cfg); err != nil {
		return err
	}
	n.cfg.Store(cfg)
	if !changed {
		return nil
	}
	if err := n.configureVRRP(ctx, conf); err != nil {
		if prev == nil {
			prev = &octavia.Config{}
		}
		if rerr := n.rt.Apply(ctx, prev); rerr == nil {
			n.cfg.Store(prev)
		}
		return fmt.Errorf("VRRP for the ACTIVE_STANDBY load balancers: %w", err)
	}
	return nil
}

func (d dataPlane) OperatingStatus(id string) (octavia.OperatingStatus, bool) {
	s, ok := d.n.rt.OperatingStatus(id)
	if !ok {
		return s, false
	}
	return d.n.merged(id, s), true
}

func (d dataPlane) ListenerStats(id string) (octavia.Stats, bool) { return d.n.rt.ListenerStats(id) }

// ServeVRRPCheck answers keepalived's check script (lbd vrrp-check): 200
// when every enabled listener of the enabled ACTIVE_STANDBY load balancers
// is served here, 503 naming the first that is not. A MASTER whose
// listeners are down goes to FAULT and gives the VIPs up.
func (n *Node) ServeVRRPCheck(w http.ResponseWriter, _ *http.Request) {
	cfg := n.cfg.Load()
	if cfg == nil {
		http.Error(w, "not started: no configuration applied yet", http.StatusServiceUnavailable)
		return
	}
	for _, lb := range cfg.LoadBalancers {
		if !lb.ActiveStandby() || !lb.Enabled() {
			continue
		}
		for _, l := range lb.Listeners {
			if !l.Enabled() {
				continue
			}
			if _, ok := n.rt.ListenerStats(l.ID); !ok {
				http.Error(w, fmt.Sprintf("listener %s (%s) of load balancer %s is not served", l.ID, l.Name, lb.ID), http.StatusServiceUnavailable)
				return
			}
		}
	}
	fmt.Fprintln(w, "ok")
}
