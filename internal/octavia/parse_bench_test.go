package octavia

import (
	"fmt"
	"strings"
	"testing"
)

// BenchmarkParse10k parses a configuration whose pool has 10,000 members:
// what a reload of such a file costs before the data plane applies it.
//
//	go test -run '^$' -bench Parse10k -benchmem ./internal/octavia/
func BenchmarkParse10k(b *testing.B) {
	var y strings.Builder
	y.WriteString(`loadbalancers:
  - name: big
    vip_address: 127.0.0.1
    listeners:
      - name: web
        protocol: HTTP
        protocol_port: 8080
        default_pool:
          name: big
          protocol: HTTP
          lb_algorithm: ROUND_ROBIN
          healthmonitor: {type: TCP, delay: 1, timeout: 1, max_retries: 3}
          members:
`)
	for i := range 10000 {
		fmt.Fprintf(&y, "            - {name: m%d, address: 127.2.%d.%d, protocol_port: 8080, weight: %d}\n", i, i/250, i%250+1, 1+i%7)
	}
	data := []byte(y.String())
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse("bench.yaml", data); err != nil {
			b.Fatal(err)
		}
	}
}
