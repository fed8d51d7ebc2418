package proxy

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

const persistTLSConfig = `loadbalancers:
  - name: sticky-tls
    vip_address: 127.0.0.1
    listeners:
      - name: l
        protocol: TERMINATED_HTTPS
        protocol_port: {{.Port}}
        default_tls_container_ref: {{.Cert}}
        default_pool:
          name: p
          protocol: HTTP
          lb_algorithm: ROUND_ROBIN
          session_persistence: {type: {{.Type}}{{if .Cookie}}, cookie_name: {{.Cookie}}{{end}}}
          members:
{{- range $i, $m := .Members}}
            - {id: {{index $.IDs $i}}, address: 127.0.0.1, protocol_port: {{port $m}}}
{{- end}}
`

type persistTLSData struct {
	Type, Cookie, Cert string
	Port               int
	Members, IDs       []string
}

// h2From is an HTTP/2 client over TLS to addr whose connections come
// from the loopback address src ("" for any). Its connections close when
// the test ends, before the runtime's shutdown would wait for them.
func h2From(t *testing.T, site *tlsSite, addr, src string) *http.Client {
	d := &net.Dialer{}
	if src != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(src)}
	}
	var p http.Protocols
	p.SetHTTP2(true)
	tr := &http.Transport{
		TLSClientConfig: &tls.Config{ServerName: "www.example.com", RootCAs: site.ca.Pool()},
		DialContext:     func(ctx context.Context, _, _ string) (net.Conn, error) { return d.DialContext(ctx, "tcp", addr) },
		Protocols:       &p,
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Timeout: 10 * time.Second, Transport: tr}
}

// h2Get sends one request over c (HTTP/2, checked), with a Cookie field
// when cookie is not "", and returns the member that answered and the
// response's fields.
func h2Get(t *testing.T, c *http.Client, path, cookie string) (string, http.Header) {
	t.Helper()
	name, h, proto := requestURL(t, c, "https://www.example.com"+path, cookie)
	if proto != "HTTP/2.0" {
		t.Fatalf("%s answered over %s, want HTTP/2", path, proto)
	}
	return name, h
}

// TestPersistenceOverHTTP2: HTTP/2 streams through a TERMINATED_HTTPS
// listener get session persistence exactly as HTTP/1.1 requests do (the
// one rule, persist.go): HTTP_COOKIE's SRV cookie inserted, read back and
// kept from members, Cache-Control: private on a cacheable response, the
// member's own SRV dropped; APP_COOKIE learned from a stream's response
// and stuck to; SOURCE_IP per client address though the streams of a
// connection are balanced one by one (ROUND_ROBIN over three members).
func TestPersistenceOverHTTP2(t *testing.T) {
	site := newTLSSite(t)
	setup := func(t *testing.T, typ, cookie string) ([]*member, string) {
		ms := []*member{startMember(t, "m1"), startMember(t, "m2"), startMember(t, "m3")}
		d := &persistTLSData{Type: typ, Cookie: cookie, Cert: site.www, Port: freePort(t), IDs: memberIDs}
		for _, m := range ms {
			d.Members = append(d.Members, m.addr)
		}
		startRuntime(t, config(t, persistTLSConfig, d))
		return ms, fmt.Sprintf("127.0.0.1:%d", d.Port)
	}

	t.Run("HTTP_COOKIE", func(t *testing.T) {
		ms, addr := setup(t, "HTTP_COOKIE", "")
		c := h2From(t, site, addr, "")
		first, hd := h2Get(t, c, "/", "")
		sc := hd.Get("Set-Cookie")
		id, ok := strings.CutPrefix(sc, "SRV=")
		id, _ = strings.CutSuffix(id, "; path=/")
		mustf(t, ok && nameOf(id) == first, "Set-Cookie %q from %s", sc, first)
		mustf(t, hd.Get("Cache-Control") == "", "a response that is not cacheable got Cache-Control %q", hd.Get("Cache-Control"))
		jar := "a=1; SRV=" + id + "; b=2"
		for range 9 { // streams of one connection, balanced one by one
			got, hd := h2Get(t, c, "/", jar)
			mustf(t, got == first, "with its cookie, a stream went to %s, not %s", got, first)
			mustf(t, hd.Get("Set-Cookie") == "", "a stream with a valid cookie got Set-Cookie %q", hd.Get("Set-Cookie"))
		}
		for _, m := range ms {
			if m.name == first {
				mustf(t, m.lastCookie() == "a=1; b=2", "the member saw Cookie %q, want the SRV cookie taken out", m.lastCookie())
			}
		}
		// Cacheable: marked private; the member's own SRV never reaches
		// the client.
		_, hd = h2Get(t, c, "/cache", "")
		mustf(t, strings.Join(hd.Values("Cache-Control"), ",") == "public, max-age=60,private", "cacheable response Cache-Control %q", hd.Values("Cache-Control"))
		_, hd = h2Get(t, c, "/setsrv", jar)
		mustf(t, len(hd.Values("Set-Cookie")) == 0, "the member's own SRV cookie reached the client: %q", hd.Values("Set-Cookie"))
		// An unknown member's cookie: balanced anew, and told the new one.
		got, hd := h2Get(t, c, "/", "SRV=22222222-0000-4000-8000-000000000009")
		mustf(t, got != "" && hd.Get("Set-Cookie") == "SRV="+memberIDs[int(got[1]-'1')]+"; path=/", "unknown cookie: %s answered, Set-Cookie %q", got, hd.Get("Set-Cookie"))
	})

	t.Run("APP_COOKIE", func(t *testing.T) {
		_, addr := setup(t, "APP_COOKIE", "JSESSIONID")
		c := h2From(t, site, addr, "")
		owner, hd := h2Get(t, c, "/login", "")
		session := strings.Split(hd.Get("Set-Cookie"), ";")[0]
		mustf(t, session == "JSESSIONID="+owner+"-session", "login answer %q", session)
		for range 9 {
			got, _ := h2Get(t, c, "/cart", "lang=en; "+session)
			mustf(t, got == owner, "the session of %s went to %s", owner, got)
		}
		seen := map[string]bool{}
		for range 6 {
			got, _ := h2Get(t, c, "/cart", "")
			seen[got] = true
		}
		mustf(t, len(seen) == 3, "streams without the session spread over %v", seen)
	})

	t.Run("SOURCE_IP", func(t *testing.T) {
		_, addr := setup(t, "SOURCE_IP", "")
		used := map[string]bool{}
		for i := range 6 {
			src := fmt.Sprintf("127.0.0.%d", 40+i)
			c := h2From(t, site, addr, src)
			first, _ := h2Get(t, c, "/", "")
			used[first] = true
			for range 5 {
				got, _ := h2Get(t, c, "/", "")
				mustf(t, got == first, "%s went to %s, then %s", src, first, got)
			}
			// Another connection from the same address: the same member.
			got, _ := h2Get(t, h2From(t, site, addr, src), "/", "")
			mustf(t, got == first, "%s's second connection went to %s, not %s", src, got, first)
		}
		mustf(t, len(used) > 1, "every client went to one member: %v", used)
	})
}
