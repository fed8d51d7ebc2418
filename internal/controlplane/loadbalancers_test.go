package controlplane_test

import (
	"fmt"
	"net/http"
	"testing"
)

func TestLoadBalancerLifecycle(t *testing.T) {
	e := newEnv(t, "", nil)
	lb := e.must(http.StatusCreated, "POST", "/v2/lbaas/loadbalancers", lbBody("lb1"), "loadbalancer")
	id := str(lb, "id")
	for k, want := range map[string]any{
		"name": "lb1", "provisioning_status": "ACTIVE", "operating_status": "OFFLINE",
		"vip_address": "127.0.0.1", "vip_subnet_id": subnet, "provider": "amphora", "admin_state_up": true,
	} {
		if lb[k] != want {
			t.Errorf("created %s = %v, want %v", k, lb[k], want)
		}
	}
	// Octavia fills updated_at when the load balancer goes ACTIVE, which
	// in lbd is before the create is answered.
	if lb["created_at"] == nil || lb["updated_at"] == nil {
		t.Errorf("created_at %v updated_at %v: want both once ACTIVE", lb["created_at"], lb["updated_at"])
	}
	if e.dp.last() == nil || len(e.dp.last().LoadBalancers) != 1 || e.dp.last().LoadBalancers[0].ID != id {
		t.Fatalf("data plane got %+v, want the new load balancer", e.dp.last())
	}

	got := e.must(http.StatusOK, "GET", "/v2.0/lbaas/loadbalancers/"+id, nil, "loadbalancer")
	if got["name"] != "lb1" {
		t.Errorf("GET name = %v", got["name"])
	}
	list := e.must(http.StatusOK, "GET", "/v2/lbaas/loadbalancers?name=lb1", nil, "")
	if n := len(list["loadbalancers"].([]any)); n != 1 {
		t.Errorf("filter name=lb1: %d load balancers, want 1", n)
	}
	list = e.must(http.StatusOK, "GET", "/v2/lbaas/loadbalancers?name=other", nil, "")
	if n := len(list["loadbalancers"].([]any)); n != 0 {
		t.Errorf("filter name=other: %d load balancers, want 0", n)
	}

	up := e.must(http.StatusOK, "PUT", "/v2/lbaas/loadbalancers/"+id,
		map[string]any{"loadbalancer": map[string]any{"name": "lb1-renamed", "description": "d"}}, "loadbalancer")
	if up["name"] != "lb1-renamed" || up["description"] != "d" || up["updated_at"] == nil {
		t.Errorf("after update: name %v description %v updated_at %v", up["name"], up["description"], up["updated_at"])
	}
	e.fault(http.StatusBadRequest, "Unknown attribute for argument load_balancer.loadbalancer: vip_address",
		"PUT", "/v2/lbaas/loadbalancers/"+id, map[string]any{"loadbalancer": map[string]any{"vip_address": "127.0.0.2"}})

	if code, _ := e.do("DELETE", "/v2/lbaas/loadbalancers/"+id, nil); code != http.StatusNoContent {
		t.Fatalf("DELETE: %d", code)
	}
	e.fault(http.StatusNotFound, fmt.Sprintf("Load Balancer %s not found.", id), "GET", "/v2/lbaas/loadbalancers/"+id, nil)
	if n := len(e.dp.last().LoadBalancers); n != 0 {
		t.Errorf("data plane still has %d load balancers after delete", n)
	}
}

func TestFullyPopulatedCreate(t *testing.T) {
	e := newEnv(t, "", nil)
	before := e.dp.applies()
	lb := e.must(http.StatusCreated, "POST", "/v2/lbaas/loadbalancers", fullLB("lb1", 8080), "loadbalancer")
	if n := e.dp.applies() - before; n != 1 {
		t.Errorf("a single-call create applied %d times, want 1", n)
	}
	ls := lb["listeners"].([]any)
	pools := lb["pools"].([]any)
	if len(ls) != 1 || len(pools) != 1 {
		t.Fatalf("full answer: %d listeners, %d pools, want 1 and 1", len(ls), len(pools))
	}
	l := ls[0].(map[string]any)
	p := pools[0].(map[string]any)
	if _, ok := l["loadbalancers"]; ok {
		t.Errorf("full listener carries loadbalancers; Octavia leaves it out")
	}
	if l["default_pool_id"] != p["id"] {
		t.Errorf("listener default_pool_id %v, pool id %v", l["default_pool_id"], p["id"])
	}
	if ms := p["members"].([]any); len(ms) != 2 || ms[0].(map[string]any)["address"] != "127.0.0.11" {
		t.Errorf("full pool members = %v", p["members"])
	}
	hm, _ := p["healthmonitor"].(map[string]any)
	if hm == nil || hm["type"] != "HTTP" || hm["max_retries_down"] != float64(3) || hm["url_path"] != "/" {
		t.Errorf("full pool monitor = %v, want the HTTP monitor with defaults", p["healthmonitor"])
	}
	cfg := e.dp.last()
	dl := cfg.LoadBalancers[0]
	if len(dl.Pools) != 1 || dl.Listeners[0].DefaultPoolID != dl.Pools[0].ID || dl.Listeners[0].DefaultPool != nil {
		t.Errorf("data plane config is not normalized: %+v", dl)
	}

	st := e.must(http.StatusOK, "GET", "/v2/lbaas/loadbalancers/"+str(lb, "id")+"/status", nil, "statuses")
	tl := st["loadbalancer"].(map[string]any)["listeners"].([]any)[0].(map[string]any)
	tp := tl["pools"].([]any)[0].(map[string]any)
	for _, key := range []string{"health_monitor", "healthmonitor"} {
		m, _ := tp[key].(map[string]any)
		if m == nil || m["type"] != "HTTP" {
			t.Errorf("status tree pool %s = %v", key, tp[key])
		}
	}
	if ms := tp["members"].([]any); len(ms) != 2 || ms[0].(map[string]any)["operating_status"] != "OFFLINE" {
		t.Errorf("status tree members = %v", tp["members"])
	}
	e.must(http.StatusOK, "GET", "/v2/lbaas/loadbalancers/"+str(lb, "id")+"/statuses", nil, "statuses")

	e.fault(http.StatusBadRequest, "pools must be named", "POST", "/v2/lbaas/loadbalancers", map[string]any{"loadbalancer": map[string]any{
		"name": "lb2", "vip_subnet_id": subnet, "listeners": []any{map[string]any{"protocol": "HTTP", "protocol_port": 8090,
			"default_pool": map[string]any{"protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"}}}}})
}

func TestCascadeDelete(t *testing.T) {
	e := newEnv(t, "", nil)
	lb := e.must(http.StatusCreated, "POST", "/v2/lbaas/loadbalancers", fullLB("lb1", 8080), "loadbalancer")
	id := str(lb, "id")
	e.fault(http.StatusBadRequest, "Validation failure: Cannot delete Load Balancer "+id+" - it has children",
		"DELETE", "/v2/lbaas/loadbalancers/"+id, nil)
	if code, _ := e.do("DELETE", "/v2/lbaas/loadbalancers/"+id+"?cascade=true", nil); code != http.StatusNoContent {
		t.Fatalf("cascade delete: %d", code)
	}
	for _, coll := range []string{"loadbalancers", "listeners", "pools", "healthmonitors"} {
		m := e.must(http.StatusOK, "GET", "/v2/lbaas/"+coll, nil, "")
		if n := len(m[coll].([]any)); n != 0 {
			t.Errorf("after cascade delete, %d %s remain", n, coll)
		}
	}
}

func TestVIPRequired(t *testing.T) {
	e := newEnv(t, "", nil)
	e.fault(http.StatusBadRequest, "Validation failure: VIP must contain one of: vip_port_id, vip_network_id, vip_subnet_id.",
		"POST", "/v2/lbaas/loadbalancers", map[string]any{"loadbalancer": map[string]any{"name": "x"}})
	e.fault(http.StatusBadRequest, "Invalid input for field/attribute vip_subnet_id. Value: 'nope'. Value should be UUID format",
		"POST", "/v2/lbaas/loadbalancers", map[string]any{"loadbalancer": map[string]any{"name": "x", "vip_subnet_id": "nope"}})
	e.fault(http.StatusBadRequest, "Unknown attributes for argument load_balancer.loadbalancer: colour, size",
		"POST", "/v2/lbaas/loadbalancers", map[string]any{"loadbalancer": map[string]any{"vip_subnet_id": subnet, "colour": "red", "size": 1}})
	e.fault(http.StatusBadRequest, "Unknown attribute for argument load_balancer.loadbalancer.listeners: colour",
		"POST", "/v2/lbaas/loadbalancers", map[string]any{"loadbalancer": map[string]any{"vip_subnet_id": subnet,
			"listeners": []any{map[string]any{"protocol": "HTTP", "protocol_port": 81, "colour": 1}}}})
	e.fault(http.StatusBadRequest, "Unknown attribute for argument load_balancer: lb", "POST", "/v2/lbaas/loadbalancers", `{"lb":{}}`)
	e.fault(http.StatusBadRequest, "Request is not in valid JSON format", "POST", "/v2/lbaas/loadbalancers", "nojson")
}
