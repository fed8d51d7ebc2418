package proxy

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// member is a test member: it answers "<name> <path>" and reports the
// Cookie field and the client address it saw; /login sets the
// application's session cookie, /cache answers a cacheable response.
type member struct {
	name string
	addr string
	srv  *http.Server

	mu      sync.Mutex
	cookies []string
	remotes []string
	xff     []string
}

func startMember(t testing.TB, name string) *member {
	t.Helper()
	m := &member{name: name}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m.addr = ln.Addr().String()
	m.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.mu.Lock()
		m.cookies = append(m.cookies, strings.Join(r.Header.Values("Cookie"), " | "))
		m.remotes = append(m.remotes, r.RemoteAddr)
		m.xff = append(m.xff, r.Header.Get("X-Forwarded-For"))
		m.mu.Unlock()
		if r.URL.Path == "/login" {
			w.Header().Add("Set-Cookie", "JSESSIONID="+m.name+"-session; Path=/")
		}
		if r.URL.Path == "/cache" {
			w.Header().Set("Cache-Control", "public, max-age=60")
		}
		if r.URL.Path == "/setsrv" {
			w.Header().Add("Set-Cookie", "SRV=from-the-app; Path=/")
		}
		fmt.Fprintf(w, "%s %s", m.name, r.URL.Path)
	})}
	go m.srv.Serve(ln)
	t.Cleanup(func() { m.srv.Close() })
	return m
}

func (m *member) requests() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.cookies)
}

func (m *member) lastXFF() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.xff) == 0 {
		return ""
	}
	return m.xff[len(m.xff)-1]
}

func (m *member) lastCookie() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.cookies) == 0 {
		return ""
	}
	return m.cookies[len(m.cookies)-1]
}

// exchange sends raw requests on one connection and reads one response to
// each: status, the fields named in want, and the body.
type response struct {
	status int
	header http.Header
	body   string
}

func sendAll(t *testing.T, addr string, reqs ...string) []response {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	var out []response
	for _, raw := range reqs {
		if _, err := io.WriteString(c, raw); err != nil {
			t.Fatalf("write %q: %v", raw, err)
		}
		method := strings.Fields(raw)[0]
		req, _ := http.NewRequest(method, "/", nil)
		resp, err := http.ReadResponse(br, req)
		if err != nil {
			t.Fatalf("response to %q: %v", strings.SplitN(raw, "\r\n", 2)[0], err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		out = append(out, response{resp.StatusCode, resp.Header, string(b)})
	}
	return out
}

const l7TestConfig = `loadbalancers:
  - name: l7
    vip_address: 127.0.0.1
    listeners:
      - name: web
        protocol: HTTP
        protocol_port: {{.Port}}
        default_pool: {name: web}
        l7policies:
          - name: api
            action: REDIRECT_TO_POOL
            position: 1
            redirect_pool: {name: api}
            rules:
              - {type: PATH, compare_type: STARTS_WITH, value: /api}
{{- if .Full}}
          - name: admin
            action: REJECT
            rules:
              - {type: PATH, compare_type: CONTAINS, value: admin}
          - name: https
            action: REDIRECT_PREFIX
            redirect_prefix: https://example.com
            redirect_http_code: 308
            rules:
              - {type: HEADER, key: X-Forwarded-Proto, compare_type: EQUAL_TO, value: http}
          - name: moved
            action: REDIRECT_TO_URL
            redirect_url: https://example.com/new
            rules:
              - {type: PATH, compare_type: EQUAL_TO, value: /old}
          - name: static
            action: REDIRECT_TO_POOL
            redirect_pool:
              name: static
              protocol: HTTP
              lb_algorithm: ROUND_ROBIN
              members: [{address: 127.0.0.1, protocol_port: {{port .Static}}}]
            rules:
              - {type: FILE_TYPE, compare_type: EQUAL_TO, value: png}
              - {type: HOST_NAME, compare_type: ENDS_WITH, value: .example.com}
          - name: off
            action: REDIRECT_TO_POOL
            admin_state_up: false
            redirect_pool: {name: api}
            rules:
              - {type: PATH, compare_type: EQUAL_TO, value: /off}
          - name: ruleoff
            action: REJECT
            rules:
              - {type: PATH, compare_type: EQUAL_TO, value: /ruleoff, admin_state_up: false}
          - name: notapi
            action: REDIRECT_TO_POOL
            redirect_pool: {name: api}
            rules:
              - {type: COOKIE, key: tenant, compare_type: EQUAL_TO, value: blue}
              - {type: PATH, compare_type: STARTS_WITH, value: /api, invert: true}
{{- end}}
    pools:
      - {name: web, protocol: HTTP, lb_algorithm: ROUND_ROBIN, members: [{address: 127.0.0.1, protocol_port: {{port .Web}}}]}
      - {name: api, protocol: HTTP, lb_algorithm: ROUND_ROBIN, members: [{address: 127.0.0.1, protocol_port: {{port .API}}}]}
`

type l7Data struct {
	Port             int
	Web, API, Static string
	Full             bool
}

// TestL7Routing: requests go where the listener's policies say, in the
// amphora's order (REJECT, then redirects, then pools, whatever the
// positions); lbd answers REJECT and redirects as HAProxy does, on a
// connection that stays open; disabled policies and rules take no part; a
// reload changes the routing of the next request.
func TestL7Routing(t *testing.T) {
	web, api, static := startMember(t, "web"), startMember(t, "api"), startMember(t, "static")
	d := l7Data{Port: freePort(t), Web: web.addr, API: api.addr, Static: static.addr, Full: true}
	rt := startRuntime(t, config(t, l7TestConfig, d))
	addr := fmt.Sprintf("127.0.0.1:%d", d.Port)
	h := "Host: www.example.com\r\n"
	got := sendAll(t, addr,
		"GET /api/v1?x=1 HTTP/1.1\r\n"+h+"\r\n",
		"GET /api/admin HTTP/1.1\r\n"+h+"\r\n",
		"GET /img/logo.png HTTP/1.1\r\n"+h+"\r\n",
		"GET /img/logo.png HTTP/1.1\r\nHost: elsewhere.org\r\n\r\n",
		"GET /page?q=1 HTTP/1.1\r\n"+h+"X-Forwarded-Proto: http\r\n\r\n",
		"GET /old HTTP/1.1\r\n"+h+"\r\n",
		"GET /off HTTP/1.1\r\n"+h+"\r\n",
		"GET /ruleoff HTTP/1.1\r\n"+h+"\r\n",
		"GET /shop HTTP/1.1\r\n"+h+"Cookie: tenant=blue\r\n\r\n",
		"HEAD /admin HTTP/1.1\r\n"+h+"\r\n",
		"GET /last HTTP/1.1\r\n"+h+"\r\n",
	)
	want := []struct {
		status int
		body   string
		check  func(http.Header) string
	}{
		{200, "api /api/v1", nil},
		{403, "<html><body><h1>403 Forbidden</h1>\nRequest forbidden by administrative rules.\n</body></html>\n", func(hd http.Header) string {
			if hd.Get("Cache-Control") != "no-cache" || hd.Get("Content-Type") != "text/html" {
				return fmt.Sprint("403 fields ", hd)
			}
			return ""
		}},
		{200, "static /img/logo.png", nil},
		{200, "web /img/logo.png", nil},
		{308, "", func(hd http.Header) string {
			if hd.Get("Location") != "https://example.com/page?q=1" || hd.Get("Cache-Control") != "" {
				return fmt.Sprint("prefix redirect fields ", hd)
			}
			return ""
		}},
		{302, "", func(hd http.Header) string {
			if hd.Get("Location") != "https://example.com/new" || hd.Get("Cache-Control") != "no-cache" {
				return fmt.Sprint("URL redirect fields ", hd)
			}
			return ""
		}},
		{200, "web /off", nil},
		{200, "web /ruleoff", nil},
		{200, "api /shop", nil},
		{403, "", nil},
		{200, "web /last", nil},
	}
	for i, w := range want {
		g := got[i]
		if g.status != w.status || g.body != w.body {
			t.Errorf("request %d: %d %q, want %d %q", i, g.status, g.body, w.status, w.body)
		}
		if w.check != nil {
			if msg := w.check(g.header); msg != "" {
				t.Errorf("request %d: %s", i, msg)
			}
		}
	}

	// Keep-alive traffic moves into the event loop, which routes by the
	// same policies.
	c := &http.Client{Timeout: 5 * time.Second}
	for i := range 60 {
		path := "/api/x"
		if i%2 == 1 {
			path = "/plain"
		}
		_, body := get(t, c, "http://"+addr+path)
		if want := map[bool]string{true: "api /api/x", false: "web /plain"}[i%2 == 0]; body != want {
			t.Fatalf("keep-alive request %d: %q, want %q", i, body, want)
		}
	}
	if !goroutinesOnly() && rt.EventLoopStats().Requests == 0 {
		t.Error("the event loop served none of the keep-alive requests")
	}

	// A reload without the policies: the same connection's next request
	// goes to the default pool.
	d.Full = false
	if err := rt.Apply(context.Background(), config(t, l7TestConfig, d)); err != nil {
		t.Fatal(err)
	}
	if _, body := get(t, c, "http://"+addr+"/api/x"); body != "api /api/x" {
		t.Errorf("after reload /api/x: %q", body)
	}
	if status, body := get(t, c, "http://"+addr+"/admin"); status != 200 || body != "web /admin" {
		t.Errorf("after reload, the REJECT policy is gone: %d %q", status, body)
	}
	st, _ := rt.ListenerStats(rt.Config().LoadBalancers[0].Listeners[0].ID)
	if st.TotalConnections == 0 {
		t.Error("no stats")
	}
}
