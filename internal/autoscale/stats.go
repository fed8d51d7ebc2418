package autoscale

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Stats is the controller's own /metrics: the counts it sees and wants,
// its decisions by reason, its actions and errors, and the metrics it
// reads with their targets. Every series carries the group's name.
type Stats struct {
	reg       *prometheus.Registry
	current   prometheus.Gauge
	ready     prometheus.Gauge
	desired   prometheus.Gauge
	phases    *prometheus.GaugeVec
	decisions *prometheus.CounterVec
	actions   *prometheus.CounterVec
	errors    *prometheus.CounterVec
	value     *prometheus.GaugeVec
	target    *prometheus.GaugeVec
	lastTime  prometheus.Gauge
	lock      prometheus.Gauge
	bounds    *prometheus.GaugeVec
}

// NewStats registers the controller's series for group.
func NewStats(group string) *Stats {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	f := promautoFactory{reg: reg, labels: prometheus.Labels{"group": group}}
	s := &Stats{
		reg:       reg,
		current:   f.gauge("lbctl_autoscale_current_servers", "Servers that count: booting, warming or serving, neither draining nor broken."),
		ready:     f.gauge("lbctl_autoscale_ready_servers", "Servers whose members are all ONLINE."),
		desired:   f.gauge("lbctl_autoscale_desired_servers", "The count the last decision asked for."),
		phases:    f.gaugeVec("lbctl_autoscale_servers", "Servers of the group by phase (booting, warming, serving, draining, broken, deleting).", "phase"),
		decisions: f.counterVec("lbctl_autoscale_decisions_total", "Decisions by reason (scale_out, scale_in, steady, no_data, partial_data, stabilizing, cooldown, at_max, at_min, below_min, above_max).", "reason"),
		actions:   f.counterVec("lbctl_autoscale_actions_total", "Actions carried out, by kind (create_server, add_member, drain, finish_drain, heal, ...).", "action"),
		errors:    f.counterVec("lbctl_autoscale_errors_total", "Failures by what was being done (servers, members, metrics, or an action's kind).", "op"),
		value:     f.gaugeVec("lbctl_autoscale_metric_value", "The value each metric had at the last decision (seconds for p95_latency); absent while missing.", "metric"),
		target:    f.gaugeVec("lbctl_autoscale_metric_target", "Each metric's target (per member for requests_per_second and active_connections).", "metric"),
		lastTime:  f.gauge("lbctl_autoscale_last_decision_timestamp_seconds", "When the last decision was made."),
		lock:      f.gauge("lbctl_autoscale_lock_held", "1 while this controller holds the group's lock and acts; 0 while it waits for it."),
		bounds:    f.gaugeVec("lbctl_autoscale_bound_servers", "The policy's min and max.", "bound"),
	}
	for _, r := range Reasons {
		s.decisions.WithLabelValues(string(r))
	}
	return s
}

// Handler serves the series.
func (s *Stats) Handler() http.Handler {
	return promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{Registry: s.reg})
}

func (s *Stats) policy(p Policy) {
	if s == nil {
		return
	}
	s.bounds.WithLabelValues("min").Set(float64(p.Min))
	s.bounds.WithLabelValues("max").Set(float64(p.Max))
	for _, t := range p.Targets {
		s.target.WithLabelValues(string(t.Metric)).Set(t.Value)
	}
}

func (s *Stats) decision(d Decision, g *Group) {
	if s == nil {
		return
	}
	s.current.Set(float64(d.Current))
	s.ready.Set(float64(d.Ready))
	s.desired.Set(float64(d.Desired))
	s.decisions.WithLabelValues(string(d.Reason)).Inc()
	s.lastTime.Set(float64(d.At.UnixNano()) / 1e9)
	for _, pr := range d.Proposals {
		if pr.Missing != "" {
			s.value.DeleteLabelValues(string(pr.Metric))
		} else {
			s.value.WithLabelValues(string(pr.Metric)).Set(pr.Value)
		}
	}
	n := map[Phase]int{}
	for _, e := range g.Entries {
		n[e.Phase]++
	}
	for _, ph := range []Phase{Booting, Warming, Serving, Draining, Broken, Deleting} {
		s.phases.WithLabelValues(string(ph)).Set(float64(n[ph]))
	}
}

func (s *Stats) action(kind ActionKind) {
	if s != nil {
		s.actions.WithLabelValues(string(kind)).Inc()
	}
}

func (s *Stats) error(op string) {
	if s != nil {
		s.errors.WithLabelValues(op).Inc()
	}
}

func (s *Stats) locked(held bool) {
	if s == nil {
		return
	}
	v := 0.0
	if held {
		v = 1
	}
	s.lock.Set(v)
}

type promautoFactory struct {
	reg    *prometheus.Registry
	labels prometheus.Labels
}

func (f promautoFactory) gauge(name, help string) prometheus.Gauge {
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help, ConstLabels: f.labels})
	f.reg.MustRegister(g)
	return g
}

func (f promautoFactory) gaugeVec(name, help string, labels ...string) *prometheus.GaugeVec {
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help, ConstLabels: f.labels}, labels)
	f.reg.MustRegister(g)
	return g
}

func (f promautoFactory) counterVec(name, help string, labels ...string) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help, ConstLabels: f.labels}, labels)
	f.reg.MustRegister(c)
	return c
}
