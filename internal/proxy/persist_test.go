package proxy

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"lbd/internal/proxy/http1"
)

const persistConfig = `loadbalancers:
  - name: sticky
    vip_address: 127.0.0.1
    listeners:
      - name: l
        protocol: {{.Protocol}}
        protocol_port: {{.Port}}
        default_pool:
          name: p
          protocol: {{.Protocol}}
          lb_algorithm: ROUND_ROBIN
          session_persistence: {type: {{.Type}}{{if .Cookie}}, cookie_name: {{.Cookie}}{{end}}}
          members:
{{- range $i, $m := .Members}}
            - {id: {{index $.IDs $i}}, address: 127.0.0.1, protocol_port: {{port $m}}, weight: {{index $.Weights $i}}}
{{- end}}
`

type persistData struct {
	Protocol, Type, Cookie string
	Port                   int
	Members, IDs           []string
	Weights                []int
}

var memberIDs = []string{"11111111-0000-4000-8000-000000000001", "11111111-0000-4000-8000-000000000002", "11111111-0000-4000-8000-000000000003"}

func persistSetup(t *testing.T, typ, cookie string) (*Runtime, *persistData, []*member) {
	t.Helper()
	ms := []*member{startMember(t, "m1"), startMember(t, "m2"), startMember(t, "m3")}
	d := &persistData{Protocol: "HTTP", Type: typ, Cookie: cookie, Port: freePort(t), IDs: memberIDs, Weights: []int{1, 1, 1}}
	for _, m := range ms {
		d.Members = append(d.Members, m.addr)
	}
	return startRuntime(t, config(t, persistConfig, d)), d, ms
}

// request sends one request on a new connection, with a Cookie field
// when cookie is not "", and returns the member that answered and the
// response's fields.
func request(t *testing.T, c *http.Client, port int, path, cookie string) (string, http.Header) {
	t.Helper()
	name, h, _ := requestURL(t, c, fmt.Sprintf("http://127.0.0.1:%d%s", port, path), cookie)
	return name, h
}

// requestURL is request to any URL; proto is the response's protocol
// (HTTP/1.1, HTTP/2.0).
func requestURL(t *testing.T, c *http.Client, url, cookie string) (name string, h http.Header, proto string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if cookie != "" {
		req.Header.Set("Cookie", cookie)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	name, _, _ = strings.Cut(string(b), " ")
	return name, resp.Header, resp.Proto
}

func nameOf(id string) string {
	for i, x := range memberIDs {
		if x == id {
			return fmt.Sprintf("m%d", i+1)
		}
	}
	return "?" + id
}

// TestHTTPCookiePersistence: lbd inserts SRV=<member id> as the amphora's
// "cookie SRV insert indirect nocache" does: set when the client has no
// valid cookie for the member that answered, kept out of what members see
// (and their own SRV cookies out of what clients see), Cache-Control:
// private on a cacheable response that carries it. A client whose member
// is disabled, drained or refuses connections moves once, to a member it
// then stays with.
func TestHTTPCookiePersistence(t *testing.T) {
	rt, d, ms := persistSetup(t, "HTTP_COOKIE", "")
	fresh := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}
	first, hd := request(t, fresh, d.Port, "/", "")
	sc := hd.Get("Set-Cookie")
	id, ok := strings.CutPrefix(sc, "SRV=")
	id, _ = strings.CutSuffix(id, "; path=/")
	mustf(t, ok && nameOf(id) == first, "Set-Cookie %q from %s", sc, first)
	mustf(t, hd.Get("Cache-Control") == "", "a response that is not cacheable got Cache-Control %q", hd.Get("Cache-Control"))
	jar := "a=1; SRV=" + id + "; b=2"
	for range 6 {
		got, hd := request(t, fresh, d.Port, "/", jar)
		mustf(t, got == first, "with its cookie, a client went to %s, not %s", got, first)
		mustf(t, hd.Get("Set-Cookie") == "", "a client with a valid cookie got Set-Cookie %q", hd.Get("Set-Cookie"))
	}
	var stuck *member
	for _, m := range ms {
		if m.name == first {
			stuck = m
		}
	}
	mustf(t, stuck.lastCookie() == "a=1; b=2", "the member saw Cookie %q, want the SRV cookie taken out", stuck.lastCookie())

	// Unknown member: balanced anew, with a cookie for the new member.
	got, hd := request(t, fresh, d.Port, "/", "SRV=22222222-0000-4000-8000-000000000009")
	mustf(t, strings.HasPrefix(hd.Get("Set-Cookie"), "SRV="+memberIDs[int(got[1]-'1')]+";"), "unknown cookie: %s answered, Set-Cookie %q", got, hd.Get("Set-Cookie"))
	// Cacheable response: marked private; the member's own SRV is dropped.
	_, hd = request(t, fresh, d.Port, "/cache", "")
	mustf(t, strings.Join(hd.Values("Cache-Control"), ",") == "public, max-age=60,private", "cacheable response Cache-Control %q", hd.Values("Cache-Control"))
	_, hd = request(t, fresh, d.Port, "/setsrv", jar)
	mustf(t, len(hd.Values("Set-Cookie")) == 0, "the member's own SRV cookie reached the client: %q", hd.Values("Set-Cookie"))

	// Keep-alive: the event loop sticks too.
	keep := &http.Client{Timeout: 5 * time.Second}
	for range 40 {
		got, _ := request(t, keep, d.Port, "/", jar)
		mustf(t, got == first, "keep-alive request went to %s, not %s", got, first)
	}

	// Drain the member: the client moves once, then stays.
	idx := int(first[1] - '1')
	d.Weights[idx] = 0
	if err := rt.Apply(context.Background(), config(t, persistConfig, d)); err != nil {
		t.Fatal(err)
	}
	moved, hd := request(t, fresh, d.Port, "/", jar)
	mustf(t, moved != first && hd.Get("Set-Cookie") != "", "drained member: went to %s with Set-Cookie %q", moved, hd.Get("Set-Cookie"))
	jar2 := strings.Split(hd.Get("Set-Cookie"), ";")[0]
	d.Weights[idx] = 1
	if err := rt.Apply(context.Background(), config(t, persistConfig, d)); err != nil {
		t.Fatal(err)
	}
	for range 4 {
		got, _ := request(t, fresh, d.Port, "/", jar2)
		mustf(t, got == moved, "after the drained member came back the client went to %s, not %s (moved once)", got, moved)
	}
	// A member that refuses connections: redispatched, with a new cookie.
	for _, m := range ms {
		if m.name == moved {
			m.srv.Close()
		}
	}
	again, hd := request(t, fresh, d.Port, "/", jar2)
	mustf(t, again != moved && strings.HasPrefix(hd.Get("Set-Cookie"), "SRV="), "member down: %s answered, Set-Cookie %q", again, hd.Get("Set-Cookie"))
}

// TestSourceIPPersistence: each client address stays with one member (on
// TCP and HTTP listeners) though the pool balances round robin, until
// that member cannot take it; then it moves once. A reload keeps the
// table.
func TestSourceIPPersistence(t *testing.T) {
	for _, proto := range []string{"HTTP", "TCP"} {
		t.Run(proto, func(t *testing.T) {
			ms := []*member{startMember(t, "m1"), startMember(t, "m2"), startMember(t, "m3")}
			d := &persistData{Protocol: proto, Type: "SOURCE_IP", Port: freePort(t), IDs: memberIDs, Weights: []int{1, 1, 1}}
			for _, m := range ms {
				d.Members = append(d.Members, m.addr)
			}
			rt := startRuntime(t, config(t, persistConfig, d))
			clients := map[string]string{}
			used := map[string]bool{}
			for i := range 8 {
				src := fmt.Sprintf("127.0.0.%d", 20+i)
				c := clientFrom(src)
				c.Transport.(*http.Transport).DisableKeepAlives = true
				for j := range 5 {
					got, _ := request(t, c, d.Port, "/", "")
					if j == 0 {
						clients[src] = got
						used[got] = true
					}
					mustf(t, got == clients[src], "%s went to %s, then %s", src, clients[src], got)
				}
			}
			mustf(t, len(used) > 1, "every client went to one member: %v", clients)
			// Disable one member: its clients move once; reload again
			// with it enabled: they stay where they moved, the others
			// where they were.
			victim := clients["127.0.0.20"]
			idx := int(victim[1] - '1')
			d.Weights[idx] = 0
			if err := rt.Apply(context.Background(), config(t, persistConfig, d)); err != nil {
				t.Fatal(err)
			}
			c := clientFrom("127.0.0.20")
			c.Transport.(*http.Transport).DisableKeepAlives = true
			moved, _ := request(t, c, d.Port, "/", "")
			mustf(t, moved != victim, "client stayed on a drained member")
			d.Weights[idx] = 1
			if err := rt.Apply(context.Background(), config(t, persistConfig, d)); err != nil {
				t.Fatal(err)
			}
			for src, m := range clients {
				c := clientFrom(src)
				c.Transport.(*http.Transport).DisableKeepAlives = true
				want := m
				if src == "127.0.0.20" {
					want = moved
				}
				got, _ := request(t, c, d.Port, "/", "")
				mustf(t, got == want, "after the reloads %s went to %s, want %s", src, got, want)
			}
		})
	}
}

// TestAppCookiePersistence: the member that sets the application's
// session cookie gets every request that carries it.
func TestAppCookiePersistence(t *testing.T) {
	rt, d, ms := persistSetup(t, "APP_COOKIE", "JSESSIONID")
	fresh := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}
	owner, hd := request(t, fresh, d.Port, "/login", "")
	session := strings.Split(hd.Get("Set-Cookie"), ";")[0]
	mustf(t, session == "JSESSIONID="+owner+"-session", "login answer %q", session)
	for range 9 {
		got, _ := request(t, fresh, d.Port, "/cart", "lang=en; "+session)
		mustf(t, got == owner, "the session of %s went to %s", owner, got)
	}
	// Without the cookie: round robin.
	seen := map[string]bool{}
	for range 6 {
		got, _ := request(t, fresh, d.Port, "/cart", "")
		seen[got] = true
	}
	mustf(t, len(seen) == 3, "requests without the session spread over %v", seen)
	// Its member disabled: moved once.
	idx := int(owner[1] - '1')
	d.Weights[idx] = 0
	if err := rt.Apply(context.Background(), config(t, persistConfig, d)); err != nil {
		t.Fatal(err)
	}
	moved, _ := request(t, fresh, d.Port, "/cart", session)
	mustf(t, moved != owner, "the session stayed on a drained member")
	for range 4 {
		got, _ := request(t, fresh, d.Port, "/cart", session)
		mustf(t, got == moved, "after moving to %s the session went to %s", moved, got)
	}
	_ = ms
}

// TestPersistenceAllocatesNothing: the sticky pick and the cookie
// insertion allocate nothing per request.
func TestPersistenceAllocatesNothing(t *testing.T) {
	rt, d, _ := persistSetup(t, "HTTP_COOKIE", "")
	_ = d
	p := rt.pools[rt.Config().LoadBalancers[0].Pools[0].ID]
	req := parseRequest(t, "GET / HTTP/1.1\r\nHost: x\r\nCookie: a=1; SRV="+memberIDs[1]+"\r\n\r\n")
	resp := parseResponse(t, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
	src := netipAddrPort("127.0.0.1:5000")
	var scratch []byte
	var sink discard
	cfg := &listenerConfig{}
	n := testing.AllocsPerRun(200, func() {
		m, _ := p.pick(src, req)
		writeRequestHead(&sink, cfg, p, req, nil, nil, false)
		writeResponseHead(&sink, cfg, p, p.bal.Members()[0], req, resp, decideFor(req, resp), &scratch)
		m.Release()
	})
	mustf(t, n == 0, "%.1f allocations per request", n)
}

func parseRequest(t testing.TB, raw string) *http1.Head {
	t.Helper()
	var h http1.Head
	if err := h.ReadHead(bufio.NewReader(strings.NewReader(raw))); err != nil || h.ParseRequest() != nil {
		t.Fatalf("request %q: %v", raw, err)
	}
	return &h
}

func parseResponse(t testing.TB, raw string) *http1.Head {
	t.Helper()
	var h http1.Head
	if err := h.ReadHead(bufio.NewReader(strings.NewReader(raw))); err != nil || h.ParseResponse() != nil {
		t.Fatalf("response %q: %v", raw, err)
	}
	return &h
}

func netipAddrPort(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

func decideFor(req, resp *http1.Head) http1.Decision {
	return http1.Decide(req, resp, http1.Conditions{})
}

// discard is an http1.Writer that keeps nothing.
type discard struct{}

func (discard) Write(b []byte) (int, error)       { return len(b), nil }
func (discard) WriteString(s string) (int, error) { return len(s), nil }
func (discard) WriteByte(byte) error              { return nil }

// TestPersistenceChangedAlone: a reload that changes only a pool's
// session persistence (the same members) takes effect: an incremental
// Apply must not take the pool for unchanged.
func TestPersistenceChangedAlone(t *testing.T) {
	rt, d, _ := persistSetup(t, "HTTP_COOKIE", "")
	fresh := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}
	_, hd := request(t, fresh, d.Port, "/", "")
	mustf(t, strings.HasPrefix(hd.Get("Set-Cookie"), "SRV="), "HTTP_COOKIE: Set-Cookie %q", hd.Get("Set-Cookie"))
	d.Type = "SOURCE_IP"
	if err := rt.Apply(context.Background(), config(t, persistConfig, d)); err != nil {
		t.Fatal(err)
	}
	first, hd := request(t, fresh, d.Port, "/", "")
	mustf(t, hd.Get("Set-Cookie") == "", "after the change to SOURCE_IP: Set-Cookie %q", hd.Get("Set-Cookie"))
	for range 4 {
		got, _ := request(t, fresh, d.Port, "/", "")
		mustf(t, got == first, "SOURCE_IP: the client went to %s, then %s", first, got)
	}
	d.Type = "HTTP_COOKIE"
	if err := rt.Apply(context.Background(), config(t, persistConfig, d)); err != nil {
		t.Fatal(err)
	}
	_, hd = request(t, fresh, d.Port, "/", "")
	mustf(t, strings.HasPrefix(hd.Get("Set-Cookie"), "SRV="), "back to HTTP_COOKIE: Set-Cookie %q", hd.Get("Set-Cookie"))
}
