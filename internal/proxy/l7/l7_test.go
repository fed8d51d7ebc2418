package l7

import (
	"bufio"
	"strings"
	"testing"

	"lbd/internal/proxy/http1"
)

func parse(t testing.TB, raw string) *http1.Head {
	t.Helper()
	var h http1.Head
	if err := h.ReadHead(bufio.NewReader(strings.NewReader(raw))); err != nil {
		t.Fatal(err)
	}
	if err := h.ParseRequest(); err != nil {
		t.Fatal(err)
	}
	return &h
}

func TestRuleSemantics(t *testing.T) {
	req := parse(t, "GET /static/img/logo.PNG?x=/api HTTP/1.1\r\nHost: Example.COM:8080\r\n"+
		"X-List: a, b ,c\r\nX-List: d\r\nCookie: a=1; sess=abc123; b=2\r\nCookie: other=\"q\"\r\n\r\n")
	for _, c := range []struct {
		rule RuleConfig
		want bool
	}{
		{RuleConfig{Fetch: Path, Compare: StartsWith, Value: "/static"}, true},
		{RuleConfig{Fetch: Path, Compare: StartsWith, Value: "/api"}, false}, // the query is not the path
		{RuleConfig{Fetch: Path, Compare: Contains, Value: "img"}, true},
		{RuleConfig{Fetch: Path, Compare: EqualTo, Value: "/static/img/logo.PNG"}, true},
		{RuleConfig{Fetch: Path, Compare: EqualTo, Value: "/static/img/logo.png"}, false}, // case-sensitive
		{RuleConfig{Fetch: Path, Compare: Regex, Value: `^/static/.*\.png$`}, false},
		{RuleConfig{Fetch: Path, Compare: Regex, Value: `(?i)\.png$`}, true},
		{RuleConfig{Fetch: Path, Compare: Regex, Value: `img`}, true}, // unanchored, as -m reg
		{RuleConfig{Fetch: FileType, Compare: EqualTo, Value: "PNG"}, true},
		{RuleConfig{Fetch: FileType, Compare: EqualTo, Value: "jpg"}, false},
		{RuleConfig{Fetch: FileType, Compare: Regex, Value: `^/static`}, true},       // the regex runs on the whole path
		{RuleConfig{Fetch: HostName, Compare: EqualTo, Value: "example.com"}, false}, // the port is part of it
		{RuleConfig{Fetch: HostName, Compare: EqualTo, Value: "example.com:8080"}, true},
		{RuleConfig{Fetch: HostName, Compare: StartsWith, Value: "EXAMPLE"}, true},
		{RuleConfig{Fetch: HostName, Compare: EndsWith, Value: ".com:8080"}, true},
		{RuleConfig{Fetch: HostName, Compare: Contains, Value: "ample.c"}, true},
		{RuleConfig{Fetch: HostName, Compare: Regex, Value: `^example\.com`}, true}, // -i
		{RuleConfig{Fetch: Header, Key: "x-list", Compare: EqualTo, Value: "b"}, true},
		{RuleConfig{Fetch: Header, Key: "X-List", Compare: EqualTo, Value: "d"}, true},
		{RuleConfig{Fetch: Header, Key: "X-List", Compare: EqualTo, Value: "a, b ,c"}, false},
		{RuleConfig{Fetch: Header, Key: "X-List", Compare: EqualTo, Value: "B"}, false},
		{RuleConfig{Fetch: Header, Key: "X-None", Compare: Contains, Value: "a"}, false},
		{RuleConfig{Fetch: Header, Key: "X-None", Compare: Contains, Value: "a", Invert: true}, true},
		{RuleConfig{Fetch: Cookie, Key: "sess", Compare: StartsWith, Value: "abc"}, true},
		{RuleConfig{Fetch: Cookie, Key: "sess", Compare: EqualTo, Value: "abc"}, false},
		{RuleConfig{Fetch: Cookie, Key: "other", Compare: EqualTo, Value: `"q"`}, false}, // a quoted rule value loses its quotes
		{RuleConfig{Fetch: Cookie, Key: "other", Compare: EqualTo, Value: `""q""`}, true},
		{RuleConfig{Fetch: Cookie, Key: "nope", Compare: EqualTo, Value: "x", Invert: true}, true},
		{RuleConfig{Fetch: SSLConnHasCert, Compare: EqualTo, Value: "true"}, false}, // no TLS: no sample
		{RuleConfig{Fetch: SSLConnHasCert, Compare: EqualTo, Value: "true", Invert: true}, true},
		{RuleConfig{Fetch: SSLVerifyResult, Compare: EqualTo, Value: "0"}, false},
		{RuleConfig{Fetch: SSLDNField, Key: "CN", Compare: EqualTo, Value: "x"}, false},
	} {
		tab, err := Compile([]PolicyConfig[int]{{ID: "p", Action: ToPool, Target: 7, Rules: []RuleConfig{c.rule}}})
		if err != nil {
			t.Fatal(err)
		}
		got := tab.Match(req, nil) != nil
		if got != c.want {
			t.Errorf("%+v: matched %v, want %v", c.rule, got, c.want)
		}
	}
}

type fakeTLS struct {
	used   bool
	verify int
	cn     string
}

func (f fakeTLS) ClientCertUsed() bool { return f.used }
func (f fakeTLS) VerifyResult() int    { return f.verify }
func (f fakeTLS) SubjectField(name []byte) ([]byte, bool) {
	if string(name) == "CN" && f.cn != "" {
		return []byte(f.cn), true
	}
	return nil, false
}

func TestSSLRules(t *testing.T) {
	req := parse(t, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	tls := fakeTLS{used: true, verify: 0, cn: "client-1"}
	for _, c := range []struct {
		rule RuleConfig
		want bool
	}{
		{RuleConfig{Fetch: SSLConnHasCert, Compare: EqualTo, Value: "true"}, true},
		{RuleConfig{Fetch: SSLVerifyResult, Compare: EqualTo, Value: "0"}, true},
		{RuleConfig{Fetch: SSLVerifyResult, Compare: EqualTo, Value: "10"}, false},
		{RuleConfig{Fetch: SSLDNField, Key: "CN", Compare: StartsWith, Value: "client-"}, true},
		{RuleConfig{Fetch: SSLDNField, Key: "O", Compare: StartsWith, Value: "x", Invert: true}, true},
	} {
		tab, err := Compile([]PolicyConfig[int]{{ID: "p", Action: ToPool, Rules: []RuleConfig{c.rule}}})
		if err != nil {
			t.Fatal(err)
		}
		if got := tab.Match(req, tls) != nil; got != c.want {
			t.Errorf("%+v: matched %v, want %v", c.rule, got, c.want)
		}
	}
}

// TestTierOrder: REJECT before the redirects before REDIRECT_TO_POOL,
// whatever the positions; within a tier the first position wins; a policy
// without rules never matches.
func TestTierOrder(t *testing.T) {
	any := RuleConfig{Fetch: Path, Compare: StartsWith, Value: "/"}
	api := RuleConfig{Fetch: Path, Compare: StartsWith, Value: "/api"}
	tab, err := Compile([]PolicyConfig[string]{
		{ID: "pool1", Action: ToPool, Target: "a", Rules: []RuleConfig{any}},
		{ID: "norules", Action: Reject},
		{ID: "prefix", Action: RedirectPrefix, Location: "https://x", Rules: []RuleConfig{any}},
		{ID: "url", Action: RedirectURL, Location: "https://y/", Rules: []RuleConfig{any}},
		{ID: "reject", Action: Reject, Rules: []RuleConfig{api}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := tab.Match(parse(t, "GET /api/v1 HTTP/1.1\r\nHost: x\r\n\r\n"), nil); got == nil || got.ID != "reject" {
		t.Errorf("/api matched %v, want reject", got)
	}
	if got := tab.Match(parse(t, "GET /web HTTP/1.1\r\nHost: x\r\n\r\n"), nil); got == nil || got.ID != "prefix" {
		t.Errorf("/web matched %v, want prefix (first of the redirect tier)", got)
	}
	if tab.Len() != 4 {
		t.Errorf("%d policies take part, want 4 (one has no rules)", tab.Len())
	}
}

func TestPathAndURI(t *testing.T) {
	for _, c := range []struct{ target, path, uri string }{
		{"/a/b?c=d", "/a/b", "/a/b?c=d"},
		{"http://h:80/a?x", "/a", "/a?x"},
		{"http://h", "", ""},
		{"*", "", "*"},
	} {
		p, _ := PathOf([]byte(c.target))
		if string(p) != c.path || string(URI([]byte(c.target))) != c.uri {
			t.Errorf("%s: path %q uri %q, want %q %q", c.target, p, URI([]byte(c.target)), c.path, c.uri)
		}
	}
}

// BenchmarkMatchLast is the bench scenario's shape: ten policies of three
// rules each, the request matching only the last. It allocates nothing.
func BenchmarkMatchLast(b *testing.B) {
	tab, req := benchTable(b)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if p := tab.Match(req, nil); p == nil || p.ID != "p9" {
			b.Fatal("no match")
		}
	}
}

func benchTable(b testing.TB) (*Table[int], *http1.Head) {
	var pcs []PolicyConfig[int]
	for i := range 10 {
		pcs = append(pcs, PolicyConfig[int]{ID: "p" + string(rune('0'+i)), Action: ToPool, Target: i, Rules: []RuleConfig{
			{Fetch: HostName, Compare: EqualTo, Value: "shop.example.com"},
			{Fetch: Path, Compare: StartsWith, Value: "/section" + string(rune('0'+i))},
			{Fetch: Header, Key: "X-Tenant", Compare: Regex, Value: "^tenant-[0-9]+$"},
		}})
	}
	tab, err := Compile(pcs)
	if err != nil {
		b.Fatal(err)
	}
	return tab, parse(b, "GET /section9/items?id=4 HTTP/1.1\r\nHost: shop.example.com\r\nUser-Agent: wrk\r\nX-Tenant: tenant-42\r\nAccept: */*\r\n\r\n")
}

func TestMatchAllocatesNothing(t *testing.T) {
	tab, req := benchTable(t)
	if n := testing.AllocsPerRun(100, func() { tab.Match(req, nil) }); n != 0 {
		t.Errorf("Match allocates %.1f times per request, want 0", n)
	}
	cookie := parse(t, "GET / HTTP/1.1\r\nHost: x\r\nCookie: a=1; SRV=abc\r\n\r\n")
	if n := testing.AllocsPerRun(100, func() { CookieValue(cookie, []byte("SRV")) }); n != 0 {
		t.Errorf("CookieValue allocates %.1f times per request, want 0", n)
	}
}
