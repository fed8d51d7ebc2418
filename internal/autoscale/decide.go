package autoscale

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// Load is what the metrics say at one moment: a value for each metric that
// has one, and for the others why not.
type Load struct {
	Values  map[Metric]float64
	Missing map[Metric]string
}

// Observation is the group as the controller sees it when it decides.
type Observation struct {
	At time.Time
	// Current counts the servers that stay: booting or serving, neither
	// leaving (drained) nor broken. Ready counts those of them whose
	// members are all ONLINE.
	Current, Ready int
	// Newest is when the newest server was created: a restarted controller
	// keeps the scale-out cooldown from it.
	Newest time.Time
	Load   Load
}

// Proposal is one metric's count, as the HPA computes it.
type Proposal struct {
	Metric Metric  `json:"metric"`
	Value  float64 `json:"value"`
	Target float64 `json:"target"`
	// Ratio is value ÷ target, per member for the per-member metrics.
	Ratio  float64 `json:"ratio"`
	Count  int     `json:"count"`
	Within bool    `json:"within_tolerance,omitempty"`
	// Missing says why the metric has no value (then Count is 0).
	Missing string `json:"missing,omitempty"`
}

// Reason is why a decision is what it is; it labels the decisions counter.
type Reason string

// The reasons.
const (
	ReasonScaleOut    Reason = "scale_out"
	ReasonScaleIn     Reason = "scale_in"
	ReasonSteady      Reason = "steady"       // every proposal is the current count
	ReasonNoData      Reason = "no_data"      // no metric has a value: hold
	ReasonPartialData Reason = "partial_data" // some have none and the others say in: hold
	ReasonStabilizing Reason = "stabilizing"  // the window's proposals hold the count
	ReasonCooldown    Reason = "cooldown"     // a change in this direction was too recent
	ReasonAtMax       Reason = "at_max"       // the load asks for more than max
	ReasonAtMin       Reason = "at_min"       // the load asks for fewer than min
	ReasonBelowMin    Reason = "below_min"    // fewer servers than min: out to min at once
	ReasonAboveMax    Reason = "above_max"    // more than max: in to max at once
)

// Reasons lists every reason, for the decisions counter.
var Reasons = []Reason{ReasonScaleOut, ReasonScaleIn, ReasonSteady, ReasonNoData, ReasonPartialData,
	ReasonStabilizing, ReasonCooldown, ReasonAtMax, ReasonAtMin, ReasonBelowMin, ReasonAboveMax}

// Decision is the count the group should have now, and why.
type Decision struct {
	At             time.Time  `json:"at"`
	Current        int        `json:"current"`
	Ready          int        `json:"ready"`
	Proposals      []Proposal `json:"proposals"`
	Raw            int        `json:"raw"` // the largest proposal; Current when none
	Stabilized     int        `json:"stabilized"`
	Desired        int        `json:"desired"`
	Reason         Reason     `json:"reason"`
	Detail         string     `json:"detail"`
	MissingMetrics bool       `json:"missing_metrics,omitempty"`
}

// Changes reports whether the decision moves the count.
func (d Decision) Changes() bool { return d.Desired != d.Current }

// History is what Decide remembers between decisions: the proposals within
// the stabilization windows and when the count last moved each way. Its
// zero value is a controller that just started: its first decision seeds
// the windows with the current count, so that a restarted controller
// scales in only after a whole window of lower proposals.
type History struct {
	recs            []record
	lastOut, lastIn time.Time
	seeded          bool
}

type record struct {
	at    time.Time
	count int
}

// Decide computes the count the group should have, the way Kubernetes'
// horizontal pod autoscaler does: each target proposes a count from its
// ratio (none when the ratio is within the tolerance), the largest
// proposal wins (the fastest out, the slowest in), the stabilization
// windows keep the count from moving while any proposal within them says
// otherwise, then cooldowns, the largest step and the bounds apply. Missing
// data holds the count: never in on it, out only when the metrics that are
// there ask for it (as the HPA). It does no I/O; h is not changed.
func Decide(p Policy, h History, o Observation) (Decision, History) {
	h.recs = append([]record(nil), h.recs...)
	d := Decision{At: o.At, Current: o.Current, Ready: o.Ready}
	present := 0
	raw := 0
	for _, t := range p.Targets {
		pr := propose(p, t, o)
		d.Proposals = append(d.Proposals, pr)
		if pr.Missing != "" {
			d.MissingMetrics = true
			continue
		}
		present++
		raw = max(raw, pr.Count)
	}
	if o.Newest.After(h.lastOut) {
		h.lastOut = o.Newest
	}
	if !h.seeded {
		h.recs = append(h.recs, record{o.At, o.Current})
		h.seeded = true
	}
	var why []string
	switch {
	case present == 0:
		raw = o.Current
	case d.MissingMetrics && raw < o.Current:
		raw = o.Current
		why = append(why, "holding: never in while a metric is missing")
	}
	d.Raw = raw
	h.recs = append(h.recs, record{o.At, raw})
	h.trim(o.At, max(p.Out.Stabilization, p.In.Stabilization))

	// The stabilization windows: up only as far as the lowest proposal of
	// the scale-out window, down only as far as the highest of the
	// scale-in window (Kubernetes' stabilizeRecommendationWithBehaviors).
	up, down := raw, raw
	for _, r := range h.recs {
		if r.at.After(o.At.Add(-p.Out.Stabilization)) {
			up = min(up, r.count)
		}
		if r.at.After(o.At.Add(-p.In.Stabilization)) {
			down = max(down, r.count)
		}
	}
	st := o.Current
	st = max(st, up)
	st = min(st, down)
	d.Stabilized = st
	d.Desired = o.Current

	switch {
	case o.Current < p.Min:
		d.Desired, d.Reason = p.Min, ReasonBelowMin
		why = append(why, fmt.Sprintf("fewer servers than min %d", p.Min))
	case o.Current > p.Max:
		d.Desired, d.Reason = p.Max, ReasonAboveMax
		why = append(why, fmt.Sprintf("more servers than max %d", p.Max))
	case present == 0:
		d.Reason = ReasonNoData
		why = append(why, "holding: no metric has a value")
	case st > o.Current:
		next := min(st, o.Current+p.Out.MaxStep, p.Max)
		switch {
		case next <= o.Current:
			d.Reason = ReasonAtMax
			why = append(why, fmt.Sprintf("the load asks for %d but max is %d", raw, p.Max))
		case p.Out.Cooldown > 0 && o.At.Sub(h.lastOut) < p.Out.Cooldown:
			d.Reason = ReasonCooldown
			why = append(why, fmt.Sprintf("out to %d after the cooldown (%s left)", next, (p.Out.Cooldown-o.At.Sub(h.lastOut)).Round(time.Second)))
		default:
			d.Desired, d.Reason = next, ReasonScaleOut
			if next < st {
				why = append(why, fmt.Sprintf("%d at most per step (wants %d)", p.Out.MaxStep, st))
			}
		}
	case st < o.Current:
		next := max(st, o.Current-p.In.MaxStep, p.Min)
		switch {
		case next >= o.Current:
			d.Reason = ReasonAtMin
			why = append(why, fmt.Sprintf("the load asks for %d but min is %d", raw, p.Min))
		case p.In.Cooldown > 0 && o.At.Sub(h.lastIn) < p.In.Cooldown:
			d.Reason = ReasonCooldown
			why = append(why, fmt.Sprintf("in to %d after the cooldown (%s left)", next, (p.In.Cooldown-o.At.Sub(h.lastIn)).Round(time.Second)))
		default:
			d.Desired, d.Reason = next, ReasonScaleIn
			if next > st {
				why = append(why, fmt.Sprintf("%d at most per step (wants %d)", p.In.MaxStep, st))
			}
		}
	case raw > o.Current && o.Current >= p.Max:
		d.Reason = ReasonAtMax
		why = append(why, fmt.Sprintf("the load asks for %d but max is %d", raw, p.Max))
	case raw < o.Current && o.Current <= p.Min:
		d.Reason = ReasonAtMin
		why = append(why, fmt.Sprintf("the load asks for %d but min is %d", raw, p.Min))
	case raw > o.Current:
		d.Reason = ReasonStabilizing
		why = append(why, fmt.Sprintf("out to %d once the scale-out window (%s) agrees", raw, p.Out.Stabilization))
	case raw < o.Current:
		d.Reason = ReasonStabilizing
		why = append(why, fmt.Sprintf("in to %d once the scale-in window (%s) agrees", raw, p.In.Stabilization))
	case d.MissingMetrics && len(why) > 0:
		d.Reason = ReasonPartialData
	default:
		d.Reason = ReasonSteady
	}
	switch {
	case d.Desired > o.Current:
		h.lastOut = o.At
	case d.Desired < o.Current:
		h.lastIn = o.At
	}
	d.Detail = detail(d, why)
	return d, h
}

// trim drops the records older than the longest window; the newest record
// always stays.
func (h *History) trim(now time.Time, window time.Duration) {
	i := 0
	for i < len(h.recs)-1 && !h.recs[i].at.After(now.Add(-window)) {
		i++
	}
	h.recs = h.recs[i:]
}

// propose is one target's proposal: for a per-member total (requests,
// connections) the count at which each member carries the target; for a
// value (latency, CPU) the ready members scaled by its ratio to the
// target, never against the ratio's direction (members still booting do
// not count as serving).
func propose(p Policy, t Target, o Observation) Proposal {
	pr := Proposal{Metric: t.Metric, Target: t.Value}
	v, ok := o.Load.Values[t.Metric]
	switch {
	case !ok:
		pr.Missing = o.Load.Missing[t.Metric]
		if pr.Missing == "" {
			pr.Missing = "no value"
		}
		return pr
	case math.IsNaN(v) || math.IsInf(v, 0):
		pr.Missing = fmt.Sprintf("not a number (%v)", v)
		return pr
	}
	pr.Value = v
	if t.Metric.perMember() {
		pr.Ratio = v / (t.Value * float64(max(o.Current, 1)))
		pr.Count = ceil(v / t.Value)
	} else {
		if o.Ready == 0 {
			pr.Missing = "no ready member to measure"
			return pr
		}
		pr.Ratio = v / t.Value
		pr.Count = ceil(pr.Ratio * float64(o.Ready))
		if pr.Ratio > 1 {
			pr.Count = max(pr.Count, o.Current)
		} else {
			pr.Count = min(pr.Count, o.Current)
		}
	}
	if o.Current > 0 && math.Abs(pr.Ratio-1) <= p.Tolerance {
		pr.Count, pr.Within = o.Current, true
	}
	return pr
}

// detail is the decision in one line: each metric, then the outcome.
func detail(d Decision, why []string) string {
	var b strings.Builder
	// Every metric missing for one reason (Prometheus down): said once.
	same := len(d.Proposals) > 1
	for _, pr := range d.Proposals {
		same = same && pr.Missing != "" && pr.Missing == d.Proposals[0].Missing
	}
	if same {
		names := make([]string, len(d.Proposals))
		for i, pr := range d.Proposals {
			names[i] = string(pr.Metric)
		}
		fmt.Fprintf(&b, "%s missing (%s)", strings.Join(names, ", "), d.Proposals[0].Missing)
	}
	for i, pr := range d.Proposals {
		if same {
			break
		}
		if i > 0 {
			b.WriteString("; ")
		}
		switch {
		case pr.Missing != "":
			fmt.Fprintf(&b, "%s missing (%s)", pr.Metric, pr.Missing)
		case pr.Metric.perMember():
			fmt.Fprintf(&b, "%s %s for %d (target %s each, ratio %.2f) → %d", pr.Metric, pr.Metric.Format(pr.Value), max(d.Current, 1),
				pr.Metric.Format(pr.Target), pr.Ratio, pr.Count)
		default:
			fmt.Fprintf(&b, "%s %s (target %s, ratio %.2f) → %d", pr.Metric, pr.Metric.Format(pr.Value), pr.Metric.Format(pr.Target), pr.Ratio, pr.Count)
		}
		if pr.Within {
			b.WriteString(" (within tolerance)")
		}
	}
	if b.Len() > 0 {
		b.WriteString(": ")
	}
	switch d.Reason {
	case ReasonScaleOut, ReasonBelowMin:
		fmt.Fprintf(&b, "out %d → %d", d.Current, d.Desired)
	case ReasonScaleIn, ReasonAboveMax:
		fmt.Fprintf(&b, "in %d → %d", d.Current, d.Desired)
	default:
		fmt.Fprintf(&b, "hold %d", d.Current)
	}
	if len(why) > 0 {
		b.WriteString(" (" + strings.Join(why, "; ") + ")")
	}
	return b.String()
}
