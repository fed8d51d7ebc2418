package controlplane_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// runSteps sends each step to both sides and compares the answers, as
// TestSideBySideWithOctavia does.
func runSteps(t *testing.T, oct, lbd *side, steps []step) {
	t.Helper()
	for _, st := range steps {
		var ans [2]answer
		for i, s := range []*side{oct, lbd} {
			ans[i] = s.call(t, st.method, s.expand(st.path), s.expand(st.body))
			for k, p := range st.save {
				if id := dig(ans[i].body, p); id != "" {
					s.ids[k] = id
				}
			}
			if s.real && st.wait != "" && s.ids[st.wait] != "" {
				s.waitLB(t, s.ids[st.wait])
			}
			for _, p := range st.present {
				if v := digAny(ans[i].body, p); v == nil {
					t.Errorf("%s: %s has no %s: %s", st.name, s.name, p, ans[i].raw)
				}
			}
		}
		o, l := ans[0], ans[1]
		if o.code != st.code || l.code != st.code {
			t.Errorf("%s: Octavia %d, lbd %d, want %d\nOctavia: %s\nlbd: %s", st.name, o.code, l.code, st.code, o.raw, l.raw)
			continue
		}
		if st.code >= 400 {
			compareFault(t, st, oct, lbd, o, l)
			continue
		}
		if o.body != nil || l.body != nil {
			compare(t, st.name, o.body, l.body, prefixed(st.name, st.quirks))
		}
	}
}

// TestSideBySideCatalog compares flavors, availability zones, their
// profiles, the amphora provider's capabilities, amphorae, SOURCE_IP_PORT
// under the amphora provider, the L7 endpoints and updated_at with the
// peer's real Octavia.
func TestSideBySideCatalog(t *testing.T) {
	requirePeer(t)
	token := peerToken(t)
	subnet := peerSubnet(t, token, "lb-subnet")
	tag := fmt.Sprintf("sbc%d", time.Now().UnixNano()%1000000)
	oct := &side{name: "octavia", base: peerOctavia, token: token, real: true, ids: map[string]string{"subnet": subnet, "tag": tag}}
	lbd := &side{name: "lbd", base: startLBD(t, "127.0.0.78"), token: token, ids: map[string]string{"subnet": subnet, "tag": tag}}
	t.Cleanup(func() { // never leave anything in the shared peer
		for _, k := range []string{"lbf", "lbaz"} {
			if id := oct.ids[k]; id != "" {
				oct.call(t, "DELETE", "/v2/lbaas/loadbalancers/"+id+"?cascade=true", "")
				oct.waitLB(t, id)
			}
		}
		for _, p := range []string{"/v2/lbaas/availabilityzones/" + tag + "-az", "/v2/lbaas/flavors/{f}", "/v2/lbaas/flavors/{f2}",
			"/v2/lbaas/availabilityzoneprofiles/{azp}", "/v2/lbaas/flavorprofiles/{fp}"} {
			if p = oct.expand(p); !strings.Contains(p, "{") {
				oct.call(t, "DELETE", p, "")
			}
		}
	})
	const none = "11111111-2222-3333-4444-555555555555"
	fp := func(provider, data string) string {
		d, _ := json.Marshal(data)
		return `{"flavorprofile": {"name": "{tag}-x", "provider_name": "` + provider + `", "flavor_data": ` + string(d) + `}}`
	}
	// Values an amphora of the no-op driver and one of lbd cannot share:
	// lbd's management address is its API's, its VIP addresses its own,
	// and it has no image, compute flavor or VRRP interface.
	ampQuirks := []string{"amphorae[].lb_network_ip", "amphorae[].vrrp_ip", "amphorae[].ha_ip", "amphorae[].image_id",
		"amphorae[].compute_flavor", "amphorae[].vrrp_interface", "amphorae[].vrrp_priority", "amphorae[].vrrp_id",
		"amphorae[].cert_expiration", "amphorae[].cached_zone"}
	steps := []step{
		{name: "amphora flavor capabilities", method: "GET", path: "/v2/lbaas/providers/amphora/flavor_capabilities", code: 200},
		{name: "amphora zone capabilities", method: "GET", path: "/v2/lbaas/providers/amphora/availability_zone_capabilities", code: 200},
		{name: "capabilities by name", method: "GET", path: "/v2/lbaas/providers/amphora/flavor_capabilities?name=compute_flavor", code: 200},
		{name: "create flavor profile", method: "POST", path: "/v2/lbaas/flavorprofiles", code: 201, save: map[string]string{"fp": "flavorprofile.id"},
			body: `{"flavorprofile": {"name": "{tag}-fp", "provider_name": "amphora", "flavor_data": "{\"loadbalancer_topology\": \"SINGLE\"}"}}`},
		{name: "profile unknown key", method: "POST", path: "/v2/lbaas/flavorprofiles", code: 501, body: fp("amphora", `{"colour": "red"}`)},
		{name: "profile bad topology", method: "POST", path: "/v2/lbaas/flavorprofiles", code: 501, body: fp("amphora", `{"loadbalancer_topology": "TRIPLE"}`)},
		{name: "profile number for a string", method: "POST", path: "/v2/lbaas/flavorprofiles", code: 501, body: fp("amphora", `{"compute_flavor": 5}`)},
		{name: "profile not an object", method: "POST", path: "/v2/lbaas/flavorprofiles", code: 501, body: fp("amphora", `[1]`)},
		{name: "profile not json", method: "POST", path: "/v2/lbaas/flavorprofiles", code: 400, body: fp("amphora", `{nope`)},
		{name: "profile provider not enabled", method: "POST", path: "/v2/lbaas/flavorprofiles", code: 400, body: fp("nope", `{}`)},
		{name: "profile without data", method: "POST", path: "/v2/lbaas/flavorprofiles", code: 400,
			body: `{"flavorprofile": {"name": "{tag}-x", "provider_name": "amphora"}}`},
		{name: "profile null name", method: "PUT", path: "/v2/lbaas/flavorprofiles/{fp}", code: 400, body: `{"flavorprofile": {"name": null}}`},
		{name: "rename profile", method: "PUT", path: "/v2/lbaas/flavorprofiles/{fp}", code: 200, body: `{"flavorprofile": {"name": "{tag}-fp2"}}`},
		{name: "get profile", method: "GET", path: "/v2/lbaas/flavorprofiles/{fp}", code: 200},
		{name: "no such profile", method: "GET", path: "/v2/lbaas/flavorprofiles/" + none, code: 404},
		{name: "create flavor", method: "POST", path: "/v2/lbaas/flavors", code: 201, save: map[string]string{"f": "flavor.id"},
			body: `{"flavor": {"name": "{tag}-f", "flavor_profile_id": "{fp}"}}`},
		{name: "duplicate flavor", method: "POST", path: "/v2/lbaas/flavors", code: 409, body: `{"flavor": {"name": "{tag}-f", "flavor_profile_id": "{fp}"}}`},
		{name: "flavor without profile", method: "POST", path: "/v2/lbaas/flavors", code: 400, body: `{"flavor": {"name": "{tag}-g"}}`},
		{name: "list flavors by name", method: "GET", path: "/v2/lbaas/flavors?name={tag}-f", code: 200},
		{name: "list profiles by name", method: "GET", path: "/v2/lbaas/flavorprofiles?name={tag}-fp2&fields=name", code: 200},
		{name: "change profile in use", method: "PUT", path: "/v2/lbaas/flavorprofiles/{fp}", code: 409, body: `{"flavorprofile": {"flavor_data": "{}"}}`},
		{name: "delete profile in use", method: "DELETE", path: "/v2/lbaas/flavorprofiles/{fp}", code: 409},
		{name: "disable flavor", method: "PUT", path: "/v2/lbaas/flavors/{f}", code: 200, body: `{"flavor": {"description": "d", "enabled": false}}`},
		{name: "lb with disabled flavor", method: "POST", path: "/v2/lbaas/loadbalancers", code: 400,
			body: `{"loadbalancer": {"vip_subnet_id": "{subnet}", "flavor_id": "{f}"}}`},
		{name: "enable flavor", method: "PUT", path: "/v2/lbaas/flavors/{f}", code: 200, body: `{"flavor": {"enabled": true}}`},
		{name: "lb with unknown flavor", method: "POST", path: "/v2/lbaas/loadbalancers", code: 400,
			body: `{"loadbalancer": {"vip_subnet_id": "{subnet}", "flavor_id": "` + none + `"}}`},
		{name: "lb with flavor", method: "POST", path: "/v2/lbaas/loadbalancers", code: 201, wait: "lbf", save: map[string]string{"lbf": "loadbalancer.id"},
			body: `{"loadbalancer": {"name": "{tag}-lbf", "vip_subnet_id": "{subnet}", "flavor_id": "{f}"}}`},
		{name: "lb updated once active", method: "GET", path: "/v2/lbaas/loadbalancers/{lbf}", code: 200, present: []string{"loadbalancer.updated_at"}},
		{name: "delete flavor in use", method: "DELETE", path: "/v2/lbaas/flavors/{f}", code: 409},
		{name: "source ip port under amphora", method: "POST", path: "/v2/lbaas/pools", code: 501,
			body: `{"pool": {"loadbalancer_id": "{lbf}", "protocol": "HTTP", "lb_algorithm": "SOURCE_IP_PORT"}}`},
		{name: "create pool", method: "POST", path: "/v2/lbaas/pools", code: 201, wait: "lbf", save: map[string]string{"pool": "pool.id"},
			body: `{"pool": {"name": "{tag}-p", "loadbalancer_id": "{lbf}", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"}}`},
		{name: "pool updated once active", method: "GET", path: "/v2/lbaas/pools/{pool}", code: 200, present: []string{"pool.updated_at"}},
		{name: "pool to source ip port", method: "PUT", path: "/v2/lbaas/pools/{pool}", code: 501, body: `{"pool": {"lb_algorithm": "SOURCE_IP_PORT"}}`},
		{name: "amphorae of lb", method: "GET", path: "/v2/octavia/amphorae?loadbalancer_id={lbf}", code: 200,
			save: map[string]string{"amp": "amphorae.0.id"}, quirks: ampQuirks},
		{name: "amphora stats without listeners", method: "GET", path: "/v2/octavia/amphorae/{amp}/stats", code: 404},
		{name: "delete allocated amphora", method: "DELETE", path: "/v2/octavia/amphorae/{amp}", code: 409},
		{name: "no such amphora", method: "GET", path: "/v2/octavia/amphorae/" + none, code: 404},
		{name: "configure amphora", method: "PUT", path: "/v2/octavia/amphorae/{amp}/config", code: 202},
		{name: "fail over amphora", method: "PUT", path: "/v2/octavia/amphorae/{amp}/failover", code: 202, wait: "lbf"},
		{name: "amphorae after failover", method: "GET", path: "/v2/octavia/amphorae?loadbalancer_id={lbf}", code: 200,
			save: map[string]string{"amp2": "amphorae.0.id"}, quirks: ampQuirks},
		{name: "no such l7 policy", method: "GET", path: "/v2/lbaas/l7policies/" + none, code: 404},
		// Octavia answers this one with pecan's plain-text 404 page; lbd
		// with its fault body.
		{name: "rules of no such l7 policy", method: "GET", path: "/v2/lbaas/l7policies/" + none + "/rules", code: 404, fault: "code"},
		{name: "l7 policies by name", method: "GET", path: "/v2/lbaas/l7policies?name={tag}-none", code: 200},
		{name: "create zone profile", method: "POST", path: "/v2/lbaas/availabilityzoneprofiles", code: 201, save: map[string]string{"azp": "availability_zone_profile.id"},
			body: `{"availability_zone_profile": {"name": "{tag}-azp", "provider_name": "amphora", "availability_zone_data": "{\"compute_zone\": \"nova\"}"}}`},
		{name: "zone profile wrong type", method: "POST", path: "/v2/lbaas/availabilityzoneprofiles", code: 501,
			body: `{"availability_zone_profile": {"name": "{tag}-x", "provider_name": "amphora", "availability_zone_data": "{\"valid_vip_networks\": \"x\"}"}}`},
		{name: "create zone", method: "POST", path: "/v2/lbaas/availabilityzones", code: 201,
			body: `{"availability_zone": {"name": "{tag}-az", "availability_zone_profile_id": "{azp}"}}`},
		{name: "duplicate zone", method: "POST", path: "/v2/lbaas/availabilityzones", code: 409,
			body: `{"availability_zone": {"name": "{tag}-az", "availability_zone_profile_id": "{azp}"}}`},
		{name: "get zone", method: "GET", path: "/v2/lbaas/availabilityzones/{tag}-az", code: 200},
		{name: "update zone", method: "PUT", path: "/v2/lbaas/availabilityzones/{tag}-az", code: 200, body: `{"availability_zone": {"description": "z"}}`},
		{name: "list zones by name", method: "GET", path: "/v2/lbaas/availabilityzones?name={tag}-az", code: 200},
		{name: "lb in unknown zone", method: "POST", path: "/v2/lbaas/loadbalancers", code: 400,
			body: `{"loadbalancer": {"vip_subnet_id": "{subnet}", "availability_zone": "{tag}-nowhere"}}`},
		{name: "lb in zone", method: "POST", path: "/v2/lbaas/loadbalancers", code: 201, wait: "lbaz", save: map[string]string{"lbaz": "loadbalancer.id"},
			body: `{"loadbalancer": {"name": "{tag}-lbaz", "vip_subnet_id": "{subnet}", "availability_zone": "{tag}-az"}}`},
		{name: "delete zone in use", method: "DELETE", path: "/v2/lbaas/availabilityzones/{tag}-az", code: 409},
		{name: "delete zone profile in use", method: "DELETE", path: "/v2/lbaas/availabilityzoneprofiles/{azp}", code: 409},
		{name: "delete lb in zone", method: "DELETE", path: "/v2/lbaas/loadbalancers/{lbaz}", code: 204, wait: "lbaz"},
		{name: "delete lb with flavor", method: "DELETE", path: "/v2/lbaas/loadbalancers/{lbf}?cascade=true", code: 204, wait: "lbf"},
		{name: "delete zone", method: "DELETE", path: "/v2/lbaas/availabilityzones/{tag}-az", code: 204},
		{name: "delete zone profile", method: "DELETE", path: "/v2/lbaas/availabilityzoneprofiles/{azp}", code: 204},
		{name: "delete flavor", method: "DELETE", path: "/v2/lbaas/flavors/{f}", code: 204},
		{name: "delete profile", method: "DELETE", path: "/v2/lbaas/flavorprofiles/{fp}", code: 204},
	}
	runSteps(t, oct, lbd, steps)
	for _, s := range []*side{oct, lbd} {
		if s.ids["amp"] == "" || s.ids["amp2"] == "" || s.ids["amp"] == s.ids["amp2"] {
			t.Errorf("%s: amphora %q before the failover, %q after: want a new one", s.name, s.ids["amp"], s.ids["amp2"])
		}
	}
}

// TestSideBySideRBAC compares who may do what, with users of the peer's
// Keystone that hold one role each in a project of their own.
func TestSideBySideRBAC(t *testing.T) {
	requirePeer(t)
	admin := peerToken(t)
	tag := fmt.Sprintf("sbr%d", time.Now().UnixNano()%1000000)
	lbdBase := startLBD(t, "127.0.0.79")
	users := map[string]string{}
	for _, role := range []string{"member", "load-balancer_member", "load-balancer_observer"} {
		users[role] = peerUserToken(t, admin, tag+"-"+role, role)
	}
	for _, c := range []struct {
		role, method, path string
		code               int
	}{
		// Keystone's member (which implies reader) is no load-balancer role.
		{"member", "GET", "/v2/lbaas/loadbalancers", 403},
		{"member", "GET", "/v2/lbaas/pools", 403},
		{"member", "GET", "/v2/lbaas/flavors", 403},
		{"member", "GET", "/v2/lbaas/providers", 403},
		{"load-balancer_member", "GET", "/v2/lbaas/loadbalancers", 200},
		{"load-balancer_member", "GET", "/v2/lbaas/flavors", 200},
		{"load-balancer_member", "GET", "/v2/lbaas/availabilityzones", 200},
		{"load-balancer_member", "GET", "/v2/lbaas/providers", 200},
		{"load-balancer_member", "GET", "/v2/lbaas/flavorprofiles", 403},
		{"load-balancer_member", "GET", "/v2/lbaas/providers/amphora/flavor_capabilities", 403},
		{"load-balancer_member", "GET", "/v2/octavia/amphorae", 403},
		{"load-balancer_member", "POST", "/v2/lbaas/flavors", 403},
		{"load-balancer_observer", "GET", "/v2/lbaas/healthmonitors", 200},
		{"load-balancer_observer", "GET", "/v2/lbaas/flavors", 200},
		{"load-balancer_observer", "GET", "/v2/lbaas/l7policies", 200},
	} {
		body := ""
		if c.method == "POST" {
			body = `{"flavor": {"name": "` + tag + `", "flavor_profile_id": "11111111-2222-3333-4444-555555555555"}}`
		}
		oct := &side{name: "octavia", base: peerOctavia, token: users[c.role], real: true}
		lbd := &side{name: "lbd", base: lbdBase, token: users[c.role]}
		o, l := oct.call(t, c.method, c.path, body), lbd.call(t, c.method, c.path, body)
		if o.code != c.code || l.code != c.code {
			t.Errorf("%s %s as %s: Octavia %d, lbd %d, want %d", c.method, c.path, c.role, o.code, l.code, c.code)
		}
	}
}

// peerRole returns the ID of the peer Keystone's role of that name,
// creating it when the peer lacks it: the peer makes only some of
// Octavia's roles (load-balancer_observer is not among them), as
// scripts/tempest.sh finds too. A role another test created meanwhile
// (409) is read back.
func peerRole(t *testing.T, ks func(method, path, body string, want int) map[string]any, role string) string {
	t.Helper()
	roles, _ := ks("GET", "/roles?name="+role, "", 200)["roles"].([]any)
	if len(roles) == 0 {
		s := &side{name: "keystone", base: peerKeystone, token: peerToken(t)}
		if a := s.call(t, "POST", "/roles", `{"role": {"name": "`+role+`"}}`); a.code != 201 && a.code != 409 {
			t.Fatalf("keystone: create role %s: %d: %s", role, a.code, a.raw)
		}
		roles, _ = ks("GET", "/roles?name="+role, "", 200)["roles"].([]any)
	}
	if len(roles) != 1 {
		t.Fatalf("role %s: %v", role, roles)
	}
	return str(roles[0].(map[string]any), "id")
}

// peerUserToken creates, in the peer's Keystone, a project and a user
// holding role in it (both removed when the test ends), and returns the
// user's token scoped to the project.
func peerUserToken(t *testing.T, admin, name, role string) string {
	t.Helper()
	ks := func(method, path, body string, want int) map[string]any {
		t.Helper()
		s := &side{name: "keystone", base: peerKeystone, token: admin}
		a := s.call(t, method, path, body)
		if a.code != want {
			t.Fatalf("keystone %s %s: %d: %s", method, path, a.code, a.raw)
		}
		m, _ := a.body.(map[string]any)
		return m
	}
	project := dig(ks("POST", "/projects", `{"project": {"name": "`+name+`", "domain_id": "default"}}`, 201), "project.id")
	t.Cleanup(func() { ks("DELETE", "/projects/"+project, "", 204) })
	user := dig(ks("POST", "/users", `{"user": {"name": "`+name+`", "password": "`+name+`", "domain_id": "default"}}`, 201), "user.id")
	t.Cleanup(func() { ks("DELETE", "/users/"+user, "", 204) })
	ks("PUT", "/projects/"+project+"/users/"+user+"/roles/"+peerRole(t, ks, role), "", 204)
	body := `{"auth": {"identity": {"methods": ["password"], "password": {"user": {"id": "` + user + `", "password": "` + name + `"}}},
		"scope": {"project": {"id": "` + project + `"}}}}`
	resp, err := http.Post(peerKeystone+"/auth/tokens", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("token for %s: %s", name, resp.Status)
	}
	return resp.Header.Get("X-Subject-Token")
}

// digAny follows a dotted path (numbers index lists) and returns the value
// there, nil if absent or null.
func digAny(v any, path string) any {
	for _, k := range strings.Split(path, ".") {
		switch x := v.(type) {
		case map[string]any:
			v = x[k]
		case []any:
			var i int
			if _, err := fmt.Sscan(k, &i); err != nil || i >= len(x) {
				return nil
			}
			v = x[i]
		default:
			return nil
		}
	}
	return v
}
