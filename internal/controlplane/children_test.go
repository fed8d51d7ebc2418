package controlplane_test

import (
	"fmt"
	"net/http"
	"testing"
)

// tutorial builds the tutorial's objects one call at a time and returns
// their IDs: load balancer, listener, pool.
func tutorial(e *env, port int) (lbID, listenerID, poolID string) {
	e.t.Helper()
	lb := e.must(http.StatusCreated, "POST", "/v2/lbaas/loadbalancers", lbBody("lb1"), "loadbalancer")
	lbID = str(lb, "id")
	l := e.must(http.StatusCreated, "POST", "/v2/lbaas/listeners", map[string]any{"listener": map[string]any{
		"name": "listener1", "protocol": "HTTP", "protocol_port": port, "loadbalancer_id": lbID}}, "listener")
	listenerID = str(l, "id")
	p := e.must(http.StatusCreated, "POST", "/v2/lbaas/pools", map[string]any{"pool": map[string]any{
		"name": "pool1", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN", "listener_id": listenerID}}, "pool")
	poolID = str(p, "id")
	return lbID, listenerID, poolID
}

func TestListener(t *testing.T) {
	e := newEnv(t, "", nil)
	lbID, lID, poolID := tutorial(e, 8080)
	l := e.must(http.StatusOK, "GET", "/v2/lbaas/listeners/"+lID, nil, "listener")
	for k, want := range map[string]any{
		"protocol": "HTTP", "protocol_port": float64(8080), "connection_limit": float64(-1),
		"timeout_client_data": float64(50000), "default_pool_id": poolID, "client_authentication": "NONE",
	} {
		if l[k] != want {
			t.Errorf("listener %s = %v, want %v", k, l[k], want)
		}
	}
	if lbs := l["loadbalancers"].([]any); len(lbs) != 1 || lbs[0].(map[string]any)["id"] != lbID {
		t.Errorf("listener loadbalancers = %v", l["loadbalancers"])
	}
	list := e.must(http.StatusOK, "GET", "/v2/lbaas/listeners?loadbalancer_id="+lbID, nil, "")
	if n := len(list["listeners"].([]any)); n != 1 {
		t.Errorf("listeners of the load balancer: %d", n)
	}
	if _, ok := list["listeners"].([]any)[0].(map[string]any)["loadbalancer_id"]; ok {
		t.Errorf("filter-only attribute loadbalancer_id leaked into the answer")
	}

	e.fault(http.StatusConflict, "Another Listener on this Load Balancer is already using protocol HTTP and protocol_port 8080",
		"POST", "/v2/lbaas/listeners", map[string]any{"listener": map[string]any{"protocol": "TCP", "protocol_port": 8080, "loadbalancer_id": lbID}})
	e.fault(http.StatusBadRequest, "Invalid input for field/attribute protocol_port. Value: '70000'.",
		"POST", "/v2/lbaas/listeners", map[string]any{"listener": map[string]any{"protocol": "HTTP", "protocol_port": 70000, "loadbalancer_id": lbID}})
	e.fault(http.StatusBadRequest, "Invalid input for field/attribute protocol. Value: 'None'. Mandatory field missing.",
		"POST", "/v2/lbaas/listeners", map[string]any{"listener": map[string]any{"protocol_port": 81, "loadbalancer_id": lbID}})
	e.fault(http.StatusBadRequest, "Invalid input for field/attribute loadbalancer_id. Value: 'None'. Mandatory field missing.",
		"POST", "/v2/lbaas/listeners", map[string]any{"listener": map[string]any{"protocol": "HTTP", "protocol_port": 81}})
	e.fault(http.StatusNotFound, "Load Balancer 11111111-2222-3333-4444-555555555555 not found.",
		"POST", "/v2/lbaas/listeners", map[string]any{"listener": map[string]any{"protocol": "HTTP", "protocol_port": 81,
			"loadbalancer_id": "11111111-2222-3333-4444-555555555555"}})
	e.fault(http.StatusBadRequest, "Unknown attribute for argument listener_.listener: protocol",
		"PUT", "/v2/lbaas/listeners/"+lID, map[string]any{"listener": map[string]any{"protocol": "TCP"}})

	// A second load balancer on the same VIP cannot take the port either.
	lb2 := e.must(http.StatusCreated, "POST", "/v2/lbaas/loadbalancers", lbBody("lb2"), "loadbalancer")
	e.fault(http.StatusConflict, "already using TCP port 8080 on VIP address 127.0.0.1",
		"POST", "/v2/lbaas/listeners", map[string]any{"listener": map[string]any{"protocol": "HTTP", "protocol_port": 8080, "loadbalancer_id": str(lb2, "id")}})

	up := e.must(http.StatusOK, "PUT", "/v2/lbaas/listeners/"+lID, map[string]any{"listener": map[string]any{
		"connection_limit": 100, "timeout_client_data": 1000, "name": "renamed"}}, "listener")
	if up["connection_limit"] != float64(100) || up["timeout_client_data"] != float64(1000) || up["name"] != "renamed" {
		t.Errorf("after update: %v", up)
	}
	// null resets to the default, as Octavia does.
	up = e.must(http.StatusOK, "PUT", "/v2/lbaas/listeners/"+lID, `{"listener": {"connection_limit": null}}`, "listener")
	if up["connection_limit"] != float64(-1) || up["timeout_client_data"] != float64(1000) {
		t.Errorf("after null connection_limit: %v", up)
	}
	if got := *e.dp.last().LoadBalancers[0].Listeners[0].TimeoutClientData; got != 1000 {
		t.Errorf("data plane timeout_client_data = %d, want 1000", got)
	}
	if code, _ := e.do("DELETE", "/v2/lbaas/listeners/"+lID, nil); code != http.StatusNoContent {
		t.Fatalf("DELETE listener: %d", code)
	}
	p := e.must(http.StatusOK, "GET", "/v2/lbaas/pools/"+poolID, nil, "pool")
	if ls := p["listeners"].([]any); len(ls) != 0 {
		t.Errorf("pool still lists deleted listener: %v", ls)
	}
}

func TestPool(t *testing.T) {
	e := newEnv(t, "", nil)
	lbID, lID, poolID := tutorial(e, 8080)
	p := e.must(http.StatusOK, "GET", "/v2/lbaas/pools/"+poolID, nil, "pool")
	if ls := p["listeners"].([]any); len(ls) != 1 || ls[0].(map[string]any)["id"] != lID {
		t.Errorf("pool listeners = %v", p["listeners"])
	}
	if p["healthmonitor_id"] != nil || len(p["members"].([]any)) != 0 || p["session_persistence"] != nil {
		t.Errorf("new pool: %v", p)
	}
	e.fault(http.StatusConflict, "This listener already has a default pool", "POST", "/v2/lbaas/pools",
		map[string]any{"pool": map[string]any{"protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN", "listener_id": lID}})
	e.fault(http.StatusBadRequest, "The pool protocol 'UDP' is invalid while the listener protocol is 'HTTP'.", "POST", "/v2/lbaas/pools",
		map[string]any{"pool": map[string]any{"protocol": "UDP", "lb_algorithm": "ROUND_ROBIN", "listener_id": lID}})
	e.fault(http.StatusBadRequest, "Must provide at least one of: loadbalancer_id, listener_id", "POST", "/v2/lbaas/pools",
		map[string]any{"pool": map[string]any{"protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"}})
	e.fault(http.StatusBadRequest, "lb_algorithm", "POST", "/v2/lbaas/pools",
		map[string]any{"pool": map[string]any{"protocol": "HTTP", "lb_algorithm": "RANDOM", "loadbalancer_id": lbID}})

	// An unattached pool, then attach it by updating a listener.
	p2 := e.must(http.StatusCreated, "POST", "/v2/lbaas/pools", map[string]any{"pool": map[string]any{
		"protocol": "TCP", "lb_algorithm": "LEAST_CONNECTIONS", "loadbalancer_id": lbID}}, "pool")
	l2 := e.must(http.StatusCreated, "POST", "/v2/lbaas/listeners", map[string]any{"listener": map[string]any{
		"protocol": "TCP", "protocol_port": 8443, "loadbalancer_id": lbID, "default_pool_id": str(p2, "id")}}, "listener")
	if l2["default_pool_id"] != str(p2, "id") {
		t.Errorf("listener default_pool_id = %v", l2["default_pool_id"])
	}
	up := e.must(http.StatusOK, "PUT", "/v2/lbaas/pools/"+poolID, map[string]any{"pool": map[string]any{"lb_algorithm": "SOURCE_IP"}}, "pool")
	if up["lb_algorithm"] != "SOURCE_IP" {
		t.Errorf("lb_algorithm after update = %v", up["lb_algorithm"])
	}
	if code, _ := e.do("DELETE", "/v2/lbaas/pools/"+str(p2, "id"), nil); code != http.StatusNoContent {
		t.Fatalf("DELETE pool: %d", code)
	}
	l2 = e.must(http.StatusOK, "GET", "/v2/lbaas/listeners/"+str(l2, "id"), nil, "listener")
	if l2["default_pool_id"] != nil {
		t.Errorf("listener keeps deleted default pool %v", l2["default_pool_id"])
	}
	e.fault(http.StatusNotFound, "Pool "+str(p2, "id")+" not found.", "GET", "/v2/lbaas/pools/"+str(p2, "id"), nil)
}

func TestMembers(t *testing.T) {
	e := newEnv(t, "", nil)
	_, _, poolID := tutorial(e, 8080)
	base := "/v2/lbaas/pools/" + poolID + "/members"
	m := e.must(http.StatusCreated, "POST", base, map[string]any{"member": map[string]any{
		"address": "127.0.0.11", "protocol_port": 8081, "subnet_id": subnet}}, "member")
	for k, want := range map[string]any{"weight": float64(1), "backup": false, "admin_state_up": true,
		"operating_status": "NO_MONITOR", "subnet_id": subnet, "monitor_port": nil} {
		if m[k] != want {
			t.Errorf("member %s = %v, want %v", k, m[k], want)
		}
	}
	e.fault(http.StatusConflict, "Another member on this pool is already using ip 127.0.0.11 on protocol_port 8081",
		"POST", base, map[string]any{"member": map[string]any{"address": "127.0.0.11", "protocol_port": 8081}})
	e.fault(http.StatusBadRequest, "weight", "POST", base, map[string]any{"member": map[string]any{"address": "127.0.0.12", "protocol_port": 8082, "weight": 300}})
	e.fault(http.StatusBadRequest, "Unknown attribute for argument member_.member: address",
		"PUT", base+"/"+str(m, "id"), map[string]any{"member": map[string]any{"address": "127.0.0.13"}})

	// Drain: weight 0 reaches the data plane.
	up := e.must(http.StatusOK, "PUT", base+"/"+str(m, "id"), map[string]any{"member": map[string]any{"weight": 0}}, "member")
	if up["weight"] != float64(0) {
		t.Errorf("weight after drain = %v", up["weight"])
	}
	if w := *e.dp.last().LoadBalancers[0].Pools[0].Members[0].Weight; w != 0 {
		t.Errorf("data plane weight = %d, want 0", w)
	}

	// Batch: replace the set; the kept member keeps its ID.
	if code, body := e.do("PUT", base, map[string]any{"members": []any{
		map[string]any{"address": "127.0.0.11", "protocol_port": 8081, "weight": 5},
		map[string]any{"address": "127.0.0.12", "protocol_port": 8082},
	}}); code != http.StatusAccepted {
		t.Fatalf("batch update: %d %v", code, body)
	}
	list := e.must(http.StatusOK, "GET", base, nil, "")["members"].([]any)
	if len(list) != 2 {
		t.Fatalf("after batch: %d members, want 2", len(list))
	}
	byAddr := map[string]map[string]any{}
	for _, x := range list {
		mm := x.(map[string]any)
		byAddr[str(mm, "address")] = mm
	}
	if kept := byAddr["127.0.0.11"]; kept == nil || kept["id"] != m["id"] || kept["weight"] != float64(5) {
		t.Errorf("batch kept member = %v, want ID %v weight 5", kept, m["id"])
	}
	// Additive: nothing removed.
	if code, _ := e.do("PUT", base+"?additive_only=true", map[string]any{"members": []any{
		map[string]any{"address": "127.0.0.13", "protocol_port": 8083}}}); code != http.StatusAccepted {
		t.Fatalf("additive batch: %d", code)
	}
	if n := len(e.must(http.StatusOK, "GET", base, nil, "")["members"].([]any)); n != 3 {
		t.Errorf("after additive batch: %d members, want 3", n)
	}
	// Not additive: only the given ones remain.
	e.do("PUT", base, map[string]any{"members": []any{map[string]any{"address": "127.0.0.13", "protocol_port": 8083}}})
	if n := len(e.must(http.StatusOK, "GET", base, nil, "")["members"].([]any)); n != 1 {
		t.Errorf("after replacing batch: %d members, want 1", n)
	}
	e.fault(http.StatusNotFound, "Member "+str(m, "id")+" not found.", "GET", base+"/"+str(m, "id"), nil)
	e.fault(http.StatusNotFound, "Pool 11111111-2222-3333-4444-555555555555 not found.", "GET", "/v2/lbaas/pools/11111111-2222-3333-4444-555555555555/members", nil)
}

func TestHealthMonitor(t *testing.T) {
	e := newEnv(t, "", nil)
	_, _, poolID := tutorial(e, 8080)
	hm := e.must(http.StatusCreated, "POST", "/v2/lbaas/healthmonitors", map[string]any{"healthmonitor": map[string]any{
		"pool_id": poolID, "type": "PING", "delay": 5, "timeout": 10, "max_retries": 4}}, "healthmonitor")
	if hm["http_method"] != nil || hm["url_path"] != nil || hm["max_retries_down"] != float64(3) || hm["operating_status"] != "ONLINE" {
		t.Errorf("PING monitor = %v", hm)
	}
	if ps := hm["pools"].([]any); len(ps) != 1 || ps[0].(map[string]any)["id"] != poolID {
		t.Errorf("monitor pools = %v", hm["pools"])
	}
	e.fault(http.StatusConflict, "This pool already has a health monitor", "POST", "/v2/lbaas/healthmonitors",
		map[string]any{"healthmonitor": map[string]any{"pool_id": poolID, "type": "TCP", "delay": 5, "timeout": 10, "max_retries": 4}})
	p := e.must(http.StatusOK, "GET", "/v2/lbaas/pools/"+poolID, nil, "pool")
	if p["healthmonitor_id"] != hm["id"] {
		t.Errorf("pool healthmonitor_id = %v", p["healthmonitor_id"])
	}
	e.fault(http.StatusBadRequest, "Unknown attribute for argument health_monitor_.healthmonitor: type",
		"PUT", "/v2/lbaas/healthmonitors/"+str(hm, "id"), map[string]any{"healthmonitor": map[string]any{"type": "TCP"}})
	up := e.must(http.StatusOK, "PUT", "/v2/lbaas/healthmonitors/"+str(hm, "id"),
		map[string]any{"healthmonitor": map[string]any{"delay": 2, "max_retries_down": 5}}, "healthmonitor")
	if up["delay"] != float64(2) || up["max_retries_down"] != float64(5) {
		t.Errorf("after update = %v", up)
	}
	list := e.must(http.StatusOK, "GET", "/v2/lbaas/healthmonitors?pool_id="+poolID, nil, "")
	if n := len(list["healthmonitors"].([]any)); n != 1 {
		t.Errorf("monitors of pool: %d", n)
	}
	if code, _ := e.do("DELETE", "/v2/lbaas/healthmonitors/"+str(hm, "id"), nil); code != http.StatusNoContent {
		t.Fatalf("DELETE monitor: %d", code)
	}
	e.fault(http.StatusNotFound, fmt.Sprintf("Health Monitor %s not found.", hm["id"]), "GET", "/v2/lbaas/healthmonitors/"+str(hm, "id"), nil)
	if e.dp.last().LoadBalancers[0].Pools[0].HealthMonitor != nil {
		t.Errorf("data plane still has the monitor")
	}
}

// TestListenerConnectionLogging: lbd's per-listener access-log override is
// accepted through the API under provider lbd, shown, changed and reset by
// PUT, reaches the data plane, and is refused (naming the field) under
// Octavia's amphora provider, whose switch is global.
func TestListenerConnectionLogging(t *testing.T) {
	e := newEnv(t, "", nil)
	lb := e.must(http.StatusCreated, "POST", "/v2/lbaas/loadbalancers", map[string]any{"loadbalancer": map[string]any{
		"name": "logged", "vip_subnet_id": subnet, "provider": "lbd"}}, "loadbalancer")
	l := e.must(http.StatusCreated, "POST", "/v2/lbaas/listeners", map[string]any{"listener": map[string]any{
		"name": "quiet", "protocol": "HTTP", "protocol_port": 8080, "loadbalancer_id": str(lb, "id"),
		"connection_logging": false}}, "listener")
	if l["connection_logging"] != false {
		t.Errorf("created listener connection_logging = %v, want false", l["connection_logging"])
	}
	if got := e.dp.last().LoadBalancers[0].Listeners[0].ConnectionLogging; got == nil || *got {
		t.Errorf("data plane connection_logging = %v, want false", got)
	}
	up := e.must(http.StatusOK, "PUT", "/v2/lbaas/listeners/"+str(l, "id"), map[string]any{"listener": map[string]any{
		"connection_logging": true}}, "listener")
	if up["connection_logging"] != true {
		t.Errorf("updated listener connection_logging = %v, want true", up["connection_logging"])
	}
	up = e.must(http.StatusOK, "PUT", "/v2/lbaas/listeners/"+str(l, "id"), `{"listener": {"connection_logging": null}}`, "listener")
	if _, ok := up["connection_logging"]; ok {
		t.Errorf("after null, connection_logging is still shown: %v", up["connection_logging"])
	}

	amp := e.must(http.StatusCreated, "POST", "/v2/lbaas/loadbalancers", map[string]any{"loadbalancer": map[string]any{
		"name": "amp", "vip_subnet_id": subnet, "provider": "amphora"}}, "loadbalancer")
	e.fault(http.StatusBadRequest, "connection_logging",
		"POST", "/v2/lbaas/listeners", map[string]any{"listener": map[string]any{"protocol": "HTTP", "protocol_port": 8081,
			"loadbalancer_id": str(amp, "id"), "connection_logging": false}})
}
