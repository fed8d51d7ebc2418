package controlplane_test

import (
	"net/http"
	"strings"
	"testing"
)

// TestPendingIsImmutable holds the data plane's Apply while a change is in
// flight: readers see PENDING_UPDATE, other changes to the load balancer
// get Octavia's 409s, and once the apply returns everything is ACTIVE.
func TestPendingIsImmutable(t *testing.T) {
	e := newEnv(t, "", nil)
	lbID, lID, poolID := tutorial(e, 8080)

	e.dp.mu.Lock()
	e.dp.hold, e.dp.entered = make(chan struct{}), make(chan struct{})
	e.dp.mu.Unlock()
	done := make(chan int)
	go func() {
		code, _ := e.do("PUT", "/v2/lbaas/listeners/"+lID, map[string]any{"listener": map[string]any{"name": "slow"}})
		done <- code
	}()
	<-e.dp.entered

	lb := e.must(http.StatusOK, "GET", "/v2/lbaas/loadbalancers/"+lbID, nil, "loadbalancer")
	l := e.must(http.StatusOK, "GET", "/v2/lbaas/listeners/"+lID, nil, "listener")
	if lb["provisioning_status"] != "PENDING_UPDATE" || l["provisioning_status"] != "PENDING_UPDATE" {
		t.Errorf("during apply: load balancer %v, listener %v; want PENDING_UPDATE", lb["provisioning_status"], l["provisioning_status"])
	}
	e.fault(http.StatusConflict, "Load Balancer "+lbID+" is immutable and cannot be updated.",
		"POST", "/v2/lbaas/pools/"+poolID+"/members", map[string]any{"member": map[string]any{"address": "127.0.0.11", "protocol_port": 80}})
	e.fault(http.StatusConflict, "Invalid state PENDING_UPDATE of loadbalancer resource "+lbID,
		"PUT", "/v2/lbaas/loadbalancers/"+lbID, map[string]any{"loadbalancer": map[string]any{"name": "x"}})
	e.fault(http.StatusConflict, "Invalid state PENDING_UPDATE of loadbalancer resource "+lbID,
		"DELETE", "/v2/lbaas/loadbalancers/"+lbID+"?cascade=true", nil)

	e.dp.mu.Lock()
	close(e.dp.hold)
	e.dp.hold = nil
	e.dp.mu.Unlock()
	if code := <-done; code != http.StatusOK {
		t.Fatalf("the held update answered %d", code)
	}
	lb = e.must(http.StatusOK, "GET", "/v2/lbaas/loadbalancers/"+lbID, nil, "loadbalancer")
	l = e.must(http.StatusOK, "GET", "/v2/lbaas/listeners/"+lID, nil, "listener")
	if lb["provisioning_status"] != "ACTIVE" || l["provisioning_status"] != "ACTIVE" || l["name"] != "slow" {
		t.Errorf("after apply: load balancer %v, listener %v %v", lb["provisioning_status"], l["provisioning_status"], l["name"])
	}
}

// TestApplyFailureChangesNothing: when the data plane refuses a change the
// client gets Octavia's provider error and the state is as before.
func TestApplyFailureChangesNothing(t *testing.T) {
	e := newEnv(t, "", nil)
	lbID, _, _ := tutorial(e, 8080)
	n := e.dp.applies()
	e.dp.mu.Lock()
	e.dp.fail = errRefused
	e.dp.mu.Unlock()
	e.fault(http.StatusInternalServerError, "Provider 'amphora' reports error: listen tcp 127.0.0.1:80: bind: address already in use",
		"POST", "/v2/lbaas/listeners", map[string]any{"listener": map[string]any{"protocol": "HTTP", "protocol_port": 80, "loadbalancer_id": lbID}})
	code, body := e.do("GET", "/v2/lbaas/listeners", nil)
	if code != http.StatusOK || len(body["listeners"].([]any)) != 1 {
		t.Errorf("after a refused create: %d %v; want the one listener", code, body)
	}
	lb := e.must(http.StatusOK, "GET", "/v2/lbaas/loadbalancers/"+lbID, nil, "loadbalancer")
	if lb["provisioning_status"] != "ACTIVE" {
		t.Errorf("load balancer left %v", lb["provisioning_status"])
	}
	if e.dp.applies() != n {
		t.Errorf("a refused apply was recorded")
	}
	if _, fault := e.do("POST", "/v2/lbaas/loadbalancers", lbBody("x")); !strings.Contains(str(fault, "faultcode"), "Server") {
		t.Errorf("5xx faultcode = %v, want Server", fault["faultcode"])
	}
}
