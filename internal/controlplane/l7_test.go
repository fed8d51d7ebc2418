package controlplane_test

import (
	"fmt"
	"net/http"
	"testing"
)

// TestL7Lifecycle: what the side-by-side run with Octavia leaves out
// (it would take a minute of Octavia's asynchronous creates): the 50-rule
// cap, policies and rules kept across a restart with their positions, the
// data plane given them, inline rules on a policy create (Octavia 11
// answers those with a 500), a listener created with policies inline, and
// cascades.
func TestL7Lifecycle(t *testing.T) {
	dir := t.TempDir()
	e := newEnv(t, dir, nil)
	lb := e.must(http.StatusCreated, "POST", "/v2/lbaas/loadbalancers", fullLB("l7", 8080), "loadbalancer")
	listener := str(lb["listeners"].([]any)[0].(map[string]any), "id")
	pool := str(lb["pools"].([]any)[0].(map[string]any), "id")

	p1 := e.must(http.StatusCreated, "POST", "/v2/lbaas/l7policies", map[string]any{"l7policy": map[string]any{
		"listener_id": listener, "action": "REDIRECT_TO_POOL", "redirect_pool_id": pool,
		"rules": []any{map[string]any{"type": "PATH", "compare_type": "STARTS_WITH", "value": "/api"}},
	}}, "l7policy")
	if rules := p1["rules"].([]any); len(rules) != 1 {
		t.Fatalf("inline rules: %v", p1["rules"])
	}
	id := str(p1, "id")
	for i := range 49 {
		e.must(http.StatusCreated, "POST", "/v2/lbaas/l7policies/"+id+"/rules",
			map[string]any{"rule": map[string]any{"type": "HEADER", "key": fmt.Sprintf("X-%d", i), "compare_type": "EQUAL_TO", "value": "v"}}, "rule")
	}
	e.fault(http.StatusConflict, "Too many rules on L7 policy "+id, "POST", "/v2/lbaas/l7policies/"+id+"/rules",
		map[string]any{"rule": map[string]any{"type": "PATH", "compare_type": "EQUAL_TO", "value": "/x"}})
	p2 := e.must(http.StatusCreated, "POST", "/v2/lbaas/l7policies", map[string]any{"l7policy": map[string]any{
		"listener_id": listener, "action": "REJECT", "position": 1}}, "l7policy")

	// The data plane has both, in order.
	cfg := e.dp.last()
	ps := cfg.LoadBalancers[0].Listeners[0].L7Policies
	if len(ps) != 2 || ps[0].ID != str(p2, "id") || ps[1].ID != id || len(ps[1].Rules) != 50 || *ps[1].Position != 2 {
		t.Fatalf("data plane policies: %+v", ps)
	}

	// A restart keeps them, with their IDs and positions.
	e.cp.Close()
	e2 := newEnv(t, dir, nil)
	got := e2.must(http.StatusOK, "GET", "/v2/lbaas/l7policies/"+id, nil, "l7policy")
	if got["position"] != 2.0 || len(got["rules"].([]any)) != 50 {
		t.Errorf("after a restart: %v", got)
	}
	l := e2.must(http.StatusOK, "GET", "/v2/lbaas/listeners/"+listener, nil, "listener")
	if refs := l["l7policies"].([]any); len(refs) != 2 || str(refs[0].(map[string]any), "id") != str(p2, "id") {
		t.Errorf("listener's policies after a restart: %v", l["l7policies"])
	}

	// A listener created with its policies inline.
	l2 := e2.must(http.StatusCreated, "POST", "/v2/lbaas/listeners", map[string]any{"listener": map[string]any{
		"loadbalancer_id": str(lb, "id"), "protocol": "HTTP", "protocol_port": 8081,
		"l7policies": []any{map[string]any{"action": "REDIRECT_TO_URL", "redirect_url": "https://example.com/",
			"rules": []any{map[string]any{"type": "HOST_NAME", "compare_type": "EQUAL_TO", "value": "old.example.com"}}}},
	}}, "listener")
	refs := l2["l7policies"].([]any)
	if len(refs) != 1 {
		t.Fatalf("inline policies of a listener: %v", l2)
	}
	inline := e2.must(http.StatusOK, "GET", "/v2/lbaas/l7policies/"+str(refs[0].(map[string]any), "id"), nil, "l7policy")
	if inline["redirect_http_code"] != 302.0 || inline["position"] != 1.0 || len(inline["rules"].([]any)) != 1 {
		t.Errorf("inline policy: %v", inline)
	}

	// Deleting the listener takes its policies and rules along.
	e2.must(http.StatusNoContent, "DELETE", "/v2/lbaas/listeners/"+listener, nil, "")
	e2.fault(http.StatusNotFound, "L7 Policy "+id+" not found.", "GET", "/v2/lbaas/l7policies/"+id, nil)
	if _, m := e2.do("GET", "/v2/lbaas/l7policies", nil); len(m["l7policies"].([]any)) != 1 {
		t.Errorf("policies left: %v", m)
	}
	// The cascade takes the rest.
	e2.must(http.StatusNoContent, "DELETE", "/v2/lbaas/loadbalancers/"+str(lb, "id")+"?cascade=true", nil, "")
	if _, m := e2.do("GET", "/v2/lbaas/l7policies", nil); len(m["l7policies"].([]any)) != 0 {
		t.Errorf("policies after the cascade: %v", m)
	}
}
