package proxy

import (
	"crypto/tls"
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"lbd/internal/lbdtest/pki"
)

// Differential tests of what lbd derives from a TLS client's certificate
// against the amphora's engine: a real HAProxy configured with Octavia's
// lines (combined_listeners/templates/macros.j2) and lbd, the same client
// certificate through both, compared on what their members receive.

// headerMember records the headers of the requests it answers.
type headerMember struct {
	addr string
	mu   sync.Mutex
	last http.Header
}

func startHeaderMember(t *testing.T) *headerMember {
	t.Helper()
	m := &headerMember{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m.addr = ln.Addr().String()
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.mu.Lock()
		m.last = r.Header.Clone()
		m.mu.Unlock()
		io.WriteString(w, "member")
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return m
}

func (m *headerMember) take() http.Header {
	m.mu.Lock()
	defer m.mu.Unlock()
	h := m.last
	m.last = nil
	return h
}

// dnRule is an SSL_DN_FIELD rule, EQUAL_TO.
type dnRule struct{ Key, Value string }

const dnLBDConfig = `loadbalancers:
- name: lb-dn
  vip_address: 127.0.0.1
  listeners:
{{- range $i, $l := .Listeners}}
  - name: l{{$i}}
    protocol: TERMINATED_HTTPS
    protocol_port: {{$l.Port}}
    default_tls_container_ref: {{$.Cert}}
    client_authentication: OPTIONAL
    client_ca_tls_container_ref: {{$.CA}}
    insert_headers:
      X-SSL-Client-Verify: "true"
      X-SSL-Client-Has-Cert: "true"
      X-SSL-Client-DN: "true"
      X-SSL-Client-CN: "true"
      X-SSL-Issuer: "true"
      X-SSL-Client-SHA1: "true"
      X-SSL-Client-Not-Before: "true"
      X-SSL-Client-Not-After: "true"
{{- with $l.Rule}}
    l7policies:
    - name: p{{$i}}
      action: REDIRECT_TO_URL
      redirect_url: http://matched.example/
      rules:
      - {type: SSL_DN_FIELD, compare_type: EQUAL_TO, key: {{.Key}}, value: "{{.Value}}"}
{{- end}}
    default_pool:
      name: pool{{$i}}
      protocol: HTTP
      lb_algorithm: ROUND_ROBIN
      members: [{address: 127.0.0.1, protocol_port: {{port $.Member}}}]
{{- end}}
`

// haproxyDNConfig renders, for each port, the frontend Octavia's template
// renders for a TERMINATED_HTTPS listener with client_authentication
// OPTIONAL, every X-SSL-* header, and (after the first) one REDIRECT_TO_URL
// policy with one SSL_DN_FIELD rule.
func haproxyDNConfig(ports []int, crt, ca, member string, rules []dnRule) string {
	var b strings.Builder
	for i, p := range ports {
		fmt.Fprintf(&b, `frontend f%d
  mode http
  bind 127.0.0.1:%d ssl crt %s ca-file %s verify optional
  http-request set-header X-SSL-Client-Verify %%[ssl_c_verify]
  http-request set-header X-SSL-Client-Has-Cert %%[ssl_c_used]
  http-request set-header X-SSL-Client-DN %%{+Q}[ssl_c_s_dn]
  http-request set-header X-SSL-Client-CN %%{+Q}[ssl_c_s_dn(cn)]
  http-request set-header X-SSL-Issuer %%{+Q}[ssl_c_i_dn]
  http-request set-header X-SSL-Client-SHA1 %%{+Q}[ssl_c_sha1,hex]
  http-request set-header X-SSL-Client-Not-Before %%{+Q}[ssl_c_notbefore]
  http-request set-header X-SSL-Client-Not-After %%{+Q}[ssl_c_notafter]
`, i, p, crt, ca)
		if i > 0 {
			r := rules[i-1]
			fmt.Fprintf(&b, "  acl r%d ssl_c_s_dn(%s) -m str %s\n  redirect code 302 location http://matched.example/ if r%d\n", i, r.Key, r.Value, i)
		}
		fmt.Fprintf(&b, "  default_backend b\n")
	}
	fmt.Fprintf(&b, "backend b\n  mode http\n  server m %s\n", member)
	return b.String()
}

var sslHeaderFields = []string{"X-Ssl-Client-Verify", "X-Ssl-Client-Has-Cert", "X-Ssl-Client-Dn", "X-Ssl-Client-Cn",
	"X-Ssl-Issuer", "X-Ssl-Client-Sha1", "X-Ssl-Client-Not-Before", "X-Ssl-Client-Not-After"}

// multiDNCert is a client certificate whose subject has two CNs, two OUs
// and a multi-valued RDN (CN + emailAddress).
func multiDNCert(t *testing.T, ca *pki.CA) *pki.Cert {
	atv := func(oid asn1.ObjectIdentifier, v string) pkix.AttributeTypeAndValue {
		return pkix.AttributeTypeAndValue{Type: oid, Value: v}
	}
	var (
		c, o, ou, cn = asn1.ObjectIdentifier{2, 5, 4, 6}, asn1.ObjectIdentifier{2, 5, 4, 10}, asn1.ObjectIdentifier{2, 5, 4, 11}, asn1.ObjectIdentifier{2, 5, 4, 3}
		email        = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 1}
	)
	return ca.Issue(t, pki.Leaf{Client: true, RDNs: pkix.RDNSequence{
		{atv(c, "FR")},
		{atv(o, "lbd tests")},
		{atv(ou, "ou-one")},
		{atv(cn, "first-cn")},
		{atv(ou, "ou-two")},
		{atv(cn, "second-cn"), atv(email, "alice@example.com")},
	}})
}

// TestClientDNAgainstHAProxy settles which value of a repeated DN field
// the X-SSL-Client-CN header and SSL_DN_FIELD rules take, and the DN and
// issuer formats, by measuring: the same client certificate (two CNs, two
// OUs, a multi-valued RDN) through HAProxy and lbd, the X-SSL-* headers
// their members receive compared field by field, and for each rule whether
// each applied it (302) or not (200).
func TestClientDNAgainstHAProxy(t *testing.T) {
	site := newTLSSite(t)
	cert := multiDNCert(t, site.clients)
	rules := []dnRule{
		{"CN", "first-cn"}, {"CN", "second-cn"}, {"cn", "first-cn"},
		{"OU", "ou-one"}, {"OU", "ou-two"},
		{"emailAddress", "alice@example.com"}, {"UID", "u1"},
	}
	n := len(rules) + 1
	hm, lm := startHeaderMember(t), startHeaderMember(t)
	hports, lports := make([]int, n), make([]int, n)
	for i := range n {
		hports[i], lports[i] = freePort(t), freePort(t)
	}
	runHAProxy(t, haproxyDNConfig(hports, site.www, filepath.Join(site.dir, "clients.pem"), hm.addr, rules), fmt.Sprintf("127.0.0.1:%d", hports[n-1]))
	type listener struct {
		Port int
		Rule *dnRule
	}
	ls := make([]listener, n)
	for i := range n {
		ls[i].Port = lports[i]
		if i > 0 {
			ls[i].Rule = &rules[i-1]
		}
	}
	startRuntime(t, config(t, dnLBDConfig, map[string]any{"Listeners": ls, "Cert": site.www,
		"CA": filepath.Join(site.dir, "clients.pem"), "Member": lm.addr}))

	get := func(port int) int {
		t.Helper()
		tc := cert.TLS()
		c := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
			Transport: &http.Transport{TLSClientConfig: &tls.Config{ServerName: "www.example.com", RootCAs: site.ca.Pool(), Certificates: []tls.Certificate{tc}}}}
		resp, err := c.Get(fmt.Sprintf("https://127.0.0.1:%d/", port))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		c.CloseIdleConnections()
		return resp.StatusCode
	}
	// The headers.
	if s := get(hports[0]); s != 200 {
		t.Fatalf("haproxy answered %d", s)
	}
	if s := get(lports[0]); s != 200 {
		t.Fatalf("lbd answered %d", s)
	}
	hh, lh := hm.take(), lm.take()
	for _, name := range sslHeaderFields {
		t.Logf("%s: haproxy %q, lbd %q", name, hh.Values(name), lh.Values(name))
		if strings.Join(hh.Values(name), "\n") != strings.Join(lh.Values(name), "\n") || len(hh.Values(name)) == 0 {
			t.Errorf("%s: haproxy sent %q, lbd %q", name, hh.Values(name), lh.Values(name))
		}
	}
	// The rules.
	for i, r := range rules {
		hs, ls := get(hports[i+1]), get(lports[i+1])
		t.Logf("ssl_c_s_dn(%s) -m str %s: haproxy %d, lbd %d", r.Key, r.Value, hs, ls)
		if hs != ls {
			t.Errorf("SSL_DN_FIELD %s EQUAL_TO %s: haproxy answered %d, lbd %d", r.Key, r.Value, hs, ls)
		}
	}
}
