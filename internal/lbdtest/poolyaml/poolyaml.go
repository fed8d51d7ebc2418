// Package poolyaml renders lbd configurations of one load balancer whose
// one HTTP listener has one pool: the big pools of the tests and
// benchmarks of reloads, applies, scrapes and parsing, and the small ones
// of the operator and chaos tests.
//
// Only tests and benchmarks import it. It must not import any lbd package.
package poolyaml

import (
	"fmt"
	"strings"
)

// Pool is such a configuration.
type Pool struct {
	LB        string // the load balancer's name; "big" if empty
	Name      string // the pool's; "big" if empty
	Port      int    // the listener's protocol_port
	Algorithm string // lb_algorithm; ROUND_ROBIN if empty
	// Fields are more lines of the pool's (a healthmonitor: ...), each
	// one YAML line without indentation.
	Fields []string
	// Members is how many members; Member(i) the inside of the i-th's
	// flow mapping ("name: m1, address: 127.0.0.1, protocol_port: 80").
	Members int
	Member  func(i int) string
}

// YAML renders p.
func (p Pool) YAML() []byte {
	var y strings.Builder
	fmt.Fprintf(&y, `loadbalancers:
  - name: %s
    vip_address: 127.0.0.1
    listeners:
      - name: web
        protocol: HTTP
        protocol_port: %d
        default_pool:
          name: %s
          protocol: HTTP
          lb_algorithm: %s
`, or(p.LB, "big"), p.Port, or(p.Name, "big"), or(p.Algorithm, "ROUND_ROBIN"))
	for _, f := range p.Fields {
		fmt.Fprintf(&y, "          %s\n", f)
	}
	y.WriteString("          members:\n")
	for i := range p.Members {
		fmt.Fprintf(&y, "            - {%s}\n", p.Member(i))
	}
	return []byte(y.String())
}

// Spread is the inside of a member i's mapping at 127.2.x.y:8080, named
// m<i>, weighted 1 to 7: n of them at distinct addresses for n up to 64,000.
func Spread(i int) string {
	return fmt.Sprintf("name: m%d, address: 127.2.%d.%d, protocol_port: 8080, weight: %d", i, i/250, i%250+1, 1+i%7)
}

func or(s, dflt string) string {
	if s == "" {
		return dflt
	}
	return s
}

// At is the inside of the mapping of a member named m<i> at addr:port.
func At(i int, addr string, port int) string {
	return fmt.Sprintf("name: m%d, address: %s, protocol_port: %d", i, addr, port)
}
