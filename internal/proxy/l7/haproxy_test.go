package l7

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestAgainstHAProxy holds the matcher to the amphora's own engine: random
// sets of policies are rendered as Octavia renders them for HAProxy
// (macros.j2: an ACL per rule, "http-request deny", "redirect", and
// "use_backend" lines in position order, values escaped as
// _escape_haproxy_config_string does), a real HAProxy answers a set of
// requests, and for each the policy HAProxy applied must be the one Match
// returns.
func TestAgainstHAProxy(t *testing.T) {
	bin, err := exec.LookPath("haproxy")
	if err != nil {
		t.Fatal("haproxy is not installed (scripts/ensure-deps.sh test installs it)")
	}
	rng := rand.New(rand.NewPCG(17, 2026))
	requests := []string{
		"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n",
		"GET /api/v1/items?id=3 HTTP/1.1\r\nHost: api.example.com\r\n\r\n",
		"GET /API/v1 HTTP/1.1\r\nHost: API.Example.com:8080\r\n\r\n",
		"GET /static/logo.png HTTP/1.1\r\nHost: www.example.com\r\nCookie: sess=abc123; lang=en\r\n\r\n",
		"GET /static/app.js?v=2 HTTP/1.1\r\nHost: www.example.com\r\nX-Tenant: tenant-7\r\n\r\n",
		"GET /img/a.jpg HTTP/1.1\r\nHost: img.example.org\r\nX-Tenant: blue, tenant-9\r\n\r\n",
		"POST /api/login HTTP/1.1\r\nHost: example.com\r\nContent-Length: 0\r\nCookie: lang=fr\r\nCookie: sess=zzz\r\n\r\n",
		"GET /admin HTTP/1.1\r\nHost: admin.example.com\r\nX-Admin: yes\r\nX-Forwarded-Proto: http\r\n\r\n",
		"GET /search?q=/api HTTP/1.1\r\nHost: example.com\r\nX-Forwarded-Proto: https\r\n\r\n",
		"GET http://proxy.example.com/api/abs HTTP/1.1\r\nHost: proxy.example.com\r\n\r\n",
		"GET /a%20b/c.PNG HTTP/1.1\r\nHost: EXAMPLE.COM\r\nUser-Agent: curl/8\r\n\r\n",
		"HEAD /health HTTP/1.1\r\nHost: 192.0.2.10\r\nX-Tenant: tenant-\r\n\r\n",
		"GET /e HTTP/1.1\r\nHost: x\r\nX-Empty:\r\nCookie: s=\r\n\r\n",
		"GET /e HTTP/1.1\r\nHost: x\r\nX-Empty: a,,b\r\nCookie: u=2; s=\r\n\r\n",
		"GET /e HTTP/1.1\r\nHost: x\r\nX-Empty: a\r\nCookie: u=2;s=\r\n\r\n",
	}
	rules := []RuleConfig{
		{Fetch: Path, Compare: StartsWith, Value: "/api"},
		{Fetch: Path, Compare: StartsWith, Value: "/static"},
		{Fetch: Path, Compare: EqualTo, Value: "/admin"},
		{Fetch: Path, Compare: Contains, Value: "login"},
		{Fetch: Path, Compare: EndsWith, Value: ".png"},
		{Fetch: Path, Compare: Regex, Value: `^/(img|static)/[a-z]+\.(jpg|png)$`},
		{Fetch: Path, Compare: Regex, Value: `v[0-9]`},
		{Fetch: FileType, Compare: EqualTo, Value: "js"},
		{Fetch: FileType, Compare: Regex, Value: `\.PNG$`},
		{Fetch: HostName, Compare: EqualTo, Value: "example.com"},
		{Fetch: HostName, Compare: EqualTo, Value: "api.example.com:8080"},
		{Fetch: HostName, Compare: StartsWith, Value: "API."},
		{Fetch: HostName, Compare: EndsWith, Value: ".example.org"},
		{Fetch: HostName, Compare: Contains, Value: "admin"},
		{Fetch: HostName, Compare: Regex, Value: `^www\.example\.COM$`},
		{Fetch: Header, Key: "X-Tenant", Compare: Regex, Value: `^tenant-[0-9]+$`},
		{Fetch: Header, Key: "x-tenant", Compare: EqualTo, Value: "blue"},
		{Fetch: Header, Key: "X-Forwarded-Proto", Compare: EqualTo, Value: "http"},
		{Fetch: Header, Key: "User-Agent", Compare: StartsWith, Value: "curl"},
		{Fetch: Header, Key: "X-Admin", Compare: Contains, Value: "e"},
		{Fetch: Cookie, Key: "sess", Compare: EqualTo, Value: "abc123"},
		{Fetch: Cookie, Key: "sess", Compare: StartsWith, Value: "z"},
		{Fetch: Cookie, Key: "lang", Compare: Regex, Value: `^(en|de)$`},
		{Fetch: Header, Key: "X-Empty", Compare: Regex, Value: "^$"},
		{Fetch: Cookie, Key: "s", Compare: Regex, Value: "^$"},
		{Fetch: SSLConnHasCert, Compare: EqualTo, Value: "TRUE"},
		{Fetch: SSLDNField, Key: "CN", Compare: EqualTo, Value: "x"},
	}
	actions := []Action{Reject, RedirectURL, RedirectPrefix, ToPool}
	dir := t.TempDir()
	for round := range 20 {
		var pcs []PolicyConfig[string]
		for i := range 1 + rng.IntN(8) {
			pc := PolicyConfig[string]{ID: fmt.Sprintf("p%d", i), Action: actions[rng.IntN(len(actions))], Code: 302}
			pc.Location = "http://redirect.test/" + pc.ID
			pc.Target = pc.ID
			for range rng.IntN(4) { // a policy may have no rules
				r := rules[rng.IntN(len(rules))]
				r.Invert = rng.IntN(4) == 0
				pc.Rules = append(pc.Rules, r)
			}
			pcs = append(pcs, pc)
		}
		tab, err := Compile(pcs)
		if err != nil {
			t.Fatal(err)
		}
		addr := startHAProxy(t, bin, dir, round, pcs)
		for _, raw := range requests {
			want := haproxyVerdict(t, addr, raw)
			got := "default"
			if p := tab.Match(parse(t, raw), nil); p != nil {
				got = p.ID
			}
			if got != want {
				t.Errorf("round %d, %q:\nlbd applies %s, HAProxy %s; policies:\n%s", round, strings.SplitN(raw, "\r\n", 2)[0], got, want, describe(pcs))
			}
		}
	}
}

func describe(pcs []PolicyConfig[string]) string {
	var b strings.Builder
	for _, pc := range pcs {
		fmt.Fprintf(&b, "  %s action %d rules %+v\n", pc.ID, pc.Action, pc.Rules)
	}
	return b.String()
}

// renderHAProxy writes the frontend Octavia's template renders for the
// policies, with a backend per policy that names it.
func renderHAProxy(port int, pcs []PolicyConfig[string]) string {
	fetch := map[Fetch]string{Path: "path", FileType: "path_end", HostName: "req.hdr(host) -i", Header: "req.hdr(%s)",
		Cookie: "req.cook(%s)", SSLConnHasCert: "ssl_c_used", SSLVerifyResult: "ssl_c_verify eq", SSLDNField: "ssl_c_s_dn(%s)"}
	method := map[Compare]string{Regex: "-m reg", StartsWith: "-m beg", EndsWith: "-m end", Contains: "-m sub", EqualTo: "-m str"}
	esc := strings.NewReplacer(`\`, `\\`, " ", `\ `)
	var b strings.Builder
	fmt.Fprintf(&b, "global\n  nbthread 1\ndefaults\n  mode http\n  timeout connect 5s\n  timeout client 10s\n  timeout server 10s\n")
	fmt.Fprintf(&b, "frontend fe\n  bind 127.0.0.1:%d\n", port)
	for _, pc := range pcs {
		if len(pc.Rules) == 0 {
			continue // Octavia renders only policies with rules
		}
		var conds []string
		for i, r := range pc.Rules {
			id := fmt.Sprintf("%s_r%d", pc.ID, i)
			f := fetch[r.Fetch]
			if strings.Contains(f, "%s") {
				f = fmt.Sprintf(f, r.Key)
			}
			switch {
			case r.Fetch == SSLConnHasCert:
				fmt.Fprintf(&b, "  acl %s %s\n", id, f)
			case r.Fetch == SSLVerifyResult:
				fmt.Fprintf(&b, "  acl %s %s %s\n", id, f, r.Value)
			case r.Fetch == FileType && r.Compare == EqualTo:
				// Octavia 17's rendering (the fix of LP #2066165).
				fmt.Fprintf(&b, "  acl %s path_end %s\n", id, esc.Replace(r.Value))
			default:
				fmt.Fprintf(&b, "  acl %s %s %s %s\n", id, f, method[r.Compare], esc.Replace(r.Value))
			}
			if r.Invert {
				id = "!" + id
			}
			conds = append(conds, id)
		}
		cond := strings.Join(conds, " ")
		switch pc.Action {
		case Reject:
			fmt.Fprintf(&b, "  http-request deny hdr X-Policy %s if %s\n", pc.ID, cond)
		case RedirectURL:
			fmt.Fprintf(&b, "  redirect code %d location %s if %s\n", pc.Code, pc.Location, cond)
		case RedirectPrefix:
			fmt.Fprintf(&b, "  redirect code %d prefix %s if %s\n", pc.Code, pc.Location, cond)
		case ToPool:
			fmt.Fprintf(&b, "  use_backend %s if %s\n", pc.ID, cond)
		}
	}
	fmt.Fprintf(&b, "  default_backend default\n")
	for _, pc := range append(pcs, PolicyConfig[string]{ID: "default"}) {
		fmt.Fprintf(&b, "backend %s\n  http-request return status 200 hdr X-Policy %s\n", pc.ID, pc.ID)
	}
	return b.String()
}

func startHAProxy(t *testing.T, bin, dir string, round int, pcs []PolicyConfig[string]) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cfg := filepath.Join(dir, fmt.Sprintf("round%d.cfg", round))
	if err := os.WriteFile(cfg, []byte(renderHAProxy(port, pcs)), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, "-c", "-q", "-f", cfg).CombinedOutput(); err != nil {
		t.Fatalf("haproxy refuses the rendered config: %v\n%s\n%s", err, out, renderHAProxy(port, pcs))
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "-db", "-f", cfg)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); cmd.Wait() })
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	for deadline := time.Now().Add(10 * time.Second); ; {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("haproxy never listened on %s", addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return addr
}

// haproxyVerdict sends one request and names the policy that answered it.
func haproxyVerdict(t *testing.T, addr, raw string) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte(raw)); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(strings.Fields(raw)[0], "/", nil)
	resp, err := http.ReadResponse(bufio.NewReader(c), req)
	if err != nil {
		t.Fatalf("%q: %v", raw, err)
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case 403:
		return resp.Header.Get("X-Policy")
	case 302:
		loc := strings.TrimPrefix(resp.Header.Get("Location"), "http://redirect.test/")
		if i := strings.IndexByte(loc, '/'); i >= 0 {
			loc = loc[:i]
		}
		return loc
	case 200:
		return resp.Header.Get("X-Policy")
	}
	t.Fatalf("%q: HAProxy answered %s", raw, resp.Status)
	return ""
}
