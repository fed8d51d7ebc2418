package bench

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"lbd/internal/octavia"
)

// Validate checks every field against its rule and reports all problems at
// once as an *octavia.ValidationError naming field, value and rule.
func (s *Scenario) Validate() error {
	p := &problems{}
	switch {
	case s.Duration <= 0:
		p.add("duration", s.Duration.String(), "must be greater than 0")
	case s.Duration > maxDuration:
		p.add("duration", s.Duration.String(), "must be at most %s", maxDuration)
	}
	switch {
	case s.Rate != 0 && s.Concurrency != 0:
		p.add("rate", s.Rate, "set either rate (open loop) or concurrency (closed loop), not both")
	case s.Rate == 0 && s.Concurrency == 0:
		p.add("rate", nil, "one of rate (requests per second, open loop) or concurrency (closed loop) is required")
	case s.Rate < 0 || s.Rate > maxRate:
		p.add("rate", s.Rate, "must be between 0 and %d requests per second", maxRate)
	case s.Concurrency < 0 || s.Concurrency > maxConcurrency:
		p.add("concurrency", s.Concurrency, "must be between 1 and %d", maxConcurrency)
	}
	if s.Clients < 1 || s.Clients > maxClients {
		p.add("clients", s.Clients, "must be between 1 and %d (source addresses 127.0.0.2 upwards)", maxClients)
	}
	if s.ConnectionsPerClient < 1 || s.ConnectionsPerClient > maxConnsPer {
		p.add("connections_per_client", s.ConnectionsPerClient, "must be between 1 and %d", maxConnsPer)
	}
	if s.Timeout <= 0 {
		p.add("timeout", s.Timeout.String(), "must be greater than 0")
	}
	if !strings.HasPrefix(s.Path, "/") || strings.ContainsAny(s.Path, " \r\n") {
		p.add("path", s.Path, "must start with / and contain no spaces or line breaks")
	}
	if len(s.Algorithms) == 0 {
		p.add("algorithms", nil, "must name at least one algorithm")
	}
	for i, a := range s.Algorithms {
		if slices.Index(s.Algorithms, a) < i {
			p.add(fmt.Sprintf("algorithms[%d]", i), string(a), "is listed twice")
		}
	}
	s.validateMembers(p)
	s.validateEvents(p)
	if s.Remap.Clients < 1 || s.Remap.Clients > maxClients {
		p.add("remap.clients", s.Remap.Clients, "must be between 1 and %d", maxClients)
	}
	if s.Remap.Member != "" && s.member(s.Remap.Member) < 0 {
		p.add("remap.member", s.Remap.Member, "must name one of the members")
	}
	if len(p.list) == 0 && s.HealthMonitor != nil {
		s.validateMonitor(p)
	}
	return p.err()
}

func (s *Scenario) validateMembers(p *problems) {
	if len(s.Members) == 0 || len(s.Members) > maxMembers {
		p.add("members", len(s.Members), "must list between 1 and %d members", maxMembers)
	}
	weighted := false
	for i, m := range s.Members {
		path := fmt.Sprintf("members[%d]", i)
		switch {
		case m.Name == "":
			p.add(path+".name", nil, "is required")
		case strings.Trim(m.Name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") != "" || len(m.Name) > 64:
			p.add(path+".name", m.Name, "must be 1 to 64 letters, digits, '-', '_' or '.'")
		case s.member(m.Name) < i:
			p.add(path+".name", m.Name, "is used by another member")
		}
		if m.Weight < 0 || m.Weight > 256 {
			p.add(path+".weight", m.Weight, "must be between 0 and 256")
		}
		weighted = weighted || m.Weight > 0
		if m.Latency < 0 {
			p.add(path+".latency", m.Latency.String(), "must be 0 or greater")
		}
		switch m.Distribution {
		case "fixed", "uniform", "exponential", "lognormal":
		default:
			p.add(path+".distribution", m.Distribution, "must be fixed, uniform, exponential or lognormal")
		}
		if m.Spread < 0 {
			p.add(path+".spread", m.Spread.String(), "must be 0 or greater")
		} else if m.Distribution == "uniform" && m.Spread > m.Latency {
			p.add(path+".spread", m.Spread.String(), "must not exceed latency (%s) for a uniform distribution", m.Latency)
		} else if m.Distribution == "lognormal" && m.Latency == 0 && m.Spread > 0 {
			p.add(path+".spread", m.Spread.String(), "needs a latency: lognormal's sigma is spread/latency")
		}
		if m.ErrorRate < 0 || m.ErrorRate > 1 {
			p.add(path+".error_rate", m.ErrorRate, "must be between 0 and 1")
		}
		if m.MaxInFlight < 0 {
			p.add(path+".max_inflight", m.MaxInFlight, "must be 0 (no limit) or greater")
		}
	}
	if len(s.Members) > 0 && !weighted {
		p.add("members", len(s.Members), "at least one member must have a weight above 0")
	}
}

func (s *Scenario) validateEvents(p *problems) {
	for i, e := range s.Events {
		path := fmt.Sprintf("events[%d]", i)
		if e.At.Offset > 0 && s.Duration > 0 && e.At.Offset >= s.Duration {
			p.add(path+".at", e.At.String(), "must be before the end of the run (duration %s)", s.Duration)
		}
		if e.Member == "" {
			p.add(path+".member", nil, "is required")
		} else if s.member(e.Member) < 0 {
			p.add(path+".member", e.Member, "must name one of the members")
		}
		switch e.Action {
		case ActionDrain, ActionUndrain, ActionFail, ActionRecover:
		case "":
			p.add(path+".action", nil, "is required")
		default:
			p.add(path+".action", string(e.Action), "must be drain, undrain, fail or recover")
		}
	}
}

// validateMonitor checks the health monitor with Octavia's own rules, by
// validating the configuration the benchmark would run, and reports its
// problems under the scenario's field names.
func (s *Scenario) validateMonitor(p *problems) {
	ports := make([]int, len(s.Members)) // placeholders: the real ones are known at run time
	for i := range ports {
		ports[i] = 1 + i
	}
	cfg := s.lbConfig(s.Algorithms[0], 1, ports, nil)
	cfg.SetDefaults()
	var ve *octavia.ValidationError
	if err := cfg.Validate(); errors.As(err, &ve) {
		for _, fe := range ve.Errors {
			if i := strings.Index(fe.Path, "healthmonitor"); i >= 0 {
				fe.Path = fe.Path[i:]
			}
			p.list = append(p.list, fe)
		}
	} else if err != nil {
		p.add("healthmonitor", nil, "%v", err)
	}
}

// member returns the index of the member with that name, or -1.
func (s *Scenario) member(name string) int {
	return slices.IndexFunc(s.Members, func(m Member) bool { return m.Name == name })
}

// RemapMember is the member the SOURCE_IP remap probe takes out: the one
// the scenario names, else the first.
func (s *Scenario) RemapMember() string {
	if s.Remap.Member != "" {
		return s.Remap.Member
	}
	return s.Members[0].Name
}
