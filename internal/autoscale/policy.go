package autoscale

import (
	"fmt"
	"math"
	"time"

	"lbd/internal/octavia"
)

// Metric names one measured quantity a target can be set on.
type Metric string

// The metrics a policy can target.
const (
	// RequestsPerSecond is the pool's HTTP requests per second, divided
	// among the members (an average value: the proposal is total/target).
	RequestsPerSecond Metric = "requests_per_second"
	// ActiveConnections is the members' current sessions, divided among
	// them (an average value).
	ActiveConnections Metric = "active_connections"
	// P95Latency is the listener's 95th percentile request duration in
	// seconds (a value: the proposal is ready × value/target).
	P95Latency Metric = "p95_latency"
	// CPUPercent is the servers' average CPU utilization (a value).
	CPUPercent Metric = "cpu_percent"
)

// Metrics lists every metric in the order decisions report them.
var Metrics = []Metric{RequestsPerSecond, ActiveConnections, P95Latency, CPUPercent}

// perMember reports whether the metric is a total shared by the members
// (the HPA's AverageValue target) rather than a value each ready member
// sees (the HPA's Value and Utilization targets).
func (m Metric) perMember() bool { return m == RequestsPerSecond || m == ActiveConnections }

// Format renders a value of the metric with its unit.
func (m Metric) Format(v float64) string {
	switch m {
	case P95Latency:
		return fmt.Sprintf("%.0fms", v*1000)
	case CPUPercent:
		return fmt.Sprintf("%.0f%%", v)
	case RequestsPerSecond:
		return fmt.Sprintf("%.1f/s", v)
	}
	return fmt.Sprintf("%.1f", v)
}

// Target is one metric's target: per member for RequestsPerSecond and
// ActiveConnections, for the whole pool otherwise.
type Target struct {
	Metric Metric
	Value  float64
}

// Rules shape one direction of scaling.
type Rules struct {
	// Stabilization: the count moves in this direction only as far as
	// every proposal within this window allows.
	Stabilization time.Duration
	// Cooldown: after a change in this direction, none in the same one for
	// this long.
	Cooldown time.Duration
	// MaxStep is the most servers one decision adds or removes.
	MaxStep int
}

// Policy is what a group's autoscaling asks: the bounds, the targets and
// how fast to move. Build it with NewPolicy, which fills the defaults.
type Policy struct {
	Min, Max  int
	Tolerance float64
	Targets   []Target
	Out, In   Rules
	// Pick chooses the server a scale-in removes: octavia.PickNewest or
	// octavia.PickFewestConnections.
	Pick string
	// Interval is how often the controller decides; Window the range of
	// the queries' rates and quantiles.
	Interval, Window time.Duration
	// DrainTimeout bounds the wait for a drained member's connections.
	DrainTimeout time.Duration
	// HealAfter: a member in ERROR this long (and at least this old) has
	// its server replaced.
	HealAfter time.Duration
	// Prometheus is the URL of the Prometheus that scrapes the pool.
	Prometheus string
	// Pool is the pool whose traffic is measured.
	Pool string
	// CPUQuery is the PromQL of CPUPercent.
	CPUQuery string
}

// The defaults, as documented on octavia.AutoscalingConfig.
const (
	DefaultTolerance    = 0.1
	DefaultInterval     = 15 * time.Second
	DefaultWindow       = time.Minute
	DefaultDrainTimeout = time.Minute
	DefaultHealAfter    = 2 * time.Minute
	// DefaultCPUQuery reads node_exporter on port 9100 of each server:
	// $addresses is replaced by the servers' addresses as a regular
	// expression's alternatives, $window by the window.
	DefaultCPUQuery = `100 * (1 - avg(rate(node_cpu_seconds_total{mode="idle",instance=~"($addresses):9100"}[$window])))`
)

// DefaultOut and DefaultIn are the rules when the file gives none: out at
// once, two at a time, then wait 30 s; in only after 5 minutes of lower
// proposals, one at a time, a minute apart.
var (
	DefaultOut = Rules{Stabilization: 0, Cooldown: 30 * time.Second, MaxStep: 2}
	DefaultIn  = Rules{Stabilization: 5 * time.Minute, Cooldown: time.Minute, MaxStep: 1}
)

// NewPolicy is the policy of a validated openstack.autoscaling section;
// pool defaults to the servers' first pool (firstPool).
func NewPolicy(a *octavia.AutoscalingConfig, firstPool string) Policy {
	p := Policy{
		Min: a.Min, Max: a.Max, Tolerance: DefaultTolerance,
		Interval: or(a.Interval.Value(), DefaultInterval), Window: or(a.Window.Value(), DefaultWindow),
		DrainTimeout: or(a.DrainTimeout.Value(), DefaultDrainTimeout), HealAfter: or(a.HealAfter.Value(), DefaultHealAfter),
		Prometheus: a.Prometheus, Pool: a.Pool, Pick: a.ScaleIn.Pick,
		Out: rules(a.ScaleOut, DefaultOut), In: rules(a.ScaleIn, DefaultIn),
	}
	if a.Tolerance != nil {
		p.Tolerance = *a.Tolerance
	}
	if p.Pool == "" {
		p.Pool = firstPool
	}
	if p.Pick == "" {
		p.Pick = octavia.PickNewest
	}
	m := a.Metrics
	if m.RequestsPerSecond > 0 {
		p.Targets = append(p.Targets, Target{RequestsPerSecond, m.RequestsPerSecond})
	}
	if m.ActiveConnections > 0 {
		p.Targets = append(p.Targets, Target{ActiveConnections, m.ActiveConnections})
	}
	if d := m.P95Latency.Value(); d > 0 {
		p.Targets = append(p.Targets, Target{P95Latency, d.Seconds()})
	}
	if m.CPUPercent > 0 {
		p.Targets = append(p.Targets, Target{CPUPercent, m.CPUPercent})
		p.CPUQuery = m.CPUQuery
		if p.CPUQuery == "" {
			p.CPUQuery = DefaultCPUQuery
		}
	}
	return p
}

// rules fills what the file left out of r from def. Durations given as
// "0s" stay 0: only an absent field takes the default.
func rules(r octavia.ScalingRules, def Rules) Rules {
	out := def
	if r.Stabilization != "" {
		out.Stabilization = r.Stabilization.Value()
	}
	if r.Cooldown != "" {
		out.Cooldown = r.Cooldown.Value()
	}
	if r.MaxStep > 0 {
		out.MaxStep = r.MaxStep
	}
	return out
}

func or(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// Target returns the target of metric m, if the policy has one.
func (p Policy) Target(m Metric) (float64, bool) {
	for _, t := range p.Targets {
		if t.Metric == m {
			return t.Value, true
		}
	}
	return 0, false
}

// ceil is math.Ceil for counts, with a little slack so that 2.0000000001
// (float noise) is 2, as the HPA does.
func ceil(x float64) int { return int(math.Ceil(x - 1e-9)) }
