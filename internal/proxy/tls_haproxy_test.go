package proxy

import (
	"bufio"
	"bytes"
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
	"lbd/internal/proxy/proxyproto"
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

// ppMember is a member of a PROXYV2 pool that records the PROXY header
// each connection begins with, then answers each HTTP request on it.
type ppMember struct {
	addr    string
	mu      sync.Mutex
	headers [][]byte
}

func startPPMember(t *testing.T) *ppMember {
	t.Helper()
	m := &ppMember{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m.addr = ln.Addr().String()
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go m.serve(c)
		}
	}()
	return m
}

func (m *ppMember) serve(c net.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	var buf []byte
	tmp := make([]byte, 4096)
	for {
		n, err := c.Read(tmp)
		buf = append(buf, tmp[:n]...)
		if _, k, perr := proxyproto.Parse(buf); perr == nil {
			m.mu.Lock()
			m.headers = append(m.headers, append([]byte(nil), buf[:k]...))
			m.mu.Unlock()
			buf = buf[k:]
			break
		} else if perr != proxyproto.ErrIncomplete || err != nil {
			return
		}
	}
	br := bufio.NewReader(io.MultiReader(bytes.NewReader(buf), c))
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		io.Copy(io.Discard, req.Body)
		if _, err := io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nmember"); err != nil {
			return
		}
	}
}

func (m *ppMember) take() [][]byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	h := m.headers
	m.headers = nil
	return h
}

// ppTLV is a TLV of a version 2 header; an SSL TLV's client and verify
// fields and sub-TLVs are taken apart.
type ppTLV struct {
	Type   byte
	Value  string
	Client byte
	Verify uint32
	Sub    []ppTLV
}

func (v ppTLV) String() string {
	if v.Type == 0x20 {
		return fmt.Sprintf("SSL{client=%#02x verify=%d %v}", v.Client, v.Verify, v.Sub)
	}
	return fmt.Sprintf("%#02x=%q", v.Type, v.Value)
}

// ppTLVs decodes the TLVs of a version 2 header (TCP over IPv4 or IPv6).
func ppTLVs(t *testing.T, h []byte) []ppTLV {
	t.Helper()
	off := 16 + map[byte]int{0x11: 12, 0x21: 36}[h[13]]
	return decodeTLVs(t, h[off:])
}

func decodeTLVs(t *testing.T, b []byte) []ppTLV {
	var out []ppTLV
	for len(b) > 0 {
		if len(b) < 3 {
			t.Fatalf("truncated TLV % x", b)
		}
		l := int(b[1])<<8 | int(b[2])
		v := ppTLV{Type: b[0], Value: string(b[3 : 3+l])}
		if v.Type == 0x20 {
			s := b[3 : 3+l]
			v.Client, v.Verify, v.Value = s[0], uint32(s[1])<<24|uint32(s[2])<<16|uint32(s[3])<<8|uint32(s[4]), ""
			v.Sub = decodeTLVs(t, s[5:])
		}
		out = append(out, v)
		b = b[3+l:]
	}
	return out
}

const ppLBDConfig = `loadbalancers:
- name: lb-pp
  vip_address: 127.0.0.1
  listeners:
  - name: https
    protocol: TERMINATED_HTTPS
    protocol_port: {{.Port}}
    default_tls_container_ref: {{.Cert}}
    client_authentication: OPTIONAL
    client_ca_tls_container_ref: {{.CA}}
    default_pool:
      name: pool
      protocol: PROXYV2
      lb_algorithm: ROUND_ROBIN
      members: [{address: 127.0.0.1, protocol_port: {{port .Member}}}]
`

// TestProxyV2TLSAgainstHAProxy: a PROXYV2 pool behind a TERMINATED_HTTPS
// listener sends what the amphora's HAProxy sends with the server option
// Octavia renders for it (send-proxy-v2-ssl-cn): the TLVs of the headers
// two recording members receive, through HAProxy and through lbd, for the
// same clients (HTTP/1.1 with and without ALPN, HTTP/2, TLS 1.2 and 1.3,
// with and without a certificate, a resumed session), must be the same
// bytes.
func TestProxyV2TLSAgainstHAProxy(t *testing.T) {
	site := newTLSSite(t)
	alice := multiDNCert(t, site.clients)
	hm, lm := startPPMember(t), startPPMember(t)
	hport, lport := freePort(t), freePort(t)
	ca := filepath.Join(site.dir, "clients.pem")
	// An RSA certificate: Octavia's default tls_ciphers (OWASP suite B)
	// offer TLS 1.2 clients ECDHE-RSA suites only.
	crt := pki.Write(t, site.dir, "rsa.pem", site.ca.Issue(t, pki.Leaf{CN: "www.example.com", Key: pki.RSA}).BundlePEM())
	runHAProxy(t, fmt.Sprintf(`frontend f
  mode http
  bind 127.0.0.1:%d ssl crt %s ca-file %s verify optional alpn h2,http/1.1
  default_backend b
backend b
  mode http
  server m %s send-proxy-v2-ssl-cn
`, hport, crt, ca, hm.addr), fmt.Sprintf("127.0.0.1:%d", hport))
	startRuntime(t, config(t, ppLBDConfig, map[string]any{"Port": lport, "Cert": crt, "CA": ca, "Member": lm.addr}))
	type clientCase struct {
		name   string
		alpn   []string
		h2     bool
		cert   bool
		tls12  bool
		resume bool
	}
	for _, cc := range []clientCase{
		{name: "HTTP/1.1 without ALPN, no certificate"},
		{name: "HTTP/1.1 with ALPN, certificate", alpn: []string{"http/1.1"}, cert: true},
		{name: "HTTP/2, no certificate", h2: true},
		{name: "HTTP/2, certificate", h2: true, cert: true},
		{name: "TLS 1.2, HTTP/1.1 with ALPN, certificate", alpn: []string{"http/1.1"}, cert: true, tls12: true},
		{name: "resumed session with a certificate", alpn: []string{"http/1.1"}, cert: true, resume: true},
	} {
		var got [2][]byte
		for i, port := range []int{hport, lport} {
			cfg := &tls.Config{ServerName: "www.example.com", RootCAs: site.ca.Pool(), NextProtos: cc.alpn}
			if cc.cert {
				cfg.Certificates = []tls.Certificate{alice.TLS()}
			}
			if cc.tls12 {
				cfg.MaxVersion = tls.VersionTLS12
			}
			if cc.resume {
				cfg.ClientSessionCache = tls.NewLRUClientSessionCache(4)
			}
			var p http.Protocols
			p.SetHTTP1(!cc.h2)
			p.SetHTTP2(cc.h2)
			member := []*ppMember{hm, lm}[i]
			for round := range 1 + map[bool]int{true: 1}[cc.resume] {
				tr := &http.Transport{TLSClientConfig: cfg, Protocols: &p}
				c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
				resp, err := c.Get(fmt.Sprintf("https://127.0.0.1:%d/", port))
				if err != nil {
					t.Fatalf("%s: %s: %v", cc.name, []string{"haproxy", "lbd"}[i], err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				tr.CloseIdleConnections()
				mustf(t, resp.StatusCode == 200 && resp.ProtoMajor == map[bool]int{false: 1, true: 2}[cc.h2], "%s: %s %d", cc.name, resp.Proto, resp.StatusCode)
				mustf(t, !cc.resume || (round == 1) == resp.TLS.DidResume, "%s: round %d resumed %v", cc.name, round, resp.TLS.DidResume)
				hs := member.take()
				mustf(t, len(hs) == 1, "%s: %d member connections", cc.name, len(hs))
				h, _, err := proxyproto.Parse(hs[0])
				mustf(t, err == nil && h.Src.Addr().String() == "127.0.0.1" && h.Dst.Port() == uint16(port) && hs[0][13] == 0x11,
					"%s: header %+v, %v", cc.name, h, err)
				got[i] = hs[0]
			}
		}
		t.Logf("%s: haproxy %v", cc.name, ppTLVs(t, got[0]))
		if !bytes.Equal(got[0][16+12:], got[1][16+12:]) { // the TLVs, after the IPv4 addresses
			t.Errorf("%s:\nhaproxy sent %v (% x)\nlbd     sent %v (% x)", cc.name, ppTLVs(t, got[0]), got[0][28:], ppTLVs(t, got[1]), got[1][28:])
		}
	}
}
