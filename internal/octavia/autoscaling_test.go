package octavia

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestAutoscalingConfigValidates(t *testing.T) {
	cfg, err := LoadFile("../../configs/tutorial-autoscale.yaml")
	if err != nil {
		t.Fatalf("configs/tutorial-autoscale.yaml: %v", err)
	}
	a := cfg.OpenStack.Autoscaling
	if a == nil || a.Min != 1 || a.Max != 4 || a.Prometheus != "http://127.0.0.1:9090" {
		t.Fatalf("autoscaling = %+v", a)
	}
	if a.Metrics.P95Latency.Value() != 250*time.Millisecond || a.ScaleIn.Stabilization.Value() != 5*time.Minute || a.ScaleIn.Pick != PickNewest {
		t.Errorf("durations or pick not read: %+v", a)
	}
	if cfg.OpenStack.Servers.Count != 0 || len(cfg.OpenStack.Servers.ServerNames()) != 0 {
		t.Errorf("servers.count = %d, want none with autoscaling", cfg.OpenStack.Servers.Count)
	}
}

func TestAutoscalingConfigErrors(t *testing.T) {
	const head = `
loadbalancers:
  - name: lb1
    listeners:
      - {name: l1, protocol: HTTP, protocol_port: 80, default_pool: {name: pool1, protocol: HTTP, lb_algorithm: ROUND_ROBIN}}
openstack:
  vip_subnet: s
  servers: {name: "S%d", image: img, flavor: f, network: net, members: [{pool: pool1, protocol_port: 80}]}
  autoscaling:
`
	const good = `    min: 1
    max: 3
    prometheus: http://127.0.0.1:9090
    metrics: {requests_per_second: 50}
`
	if _, err := Parse("x.yaml", []byte(head+good)); err != nil {
		t.Fatalf("the good config: %v", err)
	}
	tests := []struct {
		name     string
		from, to string // replaced in head+good
		want     []string
	}{
		{"min", "min: 1", "min: 0", []string{"x.yaml:10: openstack.autoscaling.min: 0: must be at least 1"}},
		{"max", "max: 3", "max: 101", []string{"x.yaml:11: openstack.autoscaling.max: 101: must be between 1 and 100"}},
		{"max under min", "min: 1", "min: 5", []string{"openstack.autoscaling.max: 3: must be at least min (5)"}},
		{"prometheus", "http://127.0.0.1:9090", "127.0.0.1:9090", []string{`x.yaml:12: openstack.autoscaling.prometheus: "127.0.0.1:9090": must be an http:// or https:// URL`}},
		{"no prometheus", "    prometheus: http://127.0.0.1:9090\n", "", []string{"openstack.autoscaling.prometheus: is required"}},
		{"no metric", "{requests_per_second: 50}", "{}", []string{"x.yaml:13: openstack.autoscaling.metrics: needs at least one target"}},
		{"duration without unit", "{requests_per_second: 50}", "{p95_latency: 250}", []string{`x.yaml:13: openstack.autoscaling.metrics.p95_latency: "250": must be a duration with its unit`}},
		{"bad duration", "min: 1", "min: 1\n    interval: 5 s", []string{`x.yaml:11: openstack.autoscaling.interval: "5 s": must be a duration with its unit`}},
		{"short interval", "min: 1", "min: 1\n    interval: 1ms", []string{`openstack.autoscaling.interval: "1ms": must be at least 100ms`}},
		{"tolerance", "min: 1", "min: 1\n    tolerance: 1.5", []string{"openstack.autoscaling.tolerance: 1.5: must be at least 0 and less than 1"}},
		{"pick", "min: 1", "min: 1\n    scale_in: {pick: oldest}", []string{`openstack.autoscaling.scale_in.pick: "oldest": must be newest or fewest_connections`}},
		{"pick out", "min: 1", "min: 1\n    scale_out: {pick: newest}", []string{`openstack.autoscaling.scale_out.pick: "newest": applies to scale_in only`}},
		{"step", "min: 1", "min: 1\n    scale_out: {max_step: -1}", []string{"openstack.autoscaling.scale_out.max_step: -1: must be between 1 and 100"}},
		{"unknown field", "min: 1", "min: 1\n    cooldown: 30s", []string{`x.yaml:11: openstack.autoscaling.cooldown: unknown field for openstack.autoscaling`}},
		{"pool", "min: 1", "min: 1\n    pool: pool9", []string{`openstack.autoscaling.pool: "pool9": must be a pool of openstack.servers.members`}},
		{"count", `name: "S%d"`, `count: 2, name: "S%d"`, []string{"openstack.servers.count: 2: is decided by openstack.autoscaling (between min and max): remove it"}},
		{"pattern", `name: "S%d"`, `name: "S"`, []string{`openstack.servers.name: "S": must contain %d with autoscaling`}},
		{"cpu query alone", "{requests_per_second: 50}", "{requests_per_second: 50, cpu_query: up}", []string{"openstack.autoscaling.metrics.cpu_query: \"up\": is used only with cpu_percent"}},
		{"cpu", "{requests_per_second: 50}", "{cpu_percent: 150}", []string{"openstack.autoscaling.metrics.cpu_percent: 150: must be at most 100"}},
		{"weight 0", "protocol_port: 80}", "protocol_port: 80, weight: 0}", []string{"openstack.servers.members[0].weight: 0: must be between 1 and 256 with autoscaling"}},
		{"no members", ", members: [{pool: pool1, protocol_port: 80}]", "", []string{"openstack.autoscaling: needs openstack.servers.members"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := strings.Replace(head+good, tt.from, tt.to, 1)
			if src == head+good {
				t.Fatalf("%q is not in the config", tt.from)
			}
			_, err := Parse("x.yaml", []byte(src))
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
