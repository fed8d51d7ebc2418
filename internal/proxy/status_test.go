package proxy

import (
	"testing"

	"lbd/internal/demo"
	"lbd/internal/octavia"
)

const unusedPoolInError = `
loadbalancers:
  - name: lb
    vip_address: 127.0.0.1
    listeners:
      - name: web
        protocol: HTTP
        protocol_port: {{.Port}}
        default_pool: {name: served}
    pools:
      - name: served
        protocol: HTTP
        lb_algorithm: ROUND_ROBIN
        members:
          - {name: a, address: 127.0.0.1, protocol_port: {{port (index .Backends 0)}}}
      - name: spare
        protocol: HTTP
        lb_algorithm: ROUND_ROBIN
        members:
          - {name: off, address: 127.0.0.1, protocol_port: {{port (index .Backends 0)}}, admin_state_up: false}
`

// TestUnusedPoolDoesNotLowerLoadBalancer: a pool no listener uses is in no
// amphora's configuration, so as in Octavia its members' state does not
// reach the load balancer's operating_status: here the spare pool has
// only a disabled member (a used pool like it would be ERROR) and the load
// balancer stays ONLINE.
func TestUnusedPoolDoesNotLowerLoadBalancer(t *testing.T) {
	be := startBackend(t, "a", demo.Options{})
	rt := startRuntime(t, config(t, unusedPoolInError, poolData{Port: freePort(t), Backends: []string{be.Addr()}}))
	lb := rt.Config().LoadBalancers[0]
	var spare *octavia.Pool
	for _, p := range lb.Pools {
		if p.Name == "spare" {
			spare = p
		}
	}
	mustf(t, spare != nil && !lb.PoolInUse(spare.ID), "the config has no unused pool spare")
	mustf(t, octavia.PoolStatus(true, []octavia.OperatingStatus{octavia.OperatingOffline}) == octavia.OperatingError,
		"a pool whose only member is disabled is not ERROR: the test proves nothing")
	got, ok := rt.OperatingStatus(lb.ID)
	mustf(t, ok && got == octavia.OperatingOnline, "load balancer %s with an unused pool whose member is disabled, want ONLINE", got)
}
