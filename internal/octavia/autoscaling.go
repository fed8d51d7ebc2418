package octavia

import (
	"fmt"
	"net/url"
	"strings"
	"time"
)

// AutoscalingConfig is openstack.autoscaling: how many of openstack.servers
// the load needs, read by `lbctl autoscale`. It is plain data: the
// controller (internal/autoscale) decides the defaults documented on each
// field, and internal/octavia/cloud turns it into the controller's policy.
type AutoscalingConfig struct {
	// Min and Max bound the number of servers.
	Min int `json:"min" yaml:"min"`
	Max int `json:"max" yaml:"max"`
	// Prometheus is the URL of the Prometheus that scrapes the load
	// balancer (lbd's /metrics, or Octavia's PROMETHEUS listener).
	Prometheus string `json:"prometheus" yaml:"prometheus"`
	// Pool is the pool whose traffic is measured; default the pool of
	// servers.members[0].
	Pool string `json:"pool,omitempty" yaml:"pool,omitempty"`
	// Interval is how often the controller decides. Default 15s.
	Interval Duration `json:"interval,omitempty" yaml:"interval,omitempty"`
	// Window is the range the queries' rates and quantiles cover. Default
	// 1m; at least two scrapes.
	Window Duration `json:"window,omitempty" yaml:"window,omitempty"`
	// Tolerance: no change while each metric is within this fraction of its
	// target (Kubernetes' HPA: 0.1).
	Tolerance *float64 `json:"tolerance,omitempty" yaml:"tolerance,omitempty"`
	// Metrics are the targets; at least one.
	Metrics AutoscalingMetrics `json:"metrics" yaml:"metrics"`
	// ScaleOut and ScaleIn shape the two directions.
	ScaleOut ScalingRules `json:"scale_out,omitempty" yaml:"scale_out,omitempty"`
	ScaleIn  ScalingRules `json:"scale_in,omitempty" yaml:"scale_in,omitempty"`
	// DrainTimeout bounds how long a member leaving the pool (weight 0)
	// waits for its connections to end. Default 60s.
	DrainTimeout Duration `json:"drain_timeout,omitempty" yaml:"drain_timeout,omitempty"`
	// HealAfter: a member in ERROR this long has its server replaced (and a
	// server whose member never came ONLINE this long after it was
	// created). Default 2m, as Aodh's member_creation_time.
	HealAfter Duration `json:"heal_after,omitempty" yaml:"heal_after,omitempty"`
}

// AutoscalingMetrics are the targets the count follows, as the HPA's
// metrics: each proposes a count and the largest wins.
type AutoscalingMetrics struct {
	// RequestsPerSecond per member (the pool's HTTP requests).
	RequestsPerSecond float64 `json:"requests_per_second,omitempty" yaml:"requests_per_second,omitempty"`
	// ActiveConnections per member (the members' current sessions).
	ActiveConnections float64 `json:"active_connections,omitempty" yaml:"active_connections,omitempty"`
	// P95Latency of the pool's listener, from lbd's request histogram.
	P95Latency Duration `json:"p95_latency,omitempty" yaml:"p95_latency,omitempty"`
	// CPUPercent: the servers' average CPU utilization, read with
	// CPUQuery (default: node_exporter's on port 9100 of each server).
	CPUPercent float64 `json:"cpu_percent,omitempty" yaml:"cpu_percent,omitempty"`
	CPUQuery   string  `json:"cpu_query,omitempty" yaml:"cpu_query,omitempty"`
}

// ScalingRules shape one direction of scaling.
type ScalingRules struct {
	// Stabilization: the count moves in this direction only as far as every
	// proposal over this window allows (the HPA's stabilization window).
	// Default 0 out, 5m in.
	Stabilization Duration `json:"stabilization,omitempty" yaml:"stabilization,omitempty"`
	// Cooldown: after a change in this direction, none in the same one for
	// this long. Default 30s out, 1m in.
	Cooldown Duration `json:"cooldown,omitempty" yaml:"cooldown,omitempty"`
	// MaxStep is the most servers one decision adds or removes. Default 2
	// out, 1 in.
	MaxStep int `json:"max_step,omitempty" yaml:"max_step,omitempty"`
	// Pick (scale_in only) chooses the server to remove: newest (default)
	// or fewest_connections.
	Pick string `json:"pick,omitempty" yaml:"pick,omitempty"`
}

// Duration is a length of time written with its unit, as Go and Prometheus
// write it ("500ms", "30s", "5m"). Empty means the field's default.
type Duration string

// Value is the duration; 0 when empty or malformed (Validate reports that).
func (d Duration) Value() time.Duration {
	v, err := time.ParseDuration(string(d))
	if err != nil {
		return 0
	}
	return v
}

// Scale-in picks.
const (
	PickNewest            = "newest"
	PickFewestConnections = "fewest_connections"
)

func checkDuration(p *problems, path string, d Duration, minimum time.Duration) {
	if d == "" {
		return
	}
	v, err := time.ParseDuration(string(d))
	switch {
	case err != nil:
		p.add(path, string(d), "must be a duration with its unit, such as 500ms, 30s or 5m")
	case v < minimum:
		p.add(path, string(d), "must be at least %s", minimum)
	}
}

func (a *AutoscalingConfig) validate(p *problems, path string, o *OpenStackConfig) {
	if a.Min < 1 {
		p.add(path+".min", a.Min, "must be at least 1 (a pool without members cannot measure its load)")
	}
	switch {
	case a.Max < 1 || a.Max > 100:
		p.add(path+".max", a.Max, "must be between 1 and 100")
	case a.Max < a.Min:
		p.add(path+".max", a.Max, "must be at least min (%d)", a.Min)
	}
	if a.Prometheus == "" {
		p.missing(path + ".prometheus")
	} else if u, err := url.Parse(a.Prometheus); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		p.add(path+".prometheus", a.Prometheus, "must be an http:// or https:// URL, such as http://127.0.0.1:9090")
	}
	srv := o.Servers
	switch {
	case srv == nil:
		p.add(path, nil, "needs openstack.servers: the servers it adds and removes are made from that template")
	case len(srv.Members) == 0:
		p.add(path, nil, "needs openstack.servers.members: the pool the servers join")
	case a.Pool != "":
		found := false
		for _, m := range srv.Members {
			found = found || m.Pool == a.Pool
		}
		if !found {
			p.add(path+".pool", a.Pool, "must be a pool of openstack.servers.members")
		}
	}
	if srv != nil && srv.Count != 0 {
		p.add("openstack.servers.count", srv.Count, "is decided by openstack.autoscaling (between min and max): remove it")
	}
	if srv != nil {
		for i, m := range srv.Members {
			if m.Weight != nil && *m.Weight == 0 {
				p.add(fmt.Sprintf("openstack.servers.members[%d].weight", i), 0, "must be between 1 and 256 with autoscaling (weight 0 is how it drains a member)")
			}
		}
	}
	if srv != nil && !strings.Contains(srv.Name, "%d") {
		p.add("openstack.servers.name", srv.Name, "must contain %d with autoscaling (Server%d gives Server1, Server2, ...)")
	}
	checkDuration(p, path+".interval", a.Interval, 100*time.Millisecond)
	checkDuration(p, path+".window", a.Window, time.Second)
	checkDuration(p, path+".drain_timeout", a.DrainTimeout, 0)
	checkDuration(p, path+".heal_after", a.HealAfter, 0)
	if a.Tolerance != nil && (*a.Tolerance < 0 || *a.Tolerance >= 1) {
		p.add(path+".tolerance", *a.Tolerance, "must be at least 0 and less than 1 (0.1: ±10% of the target)")
	}
	m, mpath := a.Metrics, path+".metrics"
	if m.RequestsPerSecond == 0 && m.ActiveConnections == 0 && m.P95Latency == "" && m.CPUPercent == 0 {
		p.add(mpath, nil, "needs at least one target: requests_per_second, active_connections, p95_latency or cpu_percent")
	}
	for _, f := range []struct {
		name string
		v    float64
	}{{"requests_per_second", m.RequestsPerSecond}, {"active_connections", m.ActiveConnections}, {"cpu_percent", m.CPUPercent}} {
		if f.v < 0 {
			p.add(mpath+"."+f.name, f.v, "must be positive")
		}
	}
	if m.CPUPercent > 100 {
		p.add(mpath+".cpu_percent", m.CPUPercent, "must be at most 100")
	}
	checkDuration(p, mpath+".p95_latency", m.P95Latency, time.Millisecond)
	if m.CPUQuery != "" && m.CPUPercent == 0 {
		p.add(mpath+".cpu_query", m.CPUQuery, "is used only with cpu_percent")
	}
	for _, r := range []struct {
		name string
		s    ScalingRules
	}{{"scale_out", a.ScaleOut}, {"scale_in", a.ScaleIn}} {
		rpath := path + "." + r.name
		checkDuration(p, rpath+".stabilization", r.s.Stabilization, 0)
		checkDuration(p, rpath+".cooldown", r.s.Cooldown, 0)
		if r.s.MaxStep < 0 || r.s.MaxStep > 100 {
			p.add(rpath+".max_step", r.s.MaxStep, "must be between 1 and 100")
		}
		switch {
		case r.s.Pick == "":
		case r.name == "scale_out":
			p.add(rpath+".pick", r.s.Pick, "applies to scale_in only")
		case r.s.Pick != PickNewest && r.s.Pick != PickFewestConnections:
			p.add(rpath+".pick", r.s.Pick, "must be %s or %s", PickNewest, PickFewestConnections)
		}
	}
}
