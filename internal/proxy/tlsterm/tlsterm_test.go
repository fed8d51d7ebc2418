package tlsterm

import (
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"lbd/internal/certs"
	"lbd/internal/lbdtest/pki"
)

func bundle(t *testing.T, c *pki.Cert) *certs.Bundle {
	t.Helper()
	b, err := certs.ParseBundle(c.BundlePEM(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// handshake runs srv on a loopback socket against one client handshake
// and returns what each side saw.
func handshake(t *testing.T, srv *tls.Config, cli *tls.Config) (server tls.ConnectionState, serr, cerr error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := ln.Accept()
		if err != nil {
			serr = err
			return
		}
		defer c.Close()
		tc := tls.Server(c, srv)
		tc.SetDeadline(time.Now().Add(5 * time.Second))
		if serr = tc.Handshake(); serr == nil {
			server = tc.ConnectionState()
			// Let the client read its session ticket (TLS 1.3 sends it
			// after the handshake) before closing.
			tc.Write([]byte("x"))
		}
	}()
	c, err := tls.Dial("tcp", ln.Addr().String(), cli)
	if err == nil {
		buf := make([]byte, 1)
		c.SetDeadline(time.Now().Add(5 * time.Second))
		_, err = c.Read(buf)
		c.Close()
	}
	cerr = err
	<-done
	return server, serr, cerr
}

func TestSNISelection(t *testing.T) {
	ca := pki.NewCA(t, "root")
	def := ca.Issue(t, pki.Leaf{CN: "default.example.com", DNS: []string{"default.example.com"}})
	exact := ca.Issue(t, pki.Leaf{CN: "x", DNS: []string{"www.example.com"}})
	wild := ca.Issue(t, pki.Leaf{CN: "wild", DNS: []string{"*.example.org"}})
	ecdsa := ca.Issue(t, pki.Leaf{CN: "both", DNS: []string{"both.example.net"}, Key: pki.ECDSA})
	rsa := ca.Issue(t, pki.Leaf{CN: "both", DNS: []string{"both.example.net"}, Key: pki.RSA})
	srv, err := NewServer(ServerSettings{Certs: []*certs.Bundle{bundle(t, def), bundle(t, exact), bundle(t, wild), bundle(t, ecdsa), bundle(t, rsa)}})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		sni  string
		want *pki.Cert
		tls  uint16
		suit []uint16
	}{
		{"www.example.com", exact, 0, nil},
		{"WWW.Example.COM.", exact, 0, nil},
		{"a.example.org", wild, 0, nil},
		{"a.b.example.org", def, 0, nil}, // a wildcard covers one label
		{"example.org", def, 0, nil},
		{"", def, 0, nil},
		{"unknown.test", def, 0, nil},
		{"both.example.net", ecdsa, 0, nil},
		// A TLS 1.2 client offering RSA suites only gets the RSA one.
		{"both.example.net", rsa, tls.VersionTLS12, []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256}},
	} {
		cli := &tls.Config{ServerName: c.sni, RootCAs: ca.Pool(), InsecureSkipVerify: c.sni == "" || c.want == def && c.sni != "default.example.com",
			MaxVersion: c.tls, CipherSuites: c.suit}
		st, serr, cerr := handshake(t, srv.Config(), cli)
		if serr != nil || cerr != nil {
			t.Errorf("%q: %v / %v", c.sni, serr, cerr)
			continue
		}
		_ = st
		got, _ := srv.certificate(&tls.ClientHelloInfo{ServerName: c.sni, SupportedVersions: []uint16{tls.VersionTLS13}})
		if c.suit == nil && !got.Leaf.Equal(c.want.Cert) {
			t.Errorf("%q: served %s, want %s", c.sni, got.Leaf.Subject.CommonName, c.want.Cert.Subject.CommonName)
		}
	}
	// The handshake itself served the RSA certificate to the RSA-only client.
	var seen *x509.Certificate
	cli := &tls.Config{ServerName: "both.example.net", RootCAs: ca.Pool(), MaxVersion: tls.VersionTLS12,
		CipherSuites: []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256},
		VerifyConnection: func(cs tls.ConnectionState) error {
			seen = cs.PeerCertificates[0]
			return nil
		}}
	if _, serr, cerr := handshake(t, srv.Config(), cli); serr != nil || cerr != nil || !seen.Equal(rsa.Cert) {
		t.Errorf("RSA-only client: %v %v, served %v", serr, cerr, seen.PublicKeyAlgorithm)
	}
}

func TestClientAuthentication(t *testing.T) {
	ca := pki.NewCA(t, "server ca")
	clientCA := pki.NewCA(t, "client ca")
	stranger := pki.NewCA(t, "someone else")
	server := ca.Issue(t, pki.Leaf{CN: "www.example.com"})
	good := clientCA.Issue(t, pki.Leaf{CN: "alice", Client: true})
	revoked := clientCA.Issue(t, pki.Leaf{CN: "mallory", Client: true})
	foreign := stranger.Issue(t, pki.Leaf{CN: "eve", Client: true})
	crl, err := certs.ParseCRL(clientCA.CRL(t, revoked))
	if err != nil {
		t.Fatal(err)
	}
	mk := func(mode tls.ClientAuthType) *Server {
		s, err := NewServer(ServerSettings{Certs: []*certs.Bundle{bundle(t, server)}, ClientAuth: mode,
			ClientCAs: []*x509.Certificate{clientCA.Cert}, CRL: crl})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	client := func(c *pki.Cert) *tls.Config {
		cfg := &tls.Config{ServerName: "www.example.com", RootCAs: ca.Pool()}
		if c != nil {
			// Sent whatever CAs the server asks for, as OpenSSL clients do
			// (crypto/tls would hold back a certificate of another CA).
			tc := c.TLS()
			cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &tc, nil }
		}
		return cfg
	}
	for _, c := range []struct {
		name   string
		mode   tls.ClientAuthType
		cert   *pki.Cert
		reason Reason // -1: succeeds
	}{
		{"optional without", tls.VerifyClientCertIfGiven, nil, -1},
		{"optional with", tls.VerifyClientCertIfGiven, good, -1},
		{"optional with a foreign certificate", tls.VerifyClientCertIfGiven, foreign, FailBadClientCert},
		{"mandatory without", tls.RequireAndVerifyClientCert, nil, FailNoClientCert},
		{"mandatory with", tls.RequireAndVerifyClientCert, good, -1},
		{"mandatory with a foreign certificate", tls.RequireAndVerifyClientCert, foreign, FailBadClientCert},
		{"mandatory revoked", tls.RequireAndVerifyClientCert, revoked, FailRevoked},
	} {
		t.Run(c.name, func(t *testing.T) {
			st, serr, _ := handshake(t, mk(c.mode).Config(), client(c.cert))
			if c.reason < 0 {
				if serr != nil {
					t.Fatal(serr)
				}
				p := NewPeer(&st)
				if (c.cert != nil) != (p.HasCert == "1") {
					t.Errorf("has cert = %s", p.HasCert)
				}
				return
			}
			if serr == nil {
				t.Fatal("handshake succeeded")
			}
			if r := Classify(serr); r != c.reason {
				t.Errorf("reason %s (%v), want %s", FailureReasons[r], serr, FailureReasons[c.reason])
			}
		})
	}
}

// TestPeerMatchesHAProxy checks the X-SSL-* values against what HAProxy
// 2.6 inserted for the same certificate shape (seen by running it with
// Octavia's header lines; TestClientDNAgainstHAProxy in internal/proxy
// measures it): DN entries in order, multi-valued RDNs flat, nothing
// escaped, the first CN, upper-case SHA-1, UTCTime.
func TestPeerMatchesHAProxy(t *testing.T) {
	ca := pki.NewCA(t, "Test CA")
	subject := pkix.Name{ExtraNames: []pkix.AttributeTypeAndValue{
		{Type: []int{2, 5, 4, 6}, Value: "FR"},
		{Type: []int{2, 5, 4, 8}, Value: `Ile "de" France`},
		{Type: []int{2, 5, 4, 10}, Value: "lbd, tests"},
		{Type: []int{2, 5, 4, 3}, Value: "client one"},
		{Type: []int{2, 5, 4, 3}, Value: "second"},
		{Type: []int{0, 9, 2342, 19200300, 100, 1, 1}, Value: "u1"},
	}}
	notBefore := time.Date(2026, 12, 3, 21, 33, 37, 0, time.UTC)
	c := ca.Issue(t, pki.Leaf{Subject: &subject, Client: true, NotBefore: notBefore, NotAfter: notBefore.Add(240 * time.Hour)})
	p := NewPeer(&tls.ConnectionState{PeerCertificates: []*x509.Certificate{c.Cert}})
	if p.DN != `/C=FR/ST=Ile "de" France/O=lbd, tests/CN=client one/CN=second/UID=u1` {
		t.Errorf("DN %q", p.DN)
	}
	if p.CN != "client one" || p.Issuer != "/C=FR/O=lbd tests/CN=Test CA" || p.Verify != "0" || p.HasCert != "1" {
		t.Errorf("CN %q issuer %q verify %q has %q", p.CN, p.Issuer, p.Verify, p.HasCert)
	}
	if p.NotBefore != "261203213337Z" || p.NotAfter != "261213213337Z" {
		t.Errorf("dates %q %q", p.NotBefore, p.NotAfter)
	}
	if len(p.SHA1) != 40 || strings.ToUpper(p.SHA1) != p.SHA1 {
		t.Errorf("sha1 %q", p.SHA1)
	}
	// L7's SSL_DN_FIELD rules: the first value of the field, by OpenSSL's
	// short name only, as ssl_c_s_dn(<field>) (measured against HAProxy by
	// TestClientDNAgainstHAProxy in internal/proxy).
	for name, want := range map[string]string{"CN": "client one", "cn": "client one", "UID": "u1", "0.9.2342.19200300.100.1.1": "", "OU": ""} {
		v, ok := p.SubjectField([]byte(name))
		if string(v) != want || ok != (want != "") {
			t.Errorf("SubjectField(%s) = %q, %v; want %q", name, v, ok, want)
		}
	}
	if !p.ClientCertUsed() || p.VerifyResult() != 0 {
		t.Errorf("ClientCertUsed %v VerifyResult %d", p.ClientCertUsed(), p.VerifyResult())
	}
	if n := NewPeer(&tls.ConnectionState{Version: tls.VersionTLS13, CipherSuite: tls.TLS_AES_128_GCM_SHA256, ServerName: "a.example"}); n.subject != nil || n.DN+n.CN+n.Issuer+n.SHA1+n.NotBefore+n.NotAfter != "" ||
		[5]string{n.Verify, n.HasCert, n.Protocol, n.Cipher, n.SNI} != [5]string{"0", "0", "TLSv1.3", "TLS_AES_128_GCM_SHA256", "a.example"} {
		t.Errorf("no certificate: %+v", n)
	}
}

func TestTicketsResumeAcrossRotationAndProcesses(t *testing.T) {
	ca := pki.NewCA(t, "root")
	leaf := bundle(t, ca.Issue(t, pki.Leaf{CN: "www.example.com"}))
	a := NewTickets()
	srvA, _ := NewServer(ServerSettings{Certs: []*certs.Bundle{leaf}, Tickets: a})
	cache := tls.NewLRUClientSessionCache(8)
	cli := &tls.Config{ServerName: "www.example.com", RootCAs: ca.Pool(), ClientSessionCache: cache}
	resumed := func(srv *Server) bool {
		t.Helper()
		st, serr, cerr := handshake(t, srv.Config(), cli)
		if serr != nil || cerr != nil {
			t.Fatalf("%v / %v", serr, cerr)
		}
		return st.DidResume
	}
	if resumed(srvA) {
		t.Fatal("first handshake resumed")
	}
	if !resumed(srvA) {
		t.Fatal("second handshake did not resume")
	}
	// A new key: tickets sealed under the previous one still open.
	a.Rotate()
	if !resumed(srvA) {
		t.Error("did not resume after one rotation")
	}
	// Another lbd with the same keys resumes this one's tickets.
	b := &Tickets{}
	b.keys.Store(a.keys.Load())
	srvB, _ := NewServer(ServerSettings{Certs: []*certs.Bundle{leaf}, Tickets: b})
	if !resumed(srvB) {
		t.Error("a server sharing the keys did not resume")
	}
	// Three rotations retire every key the client's ticket could be under.
	for range 3 {
		a.Rotate()
	}
	if resumed(srvA) {
		t.Error("resumed with a retired key")
	}
}

func TestReadTicketKeys(t *testing.T) {
	dir := t.TempDir()
	good := pki.Write(t, dir, "keys", []byte("# rotated hourly\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n\nHx4dHBsaGRgXFhUUExIREA8ODQwLCgkIBwYFBAMCAQA=\n"))
	keys, err := ReadTicketKeys(good)
	if err != nil || len(keys) != 2 || keys[0][1] != 1 {
		t.Fatalf("%v %d", err, len(keys))
	}
	bad := pki.Write(t, dir, "bad", []byte("c2hvcnQ=\n"))
	if _, err := ReadTicketKeys(bad); err == nil || !strings.Contains(err.Error(), "bad:1: want 32 bytes") {
		t.Errorf("short key: %v", err)
	}
}

func TestClassify(t *testing.T) {
	ca := pki.NewCA(t, "root")
	srv, _ := NewServer(ServerSettings{Certs: []*certs.Bundle{bundle(t, ca.Issue(t, pki.Leaf{CN: "www.example.com"}))},
		MinVersion: tls.VersionTLS13, ALPN: []string{"h2"}})
	for _, c := range []struct {
		name string
		cli  *tls.Config
		want Reason
	}{
		{"untrusted certificate", &tls.Config{ServerName: "www.example.com"}, FailClientAlert},
		{"old version", &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS12}, FailVersion},
		{"no common ALPN", &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"spdy/3"}}, FailALPN},
	} {
		_, serr, _ := handshake(t, srv.Config(), c.cli)
		if serr == nil || Classify(serr) != c.want {
			t.Errorf("%s: %v classified %s", c.name, serr, FailureReasons[Classify(serr)])
		}
	}
	// Plain HTTP to the TLS port.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	defer ln.Close()
	go func() {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err == nil {
			c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
			c.Close()
		}
	}()
	c, _ := ln.Accept()
	err := tls.Server(c, srv.Config()).Handshake()
	if Classify(err) != FailNotTLS {
		t.Errorf("plain HTTP: %v classified %s", err, FailureReasons[Classify(err)])
	}
	if Classify(errors.New("something new")) != FailOther {
		t.Error("unknown error not 'other'")
	}
}

func TestClientVerifiesMembers(t *testing.T) {
	ca := pki.NewCA(t, "member ca")
	other := pki.NewCA(t, "other")
	memberCert := ca.Issue(t, pki.Leaf{CN: "member", IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
	revokedCert := ca.Issue(t, pki.Leaf{CN: "revoked member"})
	crl, _ := certs.ParseCRL(ca.CRL(t, revokedCert))
	lbClient := ca.Issue(t, pki.Leaf{CN: "lbd", Client: true})
	serve := func(c *pki.Cert, requireClient bool) *tls.Config {
		cfg := &tls.Config{Certificates: []tls.Certificate{c.TLS()}}
		if requireClient {
			cfg.ClientAuth, cfg.ClientCAs = tls.RequireAndVerifyClientCert, ca.Pool()
		}
		return cfg
	}
	verify := NewClient(ClientSettings{CAs: []*x509.Certificate{ca.Cert}, CRL: crl, ALPN: []string{"h2", "http/1.1"}})
	if len(verify.NextProtos) != 1 || verify.NextProtos[0] != "http/1.1" {
		t.Errorf("ALPN offered to members: %v", verify.NextProtos)
	}
	if _, serr, cerr := handshake(t, serve(memberCert, false), verify); serr != nil || cerr != nil {
		t.Errorf("trusted member: %v %v", serr, cerr)
	}
	if _, _, cerr := handshake(t, serve(other.Issue(t, pki.Leaf{CN: "impostor"}), false), verify); cerr == nil {
		t.Error("a member of another CA was accepted")
	}
	if _, _, cerr := handshake(t, serve(revokedCert, false), verify); cerr == nil || !strings.Contains(cerr.Error(), "revoked") {
		t.Errorf("revoked member: %v", cerr)
	}
	none := NewClient(ClientSettings{})
	if _, _, cerr := handshake(t, serve(other.Issue(t, pki.Leaf{CN: "anyone"}), false), none); cerr != nil {
		t.Errorf("verify none: %v", cerr)
	}
	withCert := NewClient(ClientSettings{Cert: bundle(t, lbClient), CAs: []*x509.Certificate{ca.Cert}})
	if st, serr, cerr := handshake(t, serve(memberCert, true), withCert); serr != nil || cerr != nil || len(st.PeerCertificates) == 0 {
		t.Errorf("client certificate to a member requiring one: %v %v", serr, cerr)
	}
	if _, serr, _ := handshake(t, serve(memberCert, true), verify); serr == nil {
		t.Error("member requiring a certificate accepted none")
	}
}
