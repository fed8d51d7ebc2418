package octavia

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestSanitizeL7Policy(t *testing.T) {
	s := func(v string) *string { return &v }
	act := func(a L7Action) *L7Action { return &a }
	code := func(c int) *int { return &c }
	for _, c := range []struct {
		name   string
		in     L7PolicyArgs
		create bool
		err    string
		action L7Action
		check  func(a *L7PolicyArgs) string
	}{
		{name: "url needs its target", in: L7PolicyArgs{Action: act(L7RedirectToURL)}, create: true,
			err: "Invalid L7 Policy arguments: redirect_url must not be None"},
		{name: "pool needs its target", in: L7PolicyArgs{Action: act(L7RedirectToPool), RedirectPoolID: s("")}, create: true,
			err: "Invalid L7 Policy arguments: redirect_pool_id or redirect_pool must not be None"},
		{name: "prefix needs its target", in: L7PolicyArgs{Action: act(L7RedirectPrefix)}, create: true,
			err: "Invalid L7 Policy arguments: redirect_prefix must not be None"},
		{name: "pool and prefix", in: L7PolicyArgs{Action: act(L7RedirectPrefix), RedirectPrefix: s("http://a"), RedirectPoolID: s("p")}, create: true,
			err: "Invalid L7 Policy arguments: Cannot specify redirect_pool_id and redirect_url or redirect_prefix at the same time"},
		{name: "pool action drops a url", in: L7PolicyArgs{Action: act(L7RedirectToPool), RedirectURL: s("http://a"), RedirectPoolID: s("p"), RedirectHTTPCode: code(301)}, create: true,
			action: L7RedirectToPool, check: func(a *L7PolicyArgs) string {
				if *a.RedirectURL != "" || *a.RedirectHTTPCode != 0 {
					return "url or code kept"
				}
				return ""
			}},
		{name: "reject with a prefix is a prefix redirect", in: L7PolicyArgs{Action: act(L7Reject), RedirectPrefix: s("https://a")}, create: true,
			action: L7RedirectPrefix, check: func(a *L7PolicyArgs) string {
				if *a.RedirectHTTPCode != 302 {
					return fmt.Sprint("code ", *a.RedirectHTTPCode)
				}
				return ""
			}},
		{name: "prefix action with a url is a url redirect", in: L7PolicyArgs{Action: act(L7RedirectPrefix), RedirectPrefix: s("https://a"), RedirectURL: s("https://b")}, create: true,
			action: L7RedirectToURL},
		{name: "reject keeps a code", in: L7PolicyArgs{Action: act(L7Reject), RedirectHTTPCode: code(301)}, create: true,
			action: L7Reject, check: func(a *L7PolicyArgs) string {
				if *a.RedirectHTTPCode != 301 {
					return "code changed"
				}
				return ""
			}},
		{name: "update with a url alone", in: L7PolicyArgs{RedirectURL: s("http://x/")}, action: L7RedirectToURL,
			check: func(a *L7PolicyArgs) string {
				if *a.RedirectHTTPCode != 302 || a.RedirectPoolID == nil || *a.RedirectPoolID != "" {
					return "not sanitized"
				}
				return ""
			}},
		{name: "update with an action alone", in: L7PolicyArgs{Action: act(L7RedirectToURL)}, err: "Invalid L7 Policy arguments: redirect_url must not be None"},
		{name: "empty update", in: L7PolicyArgs{}, err: "Invalid L7 Policy arguments: Invalid update options"},
		{name: "name-only update", in: L7PolicyArgs{Others: 1}},
		{name: "bad url", in: L7PolicyArgs{Action: act(L7RedirectToURL), RedirectURL: s("ftp://x")}, create: true, err: "Not a valid URL: ftp://x"},
	} {
		t.Run(c.name, func(t *testing.T) {
			a := c.in
			err := a.Sanitize(c.create)
			if c.err != "" {
				if err == nil || err.Error() != c.err {
					t.Fatalf("err %v, want %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.action != "" && (a.Action == nil || *a.Action != c.action) {
				t.Errorf("action %v, want %s", a.Action, c.action)
			}
			if c.check != nil {
				if msg := c.check(&a); msg != "" {
					t.Error(msg)
				}
			}
		})
	}
}

func TestL7RuleCheck(t *testing.T) {
	for _, c := range []struct {
		rule L7Rule
		err  string
	}{
		{L7Rule{Type: L7Path, CompareType: L7StartsWith, Value: "/api"}, ""},
		{L7Rule{Type: L7Path, CompareType: L7StartsWith, Value: "/a b"}, "Error parsing L7Rule: Invalid characters in comparison value"},
		{L7Rule{Type: L7Path, CompareType: L7EqualTo, Value: `"/a b"`}, ""},
		{L7Rule{Type: L7HostName, CompareType: L7Regex, Value: "("}, "Error parsing L7Rule: Unable to parse regular expression: missing closing ): `(`"},
		{L7Rule{Type: L7Path, CompareType: L7Regex, Value: `(a)\1`}, "Error parsing L7Rule: Unable to parse regular expression: invalid escape sequence: `\\1`"},
		{L7Rule{Type: L7Path, CompareType: L7Regex, Value: "a\tb"}, "Error parsing L7Rule: Unable to parse regular expression: contains control characters"},
		{L7Rule{Type: L7FileType, CompareType: L7StartsWith, Value: "jpg"}, "Error parsing L7Rule: Invalid L7 Rule: invalid comparison type for rule type"},
		{L7Rule{Type: L7FileType, CompareType: L7EqualTo, Value: "jpg"}, ""},
		{L7Rule{Type: L7Header, CompareType: L7EqualTo, Value: "x"}, "Error parsing L7Rule: Invalid L7 Rule: L7 rule type requires a key"},
		{L7Rule{Type: L7Header, CompareType: L7EqualTo, Key: "X Y", Value: "x"}, "Error parsing L7Rule: Invalid characters in key"},
		{L7Rule{Type: L7Header, CompareType: L7EqualTo, Key: "X,Y", Value: "x"}, ""}, // Octavia's class has the range +-.
		{L7Rule{Type: L7Header, CompareType: L7Contains, Key: "X", Value: "a;b"}, ""},
		{L7Rule{Type: L7Cookie, CompareType: L7Contains, Key: "c", Value: "a;b"}, "Error parsing L7Rule: Invalid characters in cookie value"},
		{L7Rule{Type: L7Cookie, CompareType: L7EqualTo, Key: "c", Value: ""}, "Error parsing L7Rule: Invalid L7 Rule: L7 rule type requires a value"},
		{L7Rule{Type: L7SSLConnHasCert, CompareType: L7EqualTo, Value: "TRUE"}, ""},
		{L7Rule{Type: L7SSLConnHasCert, CompareType: L7EqualTo, Value: "yes"}, "Error parsing L7Rule: Invalid L7 Rule: L7rule value yes is not a boolean True string."},
		{L7Rule{Type: L7SSLConnHasCert, CompareType: L7EqualTo, Key: "k", Value: "true"}, `Error parsing L7Rule: Invalid L7 Rule: L7rule type SSL_CONN_HAS_CERT does not use the "key" field.`},
		{L7Rule{Type: L7SSLConnHasCert, CompareType: L7Contains, Value: "true"}, "Error parsing L7Rule: Invalid L7 Rule: L7rule type SSL_CONN_HAS_CERT only supports the EQUAL_TO compare type."},
		{L7Rule{Type: L7SSLVerifyResult, CompareType: L7EqualTo, Value: "-1"}, "Error parsing L7Rule: Invalid L7 Rule: L7rule type SSL_VERIFY_RESULT needs a int value, which is >= 0"},
		{L7Rule{Type: L7SSLDNField, CompareType: L7EqualTo, Key: "1CN", Value: "x"}, "Error parsing L7Rule: Invalid L7 Rule: Invalid L7rule distinguished name field."},
		{L7Rule{Type: L7SSLDNField, CompareType: L7Regex, Key: "CN", Value: "^a.*"}, ""},
	} {
		err := c.rule.Check()
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != c.err {
			t.Errorf("%+v: %q, want %q", c.rule, got, c.err)
		}
	}
}

func TestL7PolicyPositions(t *testing.T) {
	l := &Listener{}
	add := func(name string, pos int) {
		p := &L7Policy{Name: name}
		if pos > 0 {
			p.Position = &pos
		}
		l.InsertL7Policy(p)
	}
	order := func() string {
		var s []string
		for i, p := range l.L7Policies {
			if *p.Position != i+1 {
				t.Errorf("%s at %d has position %d", p.Name, i, *p.Position)
			}
			s = append(s, p.Name)
		}
		return strings.Join(s, ",")
	}
	add("a", 0)
	add("b", 0)
	add("c", 1)
	add("d", 99)
	add("e", 4)
	if got := order(); got != "c,a,b,e,d" {
		t.Errorf("after inserts: %s", got)
	}
	l.MoveL7Policy(0, 3) // c to position 3
	if got := order(); got != "a,b,c,e,d" {
		t.Errorf("after move: %s", got)
	}
	l.MoveL7Policy(0, 100)
	if got := order(); got != "b,c,e,d,a" {
		t.Errorf("after move past the end: %s", got)
	}
}

const l7Config = `loadbalancers:
  - name: lb
    listeners:
      - name: web
        protocol: HTTP
        protocol_port: 8080
        default_pool: {name: main, protocol: HTTP, lb_algorithm: ROUND_ROBIN}
        l7policies:
          - name: api
            action: REDIRECT_TO_POOL
            redirect_pool: {name: api}
            rules:
              - {type: PATH, compare_type: STARTS_WITH, value: /api}
          - name: static
            action: REDIRECT_TO_POOL
            position: 1
            redirect_pool:
              name: static
              protocol: HTTP
              lb_algorithm: ROUND_ROBIN
              members: [{address: 127.0.0.1, protocol_port: 9000}]
            rules:
              - {type: FILE_TYPE, compare_type: EQUAL_TO, value: png}
          - name: https
            action: REDIRECT_PREFIX
            redirect_prefix: https://example.com
            rules:
              - {type: HEADER, key: X-Forwarded-Proto, compare_type: EQUAL_TO, value: http}
    pools:
      - {name: api, protocol: HTTP, lb_algorithm: ROUND_ROBIN}
`

func TestL7ConfigNormalized(t *testing.T) {
	cfg, err := Parse("l7.yaml", []byte(l7Config))
	if err != nil {
		t.Fatal(err)
	}
	lb := cfg.LoadBalancers[0]
	l := lb.Listeners[0]
	var names []string
	for _, p := range l.L7Policies {
		names = append(names, fmt.Sprintf("%s@%d", p.Name, *p.Position))
		if p.ListenerID != l.ID || p.ID == "" || p.RedirectPool != nil {
			t.Errorf("policy %s not normalized: %+v", p.Name, p)
		}
	}
	if got := strings.Join(names, " "); got != "static@1 api@2 https@3" {
		t.Errorf("policies: %s", got)
	}
	static := lb.PoolByID(l.L7Policies[0].RedirectPoolID)
	api := lb.PoolByID(l.L7Policies[1].RedirectPoolID)
	if static == nil || static.Name != "static" || api == nil || api.Name != "api" {
		t.Errorf("redirect pools: %+v %+v", static, api)
	}
	if c := l.L7Policies[2].RedirectHTTPCode; c == nil || *c != 302 {
		t.Errorf("prefix redirect code %v, want 302", c)
	}
	again, _ := Parse("l7.yaml", []byte(l7Config))
	for i, p := range again.LoadBalancers[0].Listeners[0].L7Policies {
		if p.ID != l.L7Policies[i].ID || p.Rules[0].ID != l.L7Policies[i].Rules[0].ID {
			t.Errorf("policy %s: IDs differ between loads", p.Name)
		}
	}
}

func TestL7ConfigErrors(t *testing.T) {
	for _, c := range []struct {
		edit, want string
	}{
		{"value: /api}", `l7.yaml:13: loadbalancers[0].listeners[0].l7policies[0].rules[0]: Error parsing L7Rule: Unable to parse regular expression`},
		{"compare_type: EQUAL_TO, value: png}", `l7.yaml:23: loadbalancers[0].listeners[0].l7policies[1].rules[0].compare_type: "SIMILAR": Value should be one of`},
		{"action: REDIRECT_PREFIX", `l7.yaml:25: loadbalancers[0].listeners[0].l7policies[2].action: "REJECT": the redirect fields given make this a REDIRECT_PREFIX policy`},
		{"redirect_pool: {name: api}", `l7.yaml:11: loadbalancers[0].listeners[0].l7policies[0].redirect_pool.name: "nope": pool was referenced but no full definition`},
		{"protocol_port: 8080", `loadbalancers[0].listeners[0].l7policies[0]: Provider 'amphora' does not support a requested option: TCP protocol listeners do not support L7 policies`},
		{"rules:\n              - {type: PATH", `l7.yaml:12: loadbalancers[0].listeners[0].l7policies[0].rulez: unknown field for an L7 policy; did you mean "rules"?`},
	} {
		var src string
		switch c.edit {
		case "value: /api}":
			src = strings.Replace(l7Config, "compare_type: STARTS_WITH, value: /api}", "compare_type: REGEX, value: '(api'}", 1)
		case "compare_type: EQUAL_TO, value: png}":
			src = strings.Replace(l7Config, c.edit, "compare_type: SIMILAR, value: png}", 1)
		case "action: REDIRECT_PREFIX":
			src = strings.Replace(l7Config, c.edit, "action: REJECT", 1)
		case "redirect_pool: {name: api}":
			src = strings.Replace(l7Config, c.edit, "redirect_pool: {name: nope}", 1)
		case "protocol_port: 8080":
			src = strings.Replace(strings.Replace(l7Config, "protocol: HTTP\n        protocol_port", "protocol: TCP\n        protocol_port", 1), "default_pool: {name: main, protocol: HTTP", "default_pool: {name: main, protocol: TCP", 1)
		default:
			src = strings.Replace(l7Config, c.edit, "rulez:\n              - {type: PATH", 1)
		}
		_, err := Parse("l7.yaml", []byte(src))
		var ve *ValidationError
		if !errors.As(err, &ve) {
			t.Errorf("%s: %v", c.edit, err)
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got\n%v\nwant it to contain\n%s", c.edit, err, c.want)
		}
	}
}
