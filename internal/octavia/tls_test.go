package octavia

import (
	"crypto/tls"
	"errors"
	"slices"
	"strings"
	"testing"
)

const tlsBase = `
loadbalancers:
- name: lb1
  listeners:
  - name: https
    protocol: TERMINATED_HTTPS
    protocol_port: 8443
%s
    default_pool:
      name: pool1
      protocol: HTTP
      lb_algorithm: ROUND_ROBIN
%s
`

func parseTLS(t *testing.T, listener, pool string) (*Config, []*FieldError) {
	t.Helper()
	cfg, err := Parse("tls.yaml", []byte(strings.Replace(strings.Replace(tlsBase, "%s", listener, 1), "%s", pool, 1)))
	var ve *ValidationError
	if errors.As(err, &ve) {
		return nil, ve.Errors
	}
	if err != nil {
		t.Fatal(err)
	}
	return cfg, nil
}

func TestTLSDefaults(t *testing.T) {
	cfg, errs := parseTLS(t, "    default_tls_container_ref: /etc/lbd/www.pem", "      tls_enabled: true")
	if errs != nil {
		t.Fatal(errs[0])
	}
	l := cfg.LoadBalancers[0].Listeners[0]
	if l.TLSCiphers != DefaultTLSCiphers || !slices.Equal(l.TLSVersions, []string{"TLSv1.2", "TLSv1.3"}) ||
		!slices.Equal(l.ALPNProtocols, []string{"h2", "http/1.1", "http/1.0"}) || l.ClientAuthentication != "NONE" {
		t.Errorf("listener defaults: %q %v %v %q", l.TLSCiphers, l.TLSVersions, l.ALPNProtocols, l.ClientAuthentication)
	}
	p := cfg.LoadBalancers[0].Pools[0]
	if p.TLSCiphers != DefaultTLSCiphers || !slices.Equal(p.TLSVersions, DefaultTLSVersions) || !slices.Equal(p.ALPNProtocols, DefaultALPNProtocols) {
		t.Errorf("pool defaults: %q %v %v", p.TLSCiphers, p.TLSVersions, p.ALPNProtocols)
	}
	// HTTP listeners and pools without TLS get none (Octavia returns null).
	var h Listener
	h.Protocol = ProtocolHTTP
	h.SetDefaults()
	var hp Pool
	hp.SetDefaults()
	if h.TLSCiphers != "" || h.TLSVersions != nil || hp.TLSCiphers != "" || hp.ALPNProtocols != nil {
		t.Errorf("non-TLS objects got TLS defaults: %+v %+v", h, hp)
	}
}

func TestTLSValidationMessages(t *testing.T) {
	for _, c := range []struct {
		name, listener, pool string
		path, rule           string
		detail               bool
	}{
		{"no certificate", "", "", "listeners[0].default_tls_container_ref",
			"An SNI or default certificate container reference must be provided for TERMINATED_HTTPS protocol listeners.", true},
		{"client CA without certificate", "    client_ca_tls_container_ref: ca.pem", "", "listeners[0].client_ca_tls_container_ref",
			"An SNI or default certificate container reference must be provided with a client CA container reference.", true},
		{"client auth without CA", "    default_tls_container_ref: a.pem\n    client_authentication: MANDATORY", "", "listeners[0].client_authentication",
			"Client authentication setting MANDATORY requires a client CA container reference.", true},
		{"CRL without CA", "    sni_container_refs: [a.pem]\n    client_crl_container_ref: crl.pem", "", "listeners[0].client_crl_container_ref",
			"A client authentication CA reference is required to specify a client authentication revocation list.", true},
		{"bad client auth", "    default_tls_container_ref: a.pem\n    client_authentication: SOMETIMES", "", "listeners[0].client_authentication",
			"Value should be one of: NONE, OPTIONAL, MANDATORY", false},
		{"empty versions", "    default_tls_container_ref: a.pem\n    tls_versions: []", "", "listeners[0].tls_versions",
			"Empty TLS version list. Either specify at least one TLS version or remove this parameter to use the default.", true},
		{"bad version", "    default_tls_container_ref: a.pem\n    tls_versions: [TLSv1.2, TLSv1.4]", "", "listeners[0].tls_versions",
			"Invalid TLS versions: TLSv1.4", true},
		{"only SSLv3", "    default_tls_container_ref: a.pem\n    tls_versions: [SSLv3]", "", "listeners[0].tls_versions",
			"names no version lbd can speak: SSLv3 is not supported (give TLSv1 or later)", false},
		{"empty ALPN", "    default_tls_container_ref: a.pem\n    alpn_protocols: []", "", "listeners[0].alpn_protocols",
			"Empty ALPN protocol list. Either specify at least one ALPN protocol or remove this parameter to use the default.", true},
		{"bad ALPN", "    default_tls_container_ref: a.pem\n    alpn_protocols: [h2, h3]", "", "listeners[0].alpn_protocols",
			"Invalid ALPN protocol: h3", true},
		{"cipher injection", "    default_tls_container_ref: a.pem\n    tls_ciphers: \"ECDHE-RSA-AES128-GCM-SHA256 crt /etc/shadow\"", "", "listeners[0].tls_ciphers",
			"Invalid characters in cipher string. Only alphanumeric, -, +, !, :, @, =, _, and . are allowed.", true},
		{"no cipher lbd has", "    default_tls_container_ref: a.pem\n    tls_ciphers: DHE-RSA-AES256-GCM-SHA384\n    tls_versions: [TLSv1.2]", "", "listeners[0].tls_ciphers",
			"names no TLS 1.2 (or older) cipher lbd implements", false},
		{"pool CRL without CA", "    default_tls_container_ref: a.pem", "      tls_enabled: true\n      crl_container_ref: crl.pem", "listeners[0].default_pool.crl_container_ref",
			"A CA certificate reference is required to specify a revocation list.", true},
		{"pool empty ALPN", "    default_tls_container_ref: a.pem", "      tls_enabled: true\n      alpn_protocols: []", "listeners[0].default_pool.alpn_protocols",
			"Empty ALPN protocol list.", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, errs := parseTLS(t, c.listener, c.pool)
			for _, fe := range errs {
				if strings.HasSuffix(fe.Path, c.path) && strings.HasPrefix(fe.Rule, c.rule) && fe.Detail == c.detail {
					if fe.Line == 0 {
						t.Errorf("no line for %s", fe)
					}
					return
				}
			}
			t.Errorf("want %s: %q (detail %v), got %v", c.path, c.rule, c.detail, errs)
		})
	}
}

func TestCertificateRefsOnlyOnTLSListeners(t *testing.T) {
	l := &Listener{Protocol: ProtocolHTTP, ProtocolPort: 80, DefaultTLSRef: "a.pem"}
	l.SetDefaults()
	err := l.Validate("listener", nil)
	var ve *ValidationError
	if !errors.As(err, &ve) || ve.Errors[0].Rule != "Certificate container references are not allowed on HTTP protocol listeners." {
		t.Fatalf("got %v", err)
	}
	// Octavia takes TLS options without refs on other protocols, and
	// ignores them.
	l = &Listener{Protocol: ProtocolHTTP, ProtocolPort: 80, TLSVersions: []string{"TLSv1.3"}}
	l.SetDefaults()
	if err := l.Validate("listener", nil); err != nil {
		t.Errorf("tls_versions on HTTP: %v", err)
	}
}

func TestCipherSuites(t *testing.T) {
	suites, named := CipherSuites(DefaultTLSCiphers)
	want := []uint16{tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256}
	if !named || !slices.Equal(suites, want) {
		t.Errorf("Octavia's default: %x, want %x", suites, want)
	}
	if suites, named := CipherSuites("ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:!ECDHE-RSA-AES128-GCM-SHA256"); !named || !slices.Equal(suites, []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}) {
		t.Errorf("with an exclusion: %x", suites)
	}
	if suites, named := CipherSuites("HIGH:!aNULL:!MD5"); named || suites != nil {
		t.Errorf("keywords only: %x %v, want crypto/tls's defaults (nil)", suites, named)
	}
	if suites, named := CipherSuites("TLS_AES_128_GCM_SHA256"); named || suites != nil {
		t.Errorf("TLS 1.3 only: %x %v", suites, named)
	}
	if suites, named := CipherSuites("DHE-RSA-AES128-GCM-SHA256"); !named || suites == nil || len(suites) != 0 {
		t.Errorf("only suites lbd lacks: %x %v, want an empty list", suites, named)
	}
}

func TestTLSVersionRange(t *testing.T) {
	for _, c := range []struct {
		in     []string
		lo, hi uint16
		ok     bool
	}{
		{[]string{"TLSv1.2", "TLSv1.3"}, tls.VersionTLS12, tls.VersionTLS13, true},
		{[]string{"TLSv1.3"}, tls.VersionTLS13, tls.VersionTLS13, true},
		{[]string{"SSLv3", "TLSv1", "TLSv1.3"}, tls.VersionTLS10, tls.VersionTLS13, true},
		{[]string{"SSLv3"}, 0, 0, false},
	} {
		lo, hi, ok := TLSVersionRange(c.in)
		if lo != c.lo || hi != c.hi || ok != c.ok {
			t.Errorf("%v: %x %x %v", c.in, lo, hi, ok)
		}
	}
}
