package reconcile_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/gophercloud/gophercloud/v2/openstack/loadbalancer/v2/l7policies"

	"lbd/internal/controlplane"
	"lbd/internal/lbdtest"
	"lbd/internal/octavia"
	"lbd/internal/octavia/reconcile"
)

// l7Config is a listener with three policies; variant 2 reorders them,
// changes a rule and a redirect, and drops one.
func l7Config(t *testing.T, variant int) *octavia.Config {
	t.Helper()
	policies := `
          - name: api
            action: REDIRECT_TO_POOL
            redirect_pool: {name: api}
            rules: [{type: PATH, compare_type: STARTS_WITH, value: /api}]
          - name: old
            action: REDIRECT_TO_URL
            redirect_url: https://example.com/new
            rules: [{type: PATH, compare_type: EQUAL_TO, value: /old}]
          - name: deny
            action: REJECT
            rules:
              - {type: HEADER, key: X-Bad, compare_type: EQUAL_TO, value: "1"}
              - {type: HOST_NAME, compare_type: ENDS_WITH, value: .example.com}`
	if variant == 2 {
		policies = `
          - name: old
            action: REDIRECT_PREFIX
            redirect_prefix: https://example.org
            redirect_http_code: 308
            rules: [{type: PATH, compare_type: EQUAL_TO, value: /old}]
          - name: api
            action: REDIRECT_TO_POOL
            redirect_pool: {name: api}
            rules: [{type: PATH, compare_type: STARTS_WITH, value: /api/v2}]`
	}
	cfg, err := octavia.Parse("l7.yaml", []byte(fmt.Sprintf(`
loadbalancers:
  - name: l7
    vip_address: 127.0.0.122
    pools:
      - {name: web, protocol: HTTP, lb_algorithm: ROUND_ROBIN, session_persistence: {type: HTTP_COOKIE}}
      - {name: api, protocol: HTTP, lb_algorithm: ROUND_ROBIN}
    listeners:
      - name: http
        protocol: HTTP
        protocol_port: 18081
        default_pool: {name: web}
        l7policies:%s
`, policies)))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestApplyL7 converges a listener's L7 policies and rules, and pools'
// session persistence: created after the load balancer, in the file's
// order; nothing to do the second time; a reordered, changed file moves,
// updates and replaces what differs, and --prune deletes the policy the
// file dropped.
func TestApplyL7(t *testing.T) {
	ctx := context.Background()
	l := lbdtest.Start(t, controlplane.Options{})
	c := reconcile.NewDirect(l.URL, "")
	opts := reconcile.Options{VIPSubnetID: "8ced0346-1b20-4993-b175-66a23fc579f3"}
	if _, err := c.Apply(ctx, l7Config(t, 1), opts); err != nil {
		t.Fatal(err)
	}
	policies := func() string {
		t.Helper()
		lb, err := c.LoadBalancer(ctx, "l7")
		if err != nil {
			t.Fatal(err)
		}
		ls, _ := c.Listeners(ctx, lb.ID)
		pages, err := l7policies.List(c.SC, l7policies.ListOpts{ListenerID: ls[0].ID}).AllPages(ctx)
		if err != nil {
			t.Fatal(err)
		}
		ps, _ := l7policies.ExtractL7Policies(pages)
		out := make([]string, len(ps))
		for _, p := range ps {
			rp, _ := l7policies.ListRules(c.SC, p.ID, l7policies.ListRulesOpts{}).AllPages(ctx)
			rules, _ := l7policies.ExtractRules(rp)
			var rs []string
			for _, r := range rules {
				rs = append(rs, r.RuleType+" "+r.Value)
			}
			out[p.Position-1] = fmt.Sprintf("%s %s %s%s%d [%s]", p.Name, p.Action, p.RedirectURL, p.RedirectPrefix, p.RedirectHttpCode, strings.Join(rs, ", "))
		}
		return strings.Join(out, "; ")
	}
	want1 := "api REDIRECT_TO_POOL 0 [PATH /api]; old REDIRECT_TO_URL https://example.com/new302 [PATH /old]; deny REJECT 0 [HEADER 1, HOST_NAME .example.com]"
	if got := policies(); got != want1 {
		t.Fatalf("after the first apply:\n%s\nwant\n%s", got, want1)
	}
	served := l.RT.Config().LoadBalancers[0]
	web := served.ListenerPool(served.Listeners[0])
	if len(served.Listeners[0].L7Policies) != 3 || web.SessionPersistence == nil || web.SessionPersistence.Type != octavia.PersistenceHTTPCookie {
		t.Errorf("the data plane serves policies %d, persistence %+v", len(served.Listeners[0].L7Policies), web.SessionPersistence)
	}
	cs, err := c.Apply(ctx, l7Config(t, 1), reconcile.Options{})
	if err != nil || len(cs) != 0 {
		t.Fatalf("second apply: %s, %v; want nothing to do", changes(cs), err)
	}

	cs, err = c.Apply(ctx, l7Config(t, 2), reconcile.Options{Prune: true})
	if err != nil {
		t.Fatalf("apply of the changed file: %v (%s)", err, changes(cs))
	}
	want2 := "old REDIRECT_PREFIX https://example.org308 [PATH /old]; api REDIRECT_TO_POOL 0 [PATH /api/v2]"
	if got := policies(); got != want2 {
		t.Errorf("after the changed file (%s):\n%s\nwant\n%s", changes(cs), got, want2)
	}
	if cs, err := c.Apply(ctx, l7Config(t, 2), reconcile.Options{Prune: true}); err != nil || len(cs) != 0 {
		t.Errorf("apply again: %s, %v; want nothing to do", changes(cs), err)
	}
}
