package controlplane_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"lbd/internal/octavia/auth"
)

func names(m map[string]any, key string) []string {
	var out []string
	for _, x := range m[key].([]any) {
		out = append(out, str(x.(map[string]any), "name"))
	}
	return out
}

func TestListPagingSortingFields(t *testing.T) {
	e := newEnv(t, "", nil)
	for _, n := range []string{"c", "a", "b"} {
		body := lbBody(n)
		body["loadbalancer"].(map[string]any)["tags"] = []string{"t-" + n, "all"}
		e.must(http.StatusCreated, "POST", "/v2/lbaas/loadbalancers", body, "")
	}
	all := e.must(http.StatusOK, "GET", "/v2/lbaas/loadbalancers", nil, "")
	if got := strings.Join(names(all, "loadbalancers"), ","); got != "c,a,b" {
		t.Errorf("default order (created_at) = %s, want c,a,b", got)
	}
	if links := all["loadbalancers_links"].([]any); len(links) != 0 {
		t.Errorf("a short list has links %v", links)
	}
	byName := e.must(http.StatusOK, "GET", "/v2/lbaas/loadbalancers?sort=name:desc", nil, "")
	if got := strings.Join(names(byName, "loadbalancers"), ","); got != "c,b,a" {
		t.Errorf("sort=name:desc = %s", got)
	}
	page := e.must(http.StatusOK, "GET", "/v2/lbaas/loadbalancers?sort_key=name&limit=2", nil, "")
	if got := strings.Join(names(page, "loadbalancers"), ","); got != "a,b" {
		t.Fatalf("first page = %s, want a,b", got)
	}
	links := page["loadbalancers_links"].([]any)
	if len(links) != 1 || links[0].(map[string]any)["rel"] != "next" {
		t.Fatalf("first page links = %v, want one next", links)
	}
	next, err := url.Parse(links[0].(map[string]any)["href"].(string))
	if err != nil || next.Path != "/v2/lbaas/loadbalancers" || next.Query().Get("limit") != "2" || next.Query().Get("sort_key") != "name" {
		t.Fatalf("next link %v", links[0])
	}
	page2 := e.must(http.StatusOK, "GET", next.RequestURI(), nil, "")
	if got := strings.Join(names(page2, "loadbalancers"), ","); got != "c" {
		t.Errorf("second page = %s, want c", got)
	}
	links2 := page2["loadbalancers_links"].([]any)
	if len(links2) != 1 || links2[0].(map[string]any)["rel"] != "previous" {
		t.Errorf("second page links = %v, want one previous", links2)
	}

	sel := e.must(http.StatusOK, "GET", "/v2/lbaas/loadbalancers?name=a&fields=id&fields=name", nil, "")["loadbalancers"].([]any)
	if len(sel) != 1 || len(sel[0].(map[string]any)) != 2 {
		t.Errorf("fields=id&fields=name: %v", sel)
	}
	if got := names(e.must(http.StatusOK, "GET", "/v2/lbaas/loadbalancers?tags=t-a,all", nil, ""), "loadbalancers"); fmt.Sprint(got) != "[a]" {
		t.Errorf("tags=t-a,all: %v", got)
	}
	if got := names(e.must(http.StatusOK, "GET", "/v2/lbaas/loadbalancers?not-tags-any=t-a,t-b", nil, ""), "loadbalancers"); fmt.Sprint(got) != "[c]" {
		t.Errorf("not-tags-any=t-a,t-b: %v", got)
	}
	if got := names(e.must(http.StatusOK, "GET", "/v2/lbaas/loadbalancers?admin_state_up=True&provisioning_status=ACTIVE", nil, ""), "loadbalancers"); len(got) != 3 {
		t.Errorf("admin_state_up=True: %v", got)
	}
	e.fault(http.StatusBadRequest, "One or more arguments are either duplicate or invalid", "GET", "/v2/lbaas/loadbalancers?colour=red", nil)
	e.fault(http.StatusBadRequest, "Supplied sort key 'colour' is not valid.", "GET", "/v2/lbaas/loadbalancers?sort=colour", nil)
	e.fault(http.StatusBadRequest, "Supplied sort direction 'sideways' is not valid.", "GET", "/v2/lbaas/loadbalancers?sort=name:sideways", nil)
	e.fault(http.StatusBadRequest, "Supplied pagination limit 'abc' is not valid.", "GET", "/v2/lbaas/loadbalancers?limit=abc", nil)
	e.fault(http.StatusBadRequest, "Supplied pagination marker 'nope' is not valid.", "GET", "/v2/lbaas/loadbalancers?marker=nope", nil)
}

func TestVersionDocument(t *testing.T) {
	e := newEnvAuth(t, "", nil, tokens{})
	doc := e.must(http.StatusOK, "GET", "/", nil, "") // public: no token
	vs := doc["versions"].([]any)
	last := vs[len(vs)-1].(map[string]any)
	if last["id"] != "v2.26" || last["status"] != "CURRENT" {
		t.Errorf("current version = %v", last)
	}
	href := last["links"].([]any)[0].(map[string]any)["href"]
	if href != e.srv.URL+"/v2" {
		t.Errorf("version link = %v, want %s/v2", href, e.srv.URL)
	}
}

// tokens is a test authenticator: the token names the caller.
type tokens map[string]*auth.Caller

func (tk tokens) Authenticate(_ context.Context, r *http.Request) (*auth.Caller, error) {
	if c, ok := tk[r.Header.Get("X-Auth-Token")]; ok {
		return c, nil
	}
	return nil, auth.ErrInvalidToken
}

func TestPolicy(t *testing.T) {
	tk := tokens{
		"admin":    {ProjectID: "p0", Roles: []string{"admin"}},
		"memberA":  {ProjectID: "pA", Roles: []string{"load-balancer_member", "member", "reader"}},
		"readerA":  {ProjectID: "pA", Roles: []string{"reader"}},
		"memberB":  {ProjectID: "pB", Roles: []string{"load-balancer_member"}},
		"nobodyA":  {ProjectID: "pA", Roles: []string{"other"}},
		"globalOb": {ProjectID: "pX", Roles: []string{"load-balancer_global_observer"}},
	}
	e := newEnvAuth(t, "", nil, tk)
	as := func(tok string) *env { c := *e; c.token = tok; return &c }

	if code, m := as("").do("GET", "/v2/lbaas/loadbalancers", nil); code != http.StatusUnauthorized || m["error"] == nil {
		t.Errorf("no token: %d %v, want keystonemiddleware's 401", code, m)
	}
	if code, _ := as("forged").do("GET", "/v2/lbaas/loadbalancers", nil); code != http.StatusUnauthorized {
		t.Errorf("unknown token: %d, want 401", code)
	}
	lbA := as("memberA").must(http.StatusCreated, "POST", "/v2/lbaas/loadbalancers", lbBody("a"), "loadbalancer")
	if lbA["project_id"] != "pA" || lbA["tenant_id"] != "pA" {
		t.Errorf("project of a member's load balancer = %v / %v, want pA", lbA["project_id"], lbA["tenant_id"])
	}
	as("memberB").must(http.StatusCreated, "POST", "/v2/lbaas/loadbalancers", lbBody("b"), "loadbalancer")

	forbidden := "Policy does not allow this request to be performed."
	as("readerA").fault(http.StatusForbidden, forbidden, "POST", "/v2/lbaas/loadbalancers", lbBody("r"))
	as("nobodyA").fault(http.StatusForbidden, forbidden, "GET", "/v2/lbaas/loadbalancers", nil)
	as("memberB").fault(http.StatusForbidden, forbidden, "GET", "/v2/lbaas/loadbalancers/"+str(lbA, "id"), nil)
	as("memberB").fault(http.StatusForbidden, forbidden, "DELETE", "/v2/lbaas/loadbalancers/"+str(lbA, "id"), nil)
	as("memberB").fault(http.StatusForbidden, forbidden, "GET", "/v2/lbaas/loadbalancers?project_id=pA", nil)
	as("memberA").fault(http.StatusForbidden, forbidden, "POST", "/v2/lbaas/loadbalancers",
		map[string]any{"loadbalancer": map[string]any{"vip_subnet_id": subnet, "project_id": "pB"}})
	// Keystone's reader (implied by member) is no load-balancer role:
	// Octavia's default policy refuses its reads and lists.
	as("readerA").fault(http.StatusForbidden, forbidden, "GET", "/v2/lbaas/loadbalancers/"+str(lbA, "id"), nil)
	as("readerA").fault(http.StatusForbidden, forbidden, "GET", "/v2/lbaas/loadbalancers", nil)
	as("memberA").fault(http.StatusForbidden, forbidden, "PUT", "/v2/lbaas/loadbalancers/"+str(lbA, "id")+"/failover", nil)

	for tok, want := range map[string]string{"memberA": "[a]", "memberB": "[b]", "globalOb": "[a b]", "admin": "[a b]"} {
		got := names(as(tok).must(http.StatusOK, "GET", "/v2/lbaas/loadbalancers", nil, ""), "loadbalancers")
		if fmt.Sprint(got) != want {
			t.Errorf("%s lists %v, want %s", tok, got, want)
		}
	}
	got := names(as("admin").must(http.StatusOK, "GET", "/v2/lbaas/loadbalancers?project_id=pB", nil, ""), "loadbalancers")
	if fmt.Sprint(got) != "[b]" {
		t.Errorf("admin ?project_id=pB lists %v", got)
	}
	as("globalOb").fault(http.StatusForbidden, forbidden, "PUT", "/v2/lbaas/loadbalancers/"+str(lbA, "id"),
		map[string]any{"loadbalancer": map[string]any{"name": "x"}})
	if code, _ := as("admin").do("PUT", "/v2/lbaas/loadbalancers/"+str(lbA, "id")+"/failover", nil); code != http.StatusAccepted {
		t.Errorf("admin failover: %d, want 202", code)
	}
}
