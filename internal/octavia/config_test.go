package octavia

import (
	"errors"
	"os"
	"strings"
	"testing"
)

func TestSampleConfigValidates(t *testing.T) {
	cfg, err := LoadFile("../../configs/lbd.yaml")
	if err != nil {
		t.Fatalf("configs/lbd.yaml: %v", err)
	}
	if len(cfg.LoadBalancers) != 1 {
		t.Fatalf("got %d load balancers, want 1", len(cfg.LoadBalancers))
	}
	lb := cfg.LoadBalancers[0]
	l := lb.Listeners[0]
	if l.Protocol != ProtocolHTTP || l.ProtocolPort != 8080 {
		t.Errorf("listener = %s:%d, want HTTP:8080", l.Protocol, l.ProtocolPort)
	}
	// Defaults are Octavia's.
	if *l.ConnectionLimit != -1 || *l.TimeoutClientData != 50000 || *l.TimeoutMemberConnect != 5000 || *l.TimeoutMemberData != 50000 {
		t.Errorf("listener defaults = %d %d %d %d", *l.ConnectionLimit, *l.TimeoutClientData, *l.TimeoutMemberConnect, *l.TimeoutMemberData)
	}
	// The inline default pool was hoisted and is referenced by ID.
	pool := lb.ListenerPool(l)
	if pool == nil || pool.Name != "pool1" || l.DefaultPool != nil {
		t.Fatalf("listener pool not normalized: %+v", l)
	}
	if pool.ListenerID != l.ID || pool.LoadBalancerID != lb.ID {
		t.Errorf("pool parents = %q %q, want %q %q", pool.ListenerID, pool.LoadBalancerID, l.ID, lb.ID)
	}
	hm := pool.HealthMonitor
	if hm.HTTPMethod != "GET" || hm.ExpectedCodes != "200" || *hm.MaxRetriesDown != 3 || hm.PoolID != pool.ID {
		t.Errorf("monitor defaults = %q %q %d %q", hm.HTTPMethod, hm.ExpectedCodes, *hm.MaxRetriesDown, hm.PoolID)
	}
	for _, m := range pool.Members {
		if *m.Weight != 1 || *m.Backup || !*m.AdminStateUp {
			t.Errorf("member %s defaults = weight %d backup %v admin %v", m.Name, *m.Weight, *m.Backup, *m.AdminStateUp)
		}
	}
}

func TestStableIDs(t *testing.T) {
	data, err := os.ReadFile("../../configs/lbd.yaml")
	if err != nil {
		t.Fatal(err)
	}
	ids := func(src string) []string {
		cfg, err := Parse("x.yaml", []byte(src))
		if err != nil {
			t.Fatal(err)
		}
		lb := cfg.LoadBalancers[0]
		out := []string{lb.ID, lb.Listeners[0].ID}
		for _, p := range lb.Pools {
			out = append(out, p.ID, p.HealthMonitor.ID)
			for _, m := range p.Members {
				out = append(out, m.ID)
			}
		}
		return out
	}
	a, b := ids(string(data)), ids(string(data))
	seen := map[string]bool{}
	for i := range a {
		if a[i] != b[i] {
			t.Errorf("id %d differs between loads: %s vs %s", i, a[i], b[i])
		}
		if !uuidRE.MatchString(a[i]) {
			t.Errorf("id %q is not a UUID", a[i])
		}
		if seen[a[i]] {
			t.Errorf("id %s is used twice", a[i])
		}
		seen[a[i]] = true
	}
	// A changed weight keeps the member's identity; a changed port is a new member.
	c := ids(strings.Replace(string(data), "protocol_port: 8082}", "protocol_port: 8082, weight: 5}", 1))
	if c[len(c)-1] != a[len(a)-1] {
		t.Errorf("weight change altered the member ID")
	}
	d := ids(strings.Replace(string(data), "protocol_port: 8082}", "protocol_port: 8083}", 1))
	if d[len(d)-1] == a[len(a)-1] {
		t.Errorf("port change kept the member ID")
	}
}

const goodLB = `
loadbalancers:
  - name: lb1
    vip_address: 127.0.0.1
    listeners:
      - name: listener1
        protocol: HTTP
        protocol_port: 8080
        default_pool:
          name: pool1
          protocol: HTTP
          lb_algorithm: ROUND_ROBIN
          members:
            - {address: 127.0.0.1, protocol_port: 8081}
`

func TestBadConfigs(t *testing.T) {
	tests := []struct {
		name string
		src  string
		// Each want is a set of substrings that must all appear in one error line.
		want [][]string
	}{
		{
			name: "unknown field",
			src:  strings.Replace(goodLB, "protocol_port: 8080", "protocol_port: 8080\n        protcol: HTTP", 1),
			want: [][]string{{"x.yaml:9:", "loadbalancers[0].listeners[0].protcol", "unknown field for a listener", `did you mean "protocol"?`}},
		},
		{
			name: "wrong type",
			src:  strings.Replace(goodLB, "protocol_port: 8080", "protocol_port: eighty", 1),
			want: [][]string{{"x.yaml:8:", "listeners[0].protocol_port", `"eighty"`, "must be an integer"}},
		},
		{
			name: "port out of range",
			src:  strings.Replace(goodLB, "protocol_port: 8080", "protocol_port: 70000", 1),
			want: [][]string{{"x.yaml:8:", "listeners[0].protocol_port", "70000", "must be between 1 and 65535"}},
		},
		{
			name: "bad enum",
			src:  strings.Replace(goodLB, "lb_algorithm: ROUND_ROBIN", "lb_algorithm: RANDOM", 1),
			want: [][]string{{"default_pool.lb_algorithm", `"RANDOM"`, `must be one of ROUND_ROBIN, LEAST_CONNECTIONS, SOURCE_IP (provider "amphora"; provider "lbd" adds SOURCE_IP_PORT)`}},
		},
		{
			name: "bad enum under provider lbd",
			src:  strings.Replace(strings.Replace(goodLB, "lb_algorithm: ROUND_ROBIN", "lb_algorithm: RANDOM", 1), "name: lb1\n", "name: lb1\n    provider: lbd\n", 1),
			want: [][]string{{"default_pool.lb_algorithm", `"RANDOM"`, "must be one of ROUND_ROBIN, LEAST_CONNECTIONS, SOURCE_IP, SOURCE_IP_PORT"}},
		},
		{
			name: "YAML syntax: a line indented wrong",
			src:  strings.Replace(goodLB, "        protocol_port: 8080", "       protocol_port: 8080", 1),
			want: [][]string{{"x.yaml:8: invalid YAML: did not find expected '-' indicator"}},
		},
		{
			name: "YAML syntax: a tab",
			src:  strings.Replace(goodLB, "        protocol: HTTP", "\tprotocol: HTTP", 1),
			want: [][]string{{"x.yaml:7: invalid YAML: found a tab character"}},
		},
		{
			name: "YAML syntax: an unclosed flow mapping",
			src:  strings.Replace(goodLB, "{address: 127.0.0.1, protocol_port: 8081}", "{address: 127.0.0.1, protocol_port: 8081", 1),
			want: [][]string{{"x.yaml:14: invalid YAML: did not find expected ',' or '}'"}},
		},
		{
			name: "connection_logging under provider amphora",
			src:  strings.Replace(goodLB, "protocol_port: 8080", "protocol_port: 8080\n        connection_logging: false", 1),
			want: [][]string{{"x.yaml:9:", "listeners[0].connection_logging: false: is an lbd extension", `set the load balancer's provider to "lbd"`}},
		},
		{
			name: "pool protocol not allowed for listener",
			src:  strings.Replace(goodLB, "          protocol: HTTP\n", "          protocol: TCP\n", 1),
			want: [][]string{{"default_pool.protocol", `"TCP"`, "not allowed for a HTTP listener", "HTTP, PROXY, PROXYV2"}},
		},
		{
			name: "duplicate listener port",
			src: strings.Replace(goodLB, "    listeners:\n", `    listeners:
      - {name: l0, protocol: TCP, protocol_port: 8080}
`, 1),
			want: [][]string{{"listeners[1].protocol_port", "8080", "already using protocol HTTP and protocol_port 8080"}},
		},
		{
			name: "duplicate member",
			src:  strings.Replace(goodLB, "            - {address: 127.0.0.1, protocol_port: 8081}\n", "            - {address: 127.0.0.1, protocol_port: 8081}\n            - {address: 127.0.0.1, protocol_port: 8081}\n", 1),
			want: [][]string{{"x.yaml:15:", "members[1]", `"127.0.0.1:8081"`, "already has this address and protocol_port"}},
		},
		{
			name: "second monitor",
			src: strings.Replace(goodLB, "          members:\n", `          healthmonitor: {type: TCP, delay: 5, timeout: 3, max_retries: 3}
          healthmonitor: {type: PING, delay: 5, timeout: 3, max_retries: 3}
          members:
`, 1),
			want: [][]string{{"x.yaml:14:", "default_pool.healthmonitor", "a pool has at most one health monitor (another is on line 13)"}},
		},
		{
			name: "topology",
			src:  strings.Replace(goodLB, "    vip_address: 127.0.0.1\n", "    vip_address: 127.0.0.1\n    topology: ACTIVE_ACTIVE\n", 1),
			want: [][]string{{"x.yaml:5:", "topology", `"ACTIVE_ACTIVE"`, `must be one of "SINGLE", "ACTIVE_STANDBY"`}},
		},
		{
			name: "source ip port on amphora",
			src:  strings.Replace(goodLB, "lb_algorithm: ROUND_ROBIN", "lb_algorithm: SOURCE_IP_PORT", 1),
			want: [][]string{{"lb_algorithm", `"SOURCE_IP_PORT"`, "provider 'amphora' does not support", `"lbd"`}},
		},
		{
			name: "monitor ranges and http-only fields",
			src: strings.Replace(goodLB, "          members:\n", `          healthmonitor: {type: PING, delay: -1, timeout: 3, max_retries: 11, max_retries_down: 0, url_path: /health}
          members:
`, 1),
			want: [][]string{
				{"healthmonitor.delay", "-1", "must be 0 or greater"},
				{"healthmonitor.max_retries", "11", "must be between 1 and 10"},
				{"healthmonitor.max_retries_down", "0", "must be between 1 and 10"},
				{"healthmonitor.url_path", "is not a valid option for health monitors of type PING"},
			},
		},
		{
			name: "expected codes mixing list and range",
			src: strings.Replace(goodLB, "          members:\n", `          healthmonitor: {type: HTTP, delay: 5, timeout: 3, max_retries: 3, expected_codes: "200,202-204"}
          members:
`, 1),
			want: [][]string{{"healthmonitor.expected_codes", `"200,202-204"`, "range must be two 3-digit codes"}},
		},
		{
			name: "domain name needs http 1.1",
			src: strings.Replace(goodLB, "          members:\n", `          healthmonitor: {type: HTTP, delay: 5, timeout: 3, max_retries: 3, domain_name: example.com}
          members:
`, 1),
			want: [][]string{{"healthmonitor.domain_name", `"example.com"`, "needs http_version 1.1"}},
		},
		{
			name: "weight and address",
			src:  strings.Replace(goodLB, "{address: 127.0.0.1, protocol_port: 8081}", "{address: 127.0.0.300, protocol_port: 8081, weight: 300}", 1),
			want: [][]string{
				{"members[0].address", `"127.0.0.300"`, "must be an IPv4 or IPv6 address"},
				{"members[0].weight", "300", "must be between 0 and 256"},
			},
		},
		{
			name: "insert headers on TCP and bad value",
			src: strings.Replace(strings.Replace(goodLB, "protocol: HTTP\n        protocol_port", "protocol: TCP\n        insert_headers: {X-Forwarded-For: yes}\n        protocol_port", 1),
				"          protocol: HTTP\n", "          protocol: TCP\n", 1),
			want: [][]string{
				{"listeners[0].insert_headers", "only allowed on HTTP and TERMINATED_HTTPS listeners, not TCP"},
				{"insert_headers.X-Forwarded-For", `"yes"`, `must be "true" or "false"`},
			},
		},
		{
			name: "reference to a missing pool",
			src: `
loadbalancers:
  - name: lb1
    listeners:
      - {protocol: HTTP, protocol_port: 80, default_pool: {name: nosuch}}
    pools:
      - {name: other, protocol: HTTP, lb_algorithm: ROUND_ROBIN}
`,
			want: [][]string{{"x.yaml:5:", "listeners[0].default_pool.name", `"nosuch"`, "no full definition was found"}},
		},
		{
			name: "missing required fields, all reported",
			src: `
loadbalancers:
  - listeners:
      - default_pool: {name: p, members: [{address: 127.0.0.1}]}
`,
			want: [][]string{
				{"listeners[0].protocol", "is required"},
				{"listeners[0].protocol_port", "is required"},
				{"default_pool.protocol", "is required"},
				{"default_pool.lb_algorithm", "is required"},
				{"members[0].protocol_port", "is required"},
			},
		},
		{
			name: "allowed cidrs",
			src:  strings.Replace(goodLB, "protocol_port: 8080", "protocol_port: 8080\n        allowed_cidrs: [127.0.0.0/8, 10.0.0.0/33, 2001:db8::/32]", 1),
			want: [][]string{
				{"allowed_cidrs[1]", `"10.0.0.0/33"`, "must be an IPv4 or IPv6 CIDR"},
				{"allowed_cidrs[2]", `"2001:db8::/32"`, "IP version is incompatible with the VIP 127.0.0.1"},
			},
		},
		{
			name: "two load balancers on one address and port",
			src:  goodLB + strings.Replace(strings.TrimPrefix(goodLB, "\nloadbalancers:\n"), "name: lb1", "name: lb2", 1),
			want: [][]string{{"loadbalancers[1].listeners[0].protocol_port", "127.0.0.1:8080 is already bound by loadbalancers[0].listeners[0]"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Parse("x.yaml", []byte(tt.src))
			if err == nil {
				t.Fatal("config was accepted")
			}
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("error is %T, not *ValidationError: %v", err, err)
			}
			lines := strings.Split(err.Error(), "\n")
			for _, want := range tt.want {
				found := false
				for _, line := range lines {
					all := true
					for _, w := range want {
						all = all && strings.Contains(line, w)
					}
					found = found || all
				}
				if !found {
					t.Errorf("no error line contains all of %q; got:\n%s", want, err)
				}
			}
		})
	}
}

// TestConnectionLoggingOverride: under provider lbd a listener may turn
// connection logging on or off whatever the global switch says; unset, it
// follows the switch.
func TestConnectionLoggingOverride(t *testing.T) {
	src := strings.Replace(goodLB, "name: lb1\n", "name: lb1\n    provider: lbd\n", 1)
	src = strings.Replace(src, "    listeners:\n", "    listeners:\n      - {name: quiet, protocol: TCP, protocol_port: 9000, connection_logging: false}\n", 1)
	cfg, err := Parse("x.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	quiet, plain := cfg.LoadBalancers[0].Listeners[0], cfg.LoadBalancers[0].Listeners[1]
	for _, global := range []bool{true, false} {
		if quiet.LogsConnections(global) {
			t.Errorf("global %v: the listener with connection_logging: false logs", global)
		}
		if plain.LogsConnections(global) != global {
			t.Errorf("global %v: the listener without an override logs: %v", global, !global)
		}
	}
}

// TestAlgorithmMessageFollowsProvider: under provider amphora, the
// lb_algorithm message does not offer SOURCE_IP_PORT as a valid value.
func TestAlgorithmMessageFollowsProvider(t *testing.T) {
	_, err := Parse("x.yaml", []byte(strings.Replace(goodLB, "lb_algorithm: ROUND_ROBIN", "lb_algorithm: RANDOM", 1)))
	if err == nil || strings.Contains(err.Error(), "SOURCE_IP, SOURCE_IP_PORT") {
		t.Errorf("under provider amphora: %v", err)
	}
}

func TestEmptyConfigIsValid(t *testing.T) {
	for _, src := range []string{"", "loadbalancers: []\n", "# nothing yet\n"} {
		cfg, err := Parse("x.yaml", []byte(src))
		if err != nil || len(cfg.LoadBalancers) != 0 {
			t.Errorf("Parse(%q) = %v, %v", src, cfg, err)
		}
	}
}

func TestPoolReferenceByName(t *testing.T) {
	cfg, err := Parse("x.yaml", []byte(`
loadbalancers:
  - name: lb1
    vip_address: 127.0.0.1
    listeners:
      - {protocol: TCP, protocol_port: 9000, default_pool: {name: shared}}
    pools:
      - {name: shared, protocol: TCP, lb_algorithm: LEAST_CONNECTIONS, members: [{address: 127.0.0.1, protocol_port: 9001}]}
`))
	if err != nil {
		t.Fatal(err)
	}
	lb := cfg.LoadBalancers[0]
	if len(lb.Pools) != 1 || lb.ListenerPool(lb.Listeners[0]) != lb.Pools[0] {
		t.Fatalf("listener does not point at the LB-level pool: %+v", lb.Listeners[0])
	}
}

func TestParseExpectedCodes(t *testing.T) {
	good := map[string][]int{
		"200":          {200},
		"200, 202":     {200, 202},
		"200 ,202,204": {200, 202, 204},
		"200-204":      {200, 201, 202, 203, 204},
	}
	for in, codes := range good {
		set, err := ParseExpectedCodes(in)
		if err != nil {
			t.Errorf("ParseExpectedCodes(%q): %v", in, err)
			continue
		}
		n := 0
		for c := 0; c < 1000; c++ {
			if set.Contains(c) {
				n++
			}
		}
		if n != len(codes) {
			t.Errorf("ParseExpectedCodes(%q) has %d codes, want %d", in, n, len(codes))
		}
		for _, c := range codes {
			if !set.Contains(c) {
				t.Errorf("ParseExpectedCodes(%q) lacks %d", in, c)
			}
		}
	}
	for _, in := range []string{"", " 200", "200 ", "20", "2000", "200-", "204-200", "200,202-204", "abc", "200,,202", "200-204-206"} {
		if _, err := ParseExpectedCodes(in); err == nil {
			t.Errorf("ParseExpectedCodes(%q) accepted", in)
		}
	}
}

func TestReloadRefusesAnEmptyFile(t *testing.T) {
	dir := t.TempDir()
	for name, src := range map[string]string{"empty": "", "comment only": "# editing...\n", "cut short": "  \n"} {
		path := dir + "/" + strings.ReplaceAll(name, " ", "-") + ".yaml"
		os.WriteFile(path, []byte(src), 0o644)
		if _, err := LoadFileForReload(path); !errors.Is(err, ErrEmptyFile) {
			t.Errorf("%s file: err = %v, want ErrEmptyFile", name, err)
		}
		if cfg, err := LoadFile(path); err != nil || len(cfg.LoadBalancers) != 0 {
			t.Errorf("%s file at start-up: %v, %v; want an empty config", name, cfg, err)
		}
	}
	path := dir + "/other-keys.yaml"
	os.WriteFile(path, []byte("listeners: []\n"), 0o644)
	if _, err := LoadFileForReload(path); !errors.Is(err, ErrEmptyFile) {
		t.Errorf("file without the key: err = %v, want ErrEmptyFile", err)
	}
	for _, src := range []string{"loadbalancers: []\n", "\"loadbalancers\": []\n", "? loadbalancers\n: []\n"} {
		path := dir + "/explicit.yaml"
		os.WriteFile(path, []byte(src), 0o644)
		if cfg, err := LoadFileForReload(path); err != nil || len(cfg.LoadBalancers) != 0 {
			t.Errorf("explicit empty list on reload (%q): %v, %v; want accepted", src, cfg, err)
		}
	}
}
