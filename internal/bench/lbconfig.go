package bench

import (
	"fmt"

	"lbd/internal/octavia"
)

// poolState is what events and the remap probe changed in the pool: the
// current weight of each member and which members are left out. nil means
// "as configured".
type poolState struct {
	weight []int
	absent []bool
}

func newPoolState(s *Scenario) *poolState {
	ps := &poolState{weight: make([]int, len(s.Members)), absent: make([]bool, len(s.Members))}
	for i, m := range s.Members {
		ps.weight[i] = m.Weight
	}
	return ps
}

func (ps *poolState) clone() *poolState {
	return &poolState{weight: append([]int(nil), ps.weight...), absent: append([]bool(nil), ps.absent...)}
}

// memberID is a member's ID in the generated configuration: derived from
// its name alone, so SOURCE_IP maps a client to the same member in every
// run and when a member leaves and comes back on another port.
func memberID(name string) string { return octavia.StableID("lbctl-bench/member/" + name) }

// poolName names the one pool the benchmark runs.
const poolName = "bench"

// lbConfig is the lbd configuration of one run: one HTTP listener on
// 127.0.0.1:port in front of one pool with the scenario's members, which
// listen on 127.0.0.1:memberPorts[i]. provider lbd, so SOURCE_IP_PORT is
// allowed. The result still needs SetDefaults, Validate and Normalize.
func (s *Scenario) lbConfig(alg octavia.Algorithm, port int, memberPorts []int, ps *poolState) *octavia.Config {
	pool := &octavia.Pool{
		Name:        poolName,
		Protocol:    octavia.ProtocolHTTP,
		LBAlgorithm: alg,
	}
	if s.HealthMonitor != nil {
		h := *s.HealthMonitor
		pool.HealthMonitor = &h
	}
	for i, m := range s.Members {
		w := m.Weight
		if ps != nil {
			if ps.absent[i] {
				continue
			}
			w = ps.weight[i]
		}
		pool.Members = append(pool.Members, &octavia.Member{
			ID:           memberID(m.Name),
			Name:         m.Name,
			Address:      "127.0.0.1",
			ProtocolPort: memberPorts[i],
			Weight:       octavia.Ptr(w),
		})
	}
	return &octavia.Config{LoadBalancers: []*octavia.LoadBalancer{{
		Name:       "lbctl-bench",
		VIPAddress: "127.0.0.1",
		Provider:   "lbd",
		Listeners: []*octavia.Listener{{
			Name:         "bench",
			Protocol:     octavia.ProtocolHTTP,
			ProtocolPort: port,
			DefaultPool:  pool,
		}},
	}}}
}

// fileConfig is lbConfig checked as lbd will check it (defaults filled
// in, then validated), so that a scenario lbd would refuse fails here with
// the model's message. It returns the configuration as written to lbd's
// file, without the defaults.
func (s *Scenario) fileConfig(alg octavia.Algorithm, port int, memberPorts []int, ps *poolState) (*octavia.Config, error) {
	check := s.lbConfig(alg, port, memberPorts, ps)
	check.SetDefaults()
	if err := check.Validate(); err != nil {
		return nil, fmt.Errorf("load balancer configuration: %w", err)
	}
	return s.lbConfig(alg, port, memberPorts, ps), nil
}
