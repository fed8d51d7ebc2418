package octavia

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestTutorialConfigValidates(t *testing.T) {
	cfg, err := LoadFile("../../configs/tutorial.yaml")
	if err != nil {
		t.Fatalf("configs/tutorial.yaml: %v", err)
	}
	lb := cfg.Target()
	if lb == nil || lb.Name != "lb1" {
		t.Fatalf("Target() = %+v, want lb1", lb)
	}
	pool := lb.ListenerPool(lb.Listeners[0])
	if pool == nil || pool.Name != "pool1" || len(pool.Members) != 0 {
		t.Fatalf("pool1 = %+v, want a pool without members (they come from the servers)", pool)
	}
	if hm := pool.HealthMonitor; hm.Type != MonitorPING || *hm.Delay != 5 || *hm.Timeout != 10 || hm.MaxRetries != 4 {
		t.Errorf("monitor = %s delay %d timeout %d retries %d", hm.Type, *hm.Delay, *hm.Timeout, hm.MaxRetries)
	}
	o := cfg.OpenStack
	if o == nil || o.Servers == nil {
		t.Fatal("openstack.servers missing")
	}
	if got := o.Servers.ServerNames(); !slices.Equal(got, []string{"Server1", "Server2"}) {
		t.Errorf("ServerNames() = %v", got)
	}
	if o.SecurityGroup != "security-httpd" || o.FloatingIPNetwork != "External" || o.VIPSubnet != "Internal2-subnet" {
		t.Errorf("openstack = %+v", o)
	}
	if m := o.Servers.Members; len(m) != 1 || m[0].Pool != "pool1" || m[0].ProtocolPort != 80 {
		t.Errorf("servers.members = %+v", m)
	}
}

// A file without an openstack: section is unaffected by it.
func TestNoOpenStackSection(t *testing.T) {
	cfg, err := LoadFile("../../configs/lbd.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.OpenStack != nil {
		t.Errorf("OpenStack = %+v, want nil", cfg.OpenStack)
	}
}

func TestOpenStackSectionErrors(t *testing.T) {
	const lbs = `
loadbalancers:
  - name: lb1
    listeners:
      - {name: l1, protocol: HTTP, protocol_port: 80, default_pool: {name: pool1, protocol: HTTP, lb_algorithm: ROUND_ROBIN}}
`
	const servers = `
  servers: {count: 2, name: "S%d", image: img, flavor: f, network: net, members: [{pool: pool1, protocol_port: 80}]}
`
	tests := []struct {
		name string
		src  string
		want []string // each must appear in one error line
	}{
		{"no vip", lbs + "openstack: {}\n",
			[]string{"openstack.vip_subnet: is required unless the load balancer gives vip_subnet_id"}},
		{"two vips", strings.Replace(lbs, "name: lb1", "name: lb1\n    vip_subnet_id: 5a0e5d2c-5b1e-4f7e-9b59-7f1c5a0f2c11", 1) + "openstack: {vip_subnet: s}\n",
			[]string{`openstack.vip_subnet: "s": give exactly one of`}},
		{"unknown lb", lbs + "openstack: {loadbalancer: lb9, vip_subnet: s}\n",
			[]string{`openstack.loadbalancer: "lb9": must name a load balancer`}},
		{"unknown field", lbs + "openstack: {vip_subnet: s, floatingip_network: ext}\n",
			[]string{`:6: openstack.floatingip_network: unknown field for the openstack: section; did you mean "floating_ip_network"?`}},
		{"count", lbs + "openstack:\n  vip_subnet: s" + strings.Replace(servers, "count: 2", "count: 0", 1),
			[]string{"openstack.servers.count: 0: must be between 1 and 100"}},
		{"pattern", lbs + "openstack:\n  vip_subnet: s" + strings.Replace(servers, `"S%d"`, "S", 1),
			[]string{`openstack.servers.name: "S": must contain %d when count is more than 1`}},
		{"required", lbs + "openstack:\n  vip_subnet: s\n  servers: {count: 1, name: s1}\n",
			[]string{"openstack.servers.image: is required", "openstack.servers.flavor: is required", "openstack.servers.network: is required"}},
		{"pool", lbs + "openstack:\n  vip_subnet: s" + strings.Replace(servers, "pool: pool1", "pool: pool2", 1),
			[]string{`openstack.servers.members[0].pool: "pool2": must name a pool of load balancer "lb1"`}},
		{"port", lbs + "openstack:\n  vip_subnet: s" + strings.Replace(servers, "protocol_port: 80", "protocol_port: 0", 1),
			[]string{"openstack.servers.members[0].protocol_port: is required"}},
		{"count type", lbs + "openstack:\n  vip_subnet: s" + strings.Replace(servers, "count: 2", "count: two", 1),
			[]string{`openstack.servers.count: "two": must be an integer`}},
		{"two lbs", lbs + "  - {name: lb2}\nopenstack: {vip_subnet: s}\n",
			[]string{"openstack.loadbalancer: is required"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("x.yaml", []byte(tt.src))
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("err = %v, want a *ValidationError", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not mention %q:\n%v", w, err)
				}
			}
		})
	}
}
