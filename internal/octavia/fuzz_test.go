package octavia

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// FuzzParse: no input makes the config loader panic, and whatever it
// accepts, printed back (as lbd --check does) and loaded again, is accepted
// with the same IDs.
func FuzzParse(f *testing.F) {
	sample, err := os.ReadFile("../../configs/lbd.yaml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(string(sample))
	f.Add(goodLB)
	f.Add("loadbalancers: [{listeners: [{protocol: TCP, protocol_port: 1, default_pool: {name: p, protocol: TCP, lb_algorithm: SOURCE_IP}}]}]")
	f.Add("loadbalancers:\n  - name: a\n    pools: [{name: x, protocol: HTTP, lb_algorithm: ROUND_ROBIN, healthmonitor: {type: HTTP, delay: 1, timeout: 1, max_retries: 1, expected_codes: '200-204'}}]\n    listeners: [{protocol: HTTP, protocol_port: 80, default_pool: {name: x}}]\n")
	f.Add("loadbalancers: &a [*a]")
	f.Add("{")
	f.Fuzz(func(t *testing.T, src string) {
		cfg, err := Parse("fuzz.yaml", []byte(src))
		if err != nil {
			return
		}
		out, err := yaml.Marshal(cfg)
		if err != nil {
			t.Fatalf("marshal accepted config: %v", err)
		}
		again, err := Parse("again.yaml", out)
		if err != nil {
			t.Fatalf("printed config does not load again: %v\n%s", err, out)
		}
		if len(again.LoadBalancers) != len(cfg.LoadBalancers) {
			t.Fatalf("load balancers: %d then %d", len(cfg.LoadBalancers), len(again.LoadBalancers))
		}
		for i, lb := range cfg.LoadBalancers {
			if again.LoadBalancers[i].ID != lb.ID || len(again.LoadBalancers[i].Pools) != len(lb.Pools) {
				t.Fatalf("load balancer %d changed when printed and loaded again", i)
			}
		}
	})
}

var (
	// Octavia's pattern, with \s spelled out as the ASCII whitespace
	// Python's \s matches (Go's \s lacks \v and \x1c-\x1f).
	codesListRE  = regexp.MustCompile(`^(\d{3}([\t\n\v\f\r \x1c-\x1f]*,[\t\n\v\f\r \x1c-\x1f]*\d{3})*)$`)
	codesRangeRE = regexp.MustCompile(`^(\d{3}-\d{3})$`)
)

// FuzzParseExpectedCodes: ParseExpectedCodes accepts exactly what
// Octavia's two patterns accept (ASCII digits; a range must not run
// backwards) and never panics.
func FuzzParseExpectedCodes(f *testing.F) {
	for _, s := range []string{"200", "200, 202", "200-204", "200 ,202", "", "2000", "204-200", "200,202-204", "٢٠٠"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		set, err := ParseExpectedCodes(s)
		ascii := !strings.ContainsFunc(s, func(r rune) bool { return r > 0x7f })
		want := ascii && (codesListRE.MatchString(s) || codesRangeRE.MatchString(s))
		if want && codesRangeRE.MatchString(s) && s[:3] > s[4:] {
			want = false
		}
		if (err == nil) != want {
			t.Fatalf("ParseExpectedCodes(%q) error %v, Octavia's patterns say valid=%v", s, err, want)
		}
		if err == nil {
			first := s[:3]
			var c int
			for _, d := range first {
				c = c*10 + int(d-'0')
			}
			if !set.Contains(c) {
				t.Fatalf("ParseExpectedCodes(%q) lacks its first code %d", s, c)
			}
		}
	})
}
