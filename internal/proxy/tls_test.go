package proxy

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"lbd/internal/accesslog"
	"lbd/internal/certs"
	"lbd/internal/demo"
	"lbd/internal/lbdtest/pki"
	"lbd/internal/octavia"
	"lbd/internal/proxy/tlsterm"
)

// tlsSite is a PKI and certificate files for TLS listener tests.
type tlsSite struct {
	ca      *pki.CA
	dir     string
	www     string // www.example.com
	wild    string // *.example.org
	www2    *pki.Cert
	clients *pki.CA
}

func newTLSSite(t *testing.T) *tlsSite {
	t.Helper()
	s := &tlsSite{ca: pki.NewCA(t, "site ca"), dir: t.TempDir(), clients: pki.NewCA(t, "client ca")}
	s.www2 = s.ca.Issue(t, pki.Leaf{CN: "www.example.com"})
	s.www = pki.Write(t, s.dir, "www.pem", s.www2.BundlePEM())
	s.wild = pki.Write(t, s.dir, "wild.p12", s.ca.Issue(t, pki.Leaf{CN: "wild", DNS: []string{"*.example.org"}, Key: pki.RSA}).PKCS12(t))
	pki.Write(t, s.dir, "clients.pem", s.clients.PEM())
	return s
}

// client returns an HTTP client speaking TLS to addr whatever the URL's
// host, with sni as server name; h2 negotiates HTTP/2. Each client has
// connections of its own.
func (s *tlsSite) client(addr, sni string, h2 bool, cert *pki.Cert) *http.Client {
	cfg := &tls.Config{ServerName: sni, RootCAs: s.ca.Pool()}
	if cert != nil {
		tc := cert.TLS()
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &tc, nil }
	}
	tr := &http.Transport{
		TLSClientConfig: cfg,
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "tcp", addr)
		},
		MaxIdleConnsPerHost: 4,
	}
	var p http.Protocols
	if h2 {
		p.SetHTTP2(true)
	} else {
		p.SetHTTP1(true)
	}
	tr.Protocols = &p
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

const tlsConfigTmpl = `
loadbalancers:
- name: lb-tls
  vip_address: 127.0.0.1
  listeners:
  - name: https
    protocol: TERMINATED_HTTPS
    protocol_port: {{.Port}}
    default_tls_container_ref: {{.Cert}}
{{- if .ClientTimeout}}
    timeout_client_data: {{.ClientTimeout}}
{{- end}}
{{- if .SNI}}
    sni_container_refs: [{{.SNI}}]
{{- end}}
{{- if .Auth}}
    client_authentication: {{.Auth}}
    client_ca_tls_container_ref: {{.CA}}
{{- end}}
{{- if .CRL}}
    client_crl_container_ref: {{.CRL}}
{{- end}}
    insert_headers:
      X-Forwarded-Proto: "true"
      X-Forwarded-For: "true"
{{- if .SSL}}
      X-SSL-Client-Verify: "true"
      X-SSL-Client-Has-Cert: "true"
      X-SSL-Client-DN: "true"
      X-SSL-Client-CN: "true"
      X-SSL-Issuer: "true"
      X-SSL-Client-SHA1: "true"
      X-SSL-Client-Not-Before: "true"
      X-SSL-Client-Not-After: "true"
{{- end}}
    default_pool:
      name: pool1
      protocol: HTTP
      lb_algorithm: ROUND_ROBIN
      members:
{{- range .Members}}
      - address: 127.0.0.1
        protocol_port: {{port .}}
{{- end}}
`

type tlsCfg struct {
	Port                     int
	Cert, SNI, Auth, CA, CRL string
	SSL                      bool
	Members                  []string
	ClientTimeout            int // ms
}

func TestTerminatedHTTPSBalancesHTTP1AndHTTP2PerRequest(t *testing.T) {
	site := newTLSSite(t)
	b1 := startBackend(t, "web1", demo.Options{})
	b2 := startBackend(t, "web2", demo.Options{})
	p := freePort(t)
	rt := startRuntime(t, config(t, tlsConfigTmpl, tlsCfg{Port: p, Cert: site.www, SNI: site.wild, Members: []string{b1.Addr(), b2.Addr()}}))
	addr := fmt.Sprintf("127.0.0.1:%d", p)
	for _, h2 := range []bool{false, true} {
		c := site.client(addr, "www.example.com", h2, nil)
		seen := map[string]int{}
		for range 6 {
			resp, err := c.Get("https://www.example.com/")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if want := map[bool]int{false: 1, true: 2}[h2]; resp.ProtoMajor != want {
				t.Fatalf("h2=%v: served over HTTP/%d", h2, resp.ProtoMajor)
			}
			seen[backendName(string(body))]++
		}
		// One connection, and each request balanced on its own.
		if seen["web1"] != 3 || seen["web2"] != 3 {
			t.Errorf("h2=%v: %v, want 3 each", h2, seen)
		}
		_, body := get(t, c, "https://www.example.com/headers")
		if !strings.Contains(body, "X-Forwarded-Proto: https") || !strings.Contains(body, "X-Forwarded-For: 127.0.0.1") {
			t.Errorf("h2=%v: headers at the member:\n%s", h2, body)
		}
	}
	// The SNI certificate (a wildcard, from a PKCS#12 file) for its names.
	var served *x509.Certificate
	c := site.client(addr, "shop.example.org", false, nil)
	c.Transport.(*http.Transport).TLSClientConfig.VerifyConnection = func(cs tls.ConnectionState) error {
		served = cs.PeerCertificates[0]
		return nil
	}
	if code, _ := get(t, c, "https://shop.example.org/"); code != 200 || served.DNSNames[0] != "*.example.org" {
		t.Errorf("SNI shop.example.org: %d, served %v", code, served.DNSNames)
	}
	st := tlsStats(rt, rt.Config().LoadBalancers[0].Listeners[0].ID)
	if st == nil || st.Handshakes.Load() < 3 || st.ByProtocol[0].Load() == 0 || st.ByVersion[3].Load() == 0 {
		t.Errorf("handshake counters: %+v", st)
	}
}

func TestHTTP2Bodies(t *testing.T) {
	site := newTLSSite(t)
	b := startBackend(t, "web1", demo.Options{})
	p := freePort(t)
	startRuntime(t, config(t, tlsConfigTmpl, tlsCfg{Port: p, Cert: site.www, Members: []string{b.Addr()}}))
	c := site.client(fmt.Sprintf("127.0.0.1:%d", p), "www.example.com", true, nil)
	payload := strings.Repeat("0123456789abcdef", 20000) // 320 kB
	for _, known := range []bool{true, false} {
		var body io.Reader = strings.NewReader(payload)
		if !known {
			body = io.MultiReader(body) // hides the length: chunked to the member
		}
		resp, err := c.Post("https://www.example.com/echo", "application/octet-stream", body)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || string(got) != payload {
			t.Errorf("echo (length known %v): %d bytes, %v", known, len(got), err)
		}
	}
	resp, err := c.Get("https://www.example.com/bytes/3000000")
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if n != 3000000 || err != nil || resp.ContentLength != 3000000 {
		t.Errorf("3 MB response: %d bytes (Content-Length %d), %v", n, resp.ContentLength, err)
	}
	resp, err = c.Head("https://www.example.com/bytes/123")
	if err != nil || resp.StatusCode != 200 || resp.ContentLength != 123 {
		t.Errorf("HEAD: %v %v", resp, err)
	}
}

func TestClientCertificatesAndXSSLHeaders(t *testing.T) {
	site := newTLSSite(t)
	b := startBackend(t, "web1", demo.Options{})
	alice := site.clients.Issue(t, pki.Leaf{CN: "alice", Client: true})
	mallory := site.clients.Issue(t, pki.Leaf{CN: "mallory", Client: true})
	crl := pki.Write(t, site.dir, "crl.pem", site.clients.CRL(t, mallory))
	stranger := pki.NewCA(t, "stranger").Issue(t, pki.Leaf{CN: "eve", Client: true})
	p := freePort(t)
	rt := startRuntime(t, config(t, tlsConfigTmpl, tlsCfg{Port: p, Cert: site.www, Auth: "MANDATORY",
		CA: filepath.Join(site.dir, "clients.pem"), CRL: crl, SSL: true, Members: []string{b.Addr()}}))
	addr := fmt.Sprintf("127.0.0.1:%d", p)
	for _, h2 := range []bool{false, true} {
		c := site.client(addr, "www.example.com", h2, alice)
		req, _ := http.NewRequest("GET", "https://www.example.com/headers", nil)
		req.Header.Set("X-SSL-Client-CN", "admin") // forged: replaced
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, want := range []string{"X-Ssl-Client-Verify: 0", "X-Ssl-Client-Has-Cert: 1", "X-Ssl-Client-Cn: alice",
			"X-Ssl-Client-Dn: /CN=alice", "X-Ssl-Issuer: /C=FR/O=lbd tests/CN=client ca", "X-Ssl-Client-Not-After: "} {
			if !strings.Contains(string(body), want) {
				t.Errorf("h2=%v: no %q in\n%s", h2, want, body)
			}
		}
		if strings.Contains(string(body), "admin") {
			t.Errorf("h2=%v: forged header forwarded:\n%s", h2, body)
		}
	}
	before := memberRequests(rt)
	for name, cert := range map[string]*pki.Cert{"no certificate": nil, "revoked": mallory, "another CA's": stranger} {
		_, err := site.client(addr, "www.example.com", false, cert).Get("https://www.example.com/")
		if err == nil {
			t.Errorf("%s: request served", name)
		}
	}
	if after := memberRequests(rt); after != before {
		t.Errorf("refused clients reached members: %d requests, was %d", after, before)
	}
	// Under TLS 1.3 a client may see lbd's alert before lbd has counted
	// the failure: wait for the counts.
	st := tlsStats(rt, rt.Config().LoadBalancers[0].Listeners[0].ID)
	waitFor(t, func() bool {
		return st.Failures[7].Load() > 0 && st.Failures[8].Load() > 0 && st.Failures[9].Load() > 0
	},
		"failures counted as no certificate, bad certificate and revoked")
}

func memberRequests(rt *Runtime) uint64 {
	var n uint64
	for _, lb := range rt.Config().LoadBalancers {
		for _, p := range lb.Pools {
			for _, m := range rt.PoolMembers(p.ID) {
				n += m.Traffic.Requests.Load()
			}
		}
	}
	return n
}

// TestCertificateRotationKeepsConnections rotates the certificate file and
// re-applies (what SIGHUP does): new handshakes get the new certificate,
// and HTTP/1.1 and HTTP/2 connections made before go on.
func TestCertificateRotationKeepsConnections(t *testing.T) {
	site := newTLSSite(t)
	b := startBackend(t, "web1", demo.Options{})
	p := freePort(t)
	cfg := config(t, tlsConfigTmpl, tlsCfg{Port: p, Cert: site.www, Members: []string{b.Addr()}})
	rt := startRuntime(t, cfg)
	addr := fmt.Sprintf("127.0.0.1:%d", p)
	h1, h2 := site.client(addr, "www.example.com", false, nil), site.client(addr, "www.example.com", true, nil)
	for _, c := range []*http.Client{h1, h2} {
		if code, _ := get(t, c, "https://www.example.com/"); code != 200 {
			t.Fatal(code)
		}
	}
	fresh := site.ca.Issue(t, pki.Leaf{CN: "www.example.com"})
	if err := os.WriteFile(site.www, fresh.BundlePEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := rt.Apply(context.Background(), config(t, tlsConfigTmpl, tlsCfg{Port: p, Cert: site.www, Members: []string{b.Addr()}})); err != nil {
		t.Fatal(err)
	}
	st := tlsStats(rt, rt.Config().LoadBalancers[0].Listeners[0].ID)
	before := st.Handshakes.Load()
	for _, c := range []*http.Client{h1, h2} {
		if code, _ := get(t, c, "https://www.example.com/"); code != 200 {
			t.Errorf("established connection after rotation: %d", code)
		}
	}
	if st.Handshakes.Load() != before {
		t.Errorf("the established connections handshook again (%d → %d)", before, st.Handshakes.Load())
	}
	served := servedCert(t, addr, "www.example.com", site.ca.Pool())
	if !served.Equal(fresh.Cert) {
		t.Errorf("new handshake served serial %v, want the new certificate %v", served.SerialNumber, fresh.Cert.SerialNumber)
	}
	// A broken file is refused and the listener keeps what it serves.
	expired := site.ca.Issue(t, pki.Leaf{CN: "www.example.com", NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-time.Hour)})
	os.WriteFile(site.www, expired.BundlePEM(), 0o600)
	err := rt.Apply(context.Background(), config(t, tlsConfigTmpl, tlsCfg{Port: p, Cert: site.www, Members: []string{b.Addr()}}))
	if err == nil || !strings.Contains(err.Error(), site.www+": the certificate has expired") {
		t.Fatalf("expired certificate: %v", err)
	}
	if served := servedCert(t, addr, "www.example.com", site.ca.Pool()); !served.Equal(fresh.Cert) {
		t.Errorf("after a refused change the listener serves serial %v", served.SerialNumber)
	}
}

func servedCert(t *testing.T, addr, sni string, roots *x509.CertPool) *x509.Certificate {
	t.Helper()
	c, err := tls.Dial("tcp", addr, &tls.Config{ServerName: sni, RootCAs: roots})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0]
}

const tlsPoolTmpl = `
loadbalancers:
- name: lb-reencrypt
  vip_address: 127.0.0.1
  listeners:
  - name: http
    protocol: HTTP
    protocol_port: {{.Port}}
    default_pool:
      name: pool1
      protocol: HTTP
      lb_algorithm: ROUND_ROBIN
      tls_enabled: true
{{- if .CA}}
      ca_tls_container_ref: {{.CA}}
{{- end}}
{{- if .Cert}}
      tls_container_ref: {{.Cert}}
{{- end}}
      members:
      - address: 127.0.0.1
        protocol_port: {{port .Member}}
`

// TestTLSToMembers re-encrypts to members: verified against the pool's
// CA (a member of another CA is refused, as a connect failure), presenting
// the pool's client certificate to a member that requires one.
func TestTLSToMembers(t *testing.T) {
	site := newTLSSite(t)
	memberCert := site.ca.Issue(t, pki.Leaf{CN: "member", IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
	lbClient := site.clients.Issue(t, pki.Leaf{CN: "lbd", Client: true})
	var mu sync.Mutex
	var sawClient []string
	member := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		if len(r.TLS.PeerCertificates) > 0 {
			sawClient = append(sawClient, r.TLS.PeerCertificates[0].Subject.CommonName)
		}
		mu.Unlock()
		fmt.Fprintf(w, "tls %x alpn %q", r.TLS.Version, r.TLS.NegotiatedProtocol)
	}))
	member.TLS = &tls.Config{Certificates: []tls.Certificate{memberCert.TLS()}, ClientAuth: tls.VerifyClientCertIfGiven, ClientCAs: site.clients.Pool()}
	member.StartTLS()
	defer member.Close()
	caFile := pki.Write(t, site.dir, "member-ca.pem", site.ca.PEM())
	otherCA := pki.Write(t, site.dir, "other-ca.pem", pki.NewCA(t, "other").PEM())
	clientFile := pki.Write(t, site.dir, "lbd-client.pem", lbClient.BundlePEM())
	p := freePort(t)
	url := fmt.Sprintf("http://127.0.0.1:%d/", p)
	type poolCfg struct {
		Port             int
		CA, Cert, Member string
	}
	rt := startRuntime(t, config(t, tlsPoolTmpl, poolCfg{Port: p, CA: caFile, Cert: clientFile, Member: member.Listener.Addr().String()}))
	c := &http.Client{Timeout: 10 * time.Second}
	for range 3 {
		code, body := get(t, c, url)
		if code != 200 || !strings.Contains(body, `tls 304 alpn "http/1.1"`) {
			t.Fatalf("verified member: %d %q", code, body)
		}
	}
	mu.Lock()
	if len(sawClient) != 3 || sawClient[0] != "lbd" {
		t.Errorf("client certificate at the member: %v", sawClient)
	}
	mu.Unlock()
	if err := rt.Apply(context.Background(), config(t, tlsPoolTmpl, poolCfg{Port: p, CA: otherCA, Member: member.Listener.Addr().String()})); err != nil {
		t.Fatal(err)
	}
	if code, _ := get(t, c, url); code != 503 {
		t.Errorf("member not trusted by the pool's CA: %d, want 503", code)
	}
	if err := rt.Apply(context.Background(), config(t, tlsPoolTmpl, poolCfg{Port: p, Member: member.Listener.Addr().String()})); err != nil {
		t.Fatal(err)
	}
	if code, _ := get(t, c, url); code != 200 {
		t.Errorf("no CA (verify none): %d", code)
	}
}

func TestTLSApplyErrorsNameTheRef(t *testing.T) {
	site := newTLSSite(t)
	missing := filepath.Join(site.dir, "missing.pem")
	rt := New(testLogger(t), Options{})
	defer rt.Shutdown(context.Background())
	cfg := config(t, tlsConfigTmpl, tlsCfg{Port: freePort(t), Cert: missing, Members: []string{"127.0.0.1:1"}})
	err := rt.Apply(context.Background(), cfg)
	if err == nil || !strings.Contains(err.Error(), missing+": cannot read the file: no such file or directory") {
		t.Errorf("missing file: %v", err)
	}
	var ve *octavia.ValidationError
	if errors.As(err, &ve) {
		t.Errorf("a data-plane error, not a validation error: %v", err)
	}
}

func tlsStats(rt *Runtime, id string) *tlsterm.Stats {
	st, _ := rt.ListenerTLS(id)
	return st
}

// TestPrometheusListenerWithTLS: Octavia's "PROMETHEUS with TLS" (a
// PROMETHEUS listener with certificate refs) serves /metrics over TLS only.
func TestPrometheusListenerWithTLS(t *testing.T) {
	site := newTLSSite(t)
	p := freePort(t)
	rt := New(testLogger(t), Options{Metrics: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "lbd_up 1\n")
	})})
	defer rt.Shutdown(context.Background())
	cfg := config(t, fmt.Sprintf(`
loadbalancers:
- name: lb-prom
  vip_address: 127.0.0.1
  listeners:
  - name: prom
    protocol: PROMETHEUS
    protocol_port: %d
    default_tls_container_ref: %s
`, p, site.www), nil)
	if err := rt.Apply(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", p)
	code, body := get(t, site.client(addr, "www.example.com", false, nil), "https://www.example.com/metrics")
	if code != 200 || body != "lbd_up 1\n" {
		t.Errorf("scrape over TLS: %d %q", code, body)
	}
	if _, err := (&http.Client{Timeout: 5 * time.Second}).Get("http://" + addr + "/metrics"); err == nil {
		t.Error("plain HTTP scrape answered")
	}
}

// TestOCSPStapleAndResumption: a certificate naming an OCSP responder is
// served with the staple found next to its file, and a client resumes its
// session (a ticket) on its next connection, also after the session
// ticket keys rotate once.
func TestOCSPStapleAndResumption(t *testing.T) {
	site := newTLSSite(t)
	leaf := site.ca.Issue(t, pki.Leaf{CN: "www.example.com", OCSP: []string{"http://ocsp.example.com/"}})
	certFile := pki.Write(t, site.dir, "stapled.pem", leaf.BundlePEM())
	staple := leaf.OCSP(t, time.Now().Add(24*time.Hour))
	pki.Write(t, site.dir, "stapled.pem.ocsp", staple)
	b := startBackend(t, "web1", demo.Options{})
	p := freePort(t)
	rt := startRuntime(t, config(t, tlsConfigTmpl, tlsCfg{Port: p, Cert: certFile, Members: []string{b.Addr()}}))
	addr := fmt.Sprintf("127.0.0.1:%d", p)
	cfg := &tls.Config{ServerName: "www.example.com", RootCAs: site.ca.Pool(), ClientSessionCache: tls.NewLRUClientSessionCache(4)}
	dial := func() tls.ConnectionState {
		c, err := tls.Dial("tcp", addr, cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		// A request and its answer: TLS 1.3 tickets come after the
		// handshake.
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: www.example.com\r\n\r\n")
		buf := make([]byte, 4096)
		c.Read(buf)
		return c.ConnectionState()
	}
	first := dial()
	if !bytes.Equal(first.OCSPResponse, staple) {
		t.Errorf("staple: %d bytes, want the %d of the .ocsp file", len(first.OCSPResponse), len(staple))
	}
	if first.DidResume || !dial().DidResume {
		t.Error("the second connection did not resume the first's session")
	}
	rt.tickets.Rotate()
	if !dial().DidResume {
		t.Error("no resumption after a ticket key rotation")
	}
	st := tlsStats(rt, rt.Config().LoadBalancers[0].Listeners[0].ID)
	if st.Resumed.Load() < 2 {
		t.Errorf("resumed handshakes counted: %d", st.Resumed.Load())
	}
}

// TestH2CPriorKnowledge: a client speaking HTTP/2 with prior knowledge to
// a plain HTTP listener is served HTTP/2, each request balanced.
func TestH2CPriorKnowledge(t *testing.T) {
	b1 := startBackend(t, "web1", demo.Options{})
	b2 := startBackend(t, "web2", demo.Options{})
	p := freePort(t)
	startRuntime(t, config(t, `
loadbalancers:
- name: lb-h2c
  vip_address: 127.0.0.1
  listeners:
  - name: http
    protocol: HTTP
    protocol_port: {{.Port}}
    insert_headers: {X-Forwarded-Proto: "true"}
    default_pool:
      name: pool1
      protocol: HTTP
      lb_algorithm: ROUND_ROBIN
      members:
      - {address: 127.0.0.1, protocol_port: {{port .A}}}
      - {address: 127.0.0.1, protocol_port: {{port .B}}}
`, map[string]any{"Port": p, "A": b1.Addr(), "B": b2.Addr()}))
	var protos http.Protocols
	protos.SetUnencryptedHTTP2(true)
	tr := &http.Transport{Protocols: &protos}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	url := fmt.Sprintf("http://127.0.0.1:%d/", p)
	seen := map[string]int{}
	for range 4 {
		resp, err := c.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.ProtoMajor != 2 {
			t.Fatalf("HTTP/%d", resp.ProtoMajor)
		}
		seen[backendName(string(body))]++
	}
	if seen["web1"] != 2 || seen["web2"] != 2 {
		t.Errorf("%v, want 2 each", seen)
	}
	_, body := get(t, c, url+"headers")
	if !strings.Contains(body, "X-Forwarded-Proto: http\r\n") || strings.Contains(body, "Content-Length") {
		t.Errorf("headers at the member:\n%s", body)
	}
	// HTTP/1.1 clients are served as before.
	if code, _ := get(t, &http.Client{Timeout: 5 * time.Second}, url); code != 200 {
		t.Errorf("HTTP/1.1: %d", code)
	}
}

// TestAccessLogHTTP2: each HTTP/2 stream is one access log line, its
// request line naming HTTP/2.0 as HAProxy writes it, with the member that
// answered and its status.
func TestAccessLogHTTP2(t *testing.T) {
	site := newTLSSite(t)
	b := startBackend(t, "web1", demo.Options{})
	p := freePort(t)
	rt, out, _ := loggingRuntime(t, true)
	cfg := config(t, tlsConfigTmpl, tlsCfg{Port: p, Cert: site.www, Members: []string{b.Addr()}})
	if err := rt.Apply(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	c := site.client(fmt.Sprintf("127.0.0.1:%d", p), "www.example.com", true, nil)
	var bodies []string
	for i := range 3 {
		code, body := get(t, c, fmt.Sprintf("https://www.example.com/item/%d", i))
		if code != 200 {
			t.Fatal(code)
		}
		bodies = append(bodies, body)
	}
	recs := out.await(t, 3)
	pool := cfg.LoadBalancers[0].Pools[0]
	for i, rec := range recs {
		wantFields(t, fmt.Sprintf("stream %d", i), rec, map[string]any{
			"protocol": "HTTP", "listener": "https", "pool_id": pool.ID, "member_id": pool.Members[0].ID,
			"request": fmt.Sprintf("GET /item/%d HTTP/2.0", i), "status": 200.0, "termination": "--",
			"tls_protocol": "TLSv1.3", "tls_sni": "www.example.com",
		})
		// bytes_out: the member's response as relayed (head and body), as
		// for HTTP/1.1.
		if n, _ := rec["bytes_out"].(float64); n < float64(len(bodies[i]))+20 || n > float64(len(bodies[i]))+1024 {
			t.Errorf("stream %d: bytes_out %v for a body of %d bytes", i, rec["bytes_out"], len(bodies[i]))
		}
	}
	// The first stream opened the member connection: its connect time is
	// counted (a kept-alive one counts 0, as HAProxy's %Tc).
	if c, _ := recs[0]["connect_ms"].(float64); c <= 0 {
		t.Errorf("stream 0: connect_ms %v, want the time to open the member connection", recs[0]["connect_ms"])
	}
}

// TestAccessLogClientCertificate: Octavia's log format's
// %[ssl_c_verify] %{+Q}[ssl_c_s_dn] carry the client certificate of a
// TERMINATED_HTTPS connection, as the amphora's HAProxy logs them.
func TestAccessLogClientCertificate(t *testing.T) {
	site := newTLSSite(t)
	b := startBackend(t, "web1", demo.Options{})
	logFile := filepath.Join(t.TempDir(), "access.log")
	format, _ := accesslog.ParseFormat(accesslog.AmphoraFormat)
	sink, err := accesslog.OpenSink(logFile, accesslog.SinkOptions{Format: format})
	if err != nil {
		t.Fatal(err)
	}
	// A line is logged after its response is sent: the JSON copy tells
	// when both are in, before the log is closed.
	seen := &lines{}
	seenSink, err := accesslog.OpenSink("stderr", accesslog.SinkOptions{Stderr: seen})
	if err != nil {
		t.Fatal(err)
	}
	rt, _, al := loggingRuntime(t, true, sink, seenSink)
	p := freePort(t)
	if err := rt.Apply(context.Background(), config(t, tlsConfigTmpl, tlsCfg{Port: p, Cert: site.www, Auth: "OPTIONAL",
		CA: filepath.Join(site.dir, "clients.pem"), Members: []string{b.Addr()}})); err != nil {
		t.Fatal(err)
	}
	alice := site.clients.Issue(t, pki.Leaf{CN: "alice", Client: true})
	addr := fmt.Sprintf("127.0.0.1:%d", p)
	get(t, site.client(addr, "www.example.com", false, alice), "https://www.example.com/with")
	get(t, site.client(addr, "www.example.com", false, nil), "https://www.example.com/without")
	seen.await(t, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	al.Close(ctx)
	data, _ := os.ReadFile(logFile)
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], `"GET /with HTTP/1.1" 200 `) || !strings.Contains(lines[0], ` 0 "/CN=alice" `) ||
		!strings.Contains(lines[1], ` 0 "" `) {
		t.Errorf("access log:\n%s", data)
	}
}

// countingFetcher serves Barbican-like refs from memory, counting reads.
type countingFetcher struct {
	mu    sync.Mutex
	data  map[string][]byte
	calls int
}

func (f *countingFetcher) Fetch(_ context.Context, ref string) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	d, ok := f.data[ref]
	if !ok {
		return nil, errors.New("404 Not Found")
	}
	return d, nil
}

func (f *countingFetcher) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

// A remote secret no configuration names any more leaves the cache: named
// again, it is read again.
func TestUnusedRemoteCertsForgotten(t *testing.T) {
	site := newTLSSite(t)
	ref := "https://barbican.invalid/v1/secrets/" + t.Name()
	f := &countingFetcher{data: map[string][]byte{ref: site.www2.PKCS12(t)}}
	rt := New(testLogger(t), Options{Certs: certs.NewStore(f)})
	defer rt.Shutdown(context.Background())
	port := freePort(t)
	apply := func(cert string) {
		t.Helper()
		if err := rt.Apply(context.Background(), config(t, tlsConfigTmpl, tlsCfg{Port: port, Cert: cert, Members: []string{"127.0.0.1:1"}})); err != nil {
			t.Fatal(err)
		}
	}
	apply(ref)
	apply(ref)
	if n := f.count(); n != 1 {
		t.Fatalf("%d reads of a ref in use, want 1 (cached)", n)
	}
	apply(site.www)
	apply(ref)
	if n := f.count(); n != 2 {
		t.Errorf("%d reads after the ref was dropped and named again, want 2", n)
	}
}

// A configuration applied again (a load balancer the API changed keeps its
// graph across a SIGHUP) serves a replaced certificate file once
// RereadCertificates was called, as lbd does on SIGHUP.
func TestRereadCertificates(t *testing.T) {
	site := newTLSSite(t)
	p := freePort(t)
	cfg := config(t, tlsConfigTmpl, tlsCfg{Port: p, Cert: site.www, Members: []string{"127.0.0.1:1"}})
	rt := startRuntime(t, cfg)
	addr := fmt.Sprintf("127.0.0.1:%d", p)
	fresh := site.ca.Issue(t, pki.Leaf{CN: "www.example.com"})
	if err := os.WriteFile(site.www, fresh.BundlePEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	rt.RereadCertificates()
	if err := rt.Apply(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	if served := servedCert(t, addr, "www.example.com", site.ca.Pool()); !served.Equal(fresh.Cert) {
		t.Errorf("after RereadCertificates and Apply: serial %v served, want the new certificate's %v", served.SerialNumber, fresh.Cert.SerialNumber)
	}
}

const tlsL7Tmpl = `
loadbalancers:
- name: lb-tls-l7
  vip_address: 127.0.0.1
  listeners:
  - name: https
    protocol: TERMINATED_HTTPS
    protocol_port: {{.Port}}
    default_tls_container_ref: {{.Cert}}
    client_authentication: OPTIONAL
    client_ca_tls_container_ref: {{.CA}}
    l7policies:
    - name: no-mallory
      action: REJECT
      position: 1
      rules:
      - {type: SSL_DN_FIELD, compare_type: EQUAL_TO, key: CN, value: mallory}
    - name: certified
      action: REDIRECT_TO_URL
      position: 2
      redirect_url: https://certified.example.com/
      rules:
      - {type: SSL_CONN_HAS_CERT, compare_type: EQUAL_TO, value: "True"}
    default_pool:
      name: pool1
      protocol: HTTP
      lb_algorithm: ROUND_ROBIN
      members:
{{- range .Members}}
      - address: 127.0.0.1
        protocol_port: {{port .}}
{{- end}}
`

// L7 policies on a TERMINATED_HTTPS listener read the client's
// certificate (SSL_CONN_HAS_CERT, SSL_DN_FIELD), and answer HTTP/2 streams
// as they answer HTTP/1.1 requests.
func TestL7SSLRulesOverTLSAndHTTP2(t *testing.T) {
	site := newTLSSite(t)
	b := startBackend(t, "web1", demo.Options{})
	alice := site.clients.Issue(t, pki.Leaf{CN: "alice", Client: true})
	mallory := site.clients.Issue(t, pki.Leaf{CN: "mallory", Client: true})
	p := freePort(t)
	startRuntime(t, config(t, tlsL7Tmpl, tlsCfg{Port: p, Cert: site.www, CA: filepath.Join(site.dir, "clients.pem"), Members: []string{b.Addr()}}))
	addr := fmt.Sprintf("127.0.0.1:%d", p)
	for _, h2 := range []bool{false, true} {
		for _, tc := range []struct {
			who      string
			cert     *pki.Cert
			status   int
			location string
		}{{"no certificate", nil, 200, ""}, {"alice", alice, 302, "https://certified.example.com/"}, {"mallory", mallory, 403, ""}} {
			c := site.client(addr, "www.example.com", h2, tc.cert)
			c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
			resp, err := c.Get("https://www.example.com/")
			if err != nil {
				t.Fatalf("h2=%v %s: %v", h2, tc.who, err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status || resp.Header.Get("Location") != tc.location || resp.ProtoMajor != map[bool]int{false: 1, true: 2}[h2] {
				t.Errorf("h2=%v %s: %s %d Location %q, want %d %q", h2, tc.who, resp.Proto, resp.StatusCode, resp.Header.Get("Location"), tc.status, tc.location)
			}
		}
	}
}
