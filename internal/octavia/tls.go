package octavia

import (
	"crypto/tls"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// TLS settings of listeners and pools: Octavia's defaults and rules
// (octavia/common/constants.py, octavia/common/validate.py and the
// listener and pool controllers), and how they map onto what lbd's TLS
// library (crypto/tls) offers.

// Octavia's [api_settings] defaults (Zed): CIPHERS_OWASP_SUITE_B, and the
// default versions and ALPN protocols, the same for listeners and pools.
const DefaultTLSCiphers = "TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256:" +
	"DHE-RSA-AES256-GCM-SHA384:DHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-AES128-GCM-SHA256:" +
	"DHE-RSA-AES256-SHA256:DHE-RSA-AES128-SHA256:ECDHE-RSA-AES256-SHA384:ECDHE-RSA-AES128-SHA256"

var (
	// DefaultTLSVersions is default_listener_tls_versions and
	// default_pool_tls_versions.
	DefaultTLSVersions = []string{"TLSv1.2", "TLSv1.3"}
	// DefaultALPNProtocols is default_listener_alpn_protocols and
	// default_pool_alpn_protocols.
	DefaultALPNProtocols = []string{"h2", "http/1.1", "http/1.0"}
	// TLSVersionNames are the values Octavia accepts in tls_versions,
	// oldest first (TLS_ALL_VERSIONS).
	TLSVersionNames = []string{"SSLv3", "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"}
	// ALPNProtocolNames are the values Octavia accepts in alpn_protocols.
	ALPNProtocolNames = []string{"h2", "http/1.1", "http/1.0"}
	// ClientAuthModes are the values of client_authentication.
	ClientAuthModes = []string{"NONE", "OPTIONAL", "MANDATORY"}
)

// Client authentication modes.
const (
	ClientAuthNone      = "NONE"
	ClientAuthOptional  = "OPTIONAL"
	ClientAuthMandatory = "MANDATORY"
)

// cipherStringRE is Octavia's VALID_CIPHER_RE (the fix for LP #2162101,
// in Debian's Zed too).
var cipherStringRE = regexp.MustCompile(`^[A-Za-z0-9\-+!:@=_.]+$`)

// tlsVersionIDs are crypto/tls's versions by Octavia's name; SSLv3 has
// none, as crypto/tls (like the OpenSSL 3 under Debian 12's HAProxy) no
// longer speaks it.
var tlsVersionIDs = map[string]uint16{
	"TLSv1": tls.VersionTLS10, "TLSv1.1": tls.VersionTLS11, "TLSv1.2": tls.VersionTLS12, "TLSv1.3": tls.VersionTLS13,
}

// TLSVersionRange is the range of crypto/tls versions a tls_versions list
// enables: from the oldest listed to the newest. crypto/tls, like
// OpenSSL's min/max protocol settings HAProxy uses, cannot leave a hole in
// the middle. ok is false when the list names no version lbd can speak.
func TLSVersionRange(versions []string) (lo, hi uint16, ok bool) {
	for _, v := range versions {
		id, known := tlsVersionIDs[v]
		if !known {
			continue
		}
		if lo == 0 || id < lo {
			lo = id
		}
		if id > hi {
			hi = id
		}
	}
	return lo, hi, lo != 0
}

// tls13Suites are the TLS 1.3 suites by their OpenSSL (and IANA) names.
// crypto/tls always enables all three.
var tls13Suites = []string{"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"}

// opensslSuites maps the OpenSSL names of the TLS 1.0-1.2 suites
// crypto/tls implements to their IDs.
var opensslSuites = map[string]uint16{
	"ECDHE-ECDSA-AES128-GCM-SHA256": tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	"ECDHE-RSA-AES128-GCM-SHA256":   tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	"ECDHE-ECDSA-AES256-GCM-SHA384": tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	"ECDHE-RSA-AES256-GCM-SHA384":   tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	"ECDHE-ECDSA-CHACHA20-POLY1305": tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	"ECDHE-RSA-CHACHA20-POLY1305":   tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
	"ECDHE-ECDSA-AES128-SHA":        tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA,
	"ECDHE-RSA-AES128-SHA":          tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA,
	"ECDHE-ECDSA-AES256-SHA":        tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA,
	"ECDHE-RSA-AES256-SHA":          tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA,
	"ECDHE-ECDSA-AES128-SHA256":     tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256,
	"ECDHE-RSA-AES128-SHA256":       tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256,
	"AES128-GCM-SHA256":             tls.TLS_RSA_WITH_AES_128_GCM_SHA256,
	"AES256-GCM-SHA384":             tls.TLS_RSA_WITH_AES_256_GCM_SHA384,
	"AES128-SHA":                    tls.TLS_RSA_WITH_AES_128_CBC_SHA,
	"AES256-SHA":                    tls.TLS_RSA_WITH_AES_256_CBC_SHA,
	"AES128-SHA256":                 tls.TLS_RSA_WITH_AES_128_CBC_SHA256,
	"DES-CBC3-SHA":                  tls.TLS_RSA_WITH_3DES_EDE_CBC_SHA,
	"ECDHE-RSA-DES-CBC3-SHA":        tls.TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA,
}

// CipherSuites turns an OpenSSL cipher string (tls_ciphers) into the
// crypto/tls suites for TLS 1.0-1.2. Suites are named one per ':'; a name
// prefixed with '!' or '-' is removed, one prefixed with '+' kept (crypto/tls
// orders suites itself). TLS 1.3 suites are always on. Names crypto/tls
// does not implement (DHE, CAMELLIA, ...) and OpenSSL's keywords (HIGH,
// aNULL, @STRENGTH, ...) select nothing; when the string names no suite at
// all, suites is nil: crypto/tls's defaults.
//
// named reports whether the string named any TLS 1.0-1.2 suite (known or
// not), so that a list naming only suites lbd lacks can be refused rather
// than read as "defaults".
func CipherSuites(s string) (suites []uint16, named bool) {
	removed := map[string]bool{}
	for _, tok := range strings.Split(s, ":") {
		if strings.HasPrefix(tok, "!") || strings.HasPrefix(tok, "-") {
			removed[tok[1:]] = true
		}
	}
	for _, tok := range strings.Split(s, ":") {
		tok = strings.TrimPrefix(tok, "+")
		if tok == "" || strings.HasPrefix(tok, "!") || strings.HasPrefix(tok, "-") || slices.Contains(tls13Suites, tok) {
			continue
		}
		if strings.Contains(tok, "-") {
			named = true // looks like a suite name, known to lbd or not
		}
		if id, ok := opensslSuites[tok]; ok && !removed[tok] && !slices.Contains(suites, id) {
			suites = append(suites, id)
		}
	}
	if !named {
		return nil, false
	}
	if suites == nil {
		suites = []uint16{}
	}
	return suites, true
}

// checkTLSOptions checks tls_ciphers, tls_versions and alpn_protocols as
// Octavia does for a TLS listener or a pool with tls_enabled, then what
// lbd needs to serve them.
func checkTLSOptions(p *problems, path, ciphers string, versions, alpn []string) {
	if ciphers != "" && !cipherStringRE.MatchString(ciphers) {
		p.detail(path+".tls_ciphers", ciphers, "Invalid characters in cipher string. Only alphanumeric, -, +, !, :, @, =, _, and . are allowed.")
	}
	switch {
	case versions != nil && len(versions) == 0:
		p.detail(path+".tls_versions", nil, "Empty TLS version list. Either specify at least one TLS version or remove this parameter to use the default.")
	case len(versions) > 0:
		var bad []string
		for _, v := range versions {
			if !slices.Contains(TLSVersionNames, v) {
				bad = append(bad, v)
			}
		}
		if len(bad) > 0 {
			p.detail(path+".tls_versions", strings.Join(bad, ", "), "Invalid TLS versions: "+strings.Join(bad, ", "))
		} else if _, _, ok := TLSVersionRange(versions); !ok {
			p.add(path+".tls_versions", strings.Join(versions, ", "), "names no version lbd can speak: SSLv3 is not supported (give TLSv1 or later)")
		}
	}
	switch {
	case alpn != nil && len(alpn) == 0:
		p.detail(path+".alpn_protocols", nil, "Empty ALPN protocol list. Either specify at least one ALPN protocol or remove this parameter to use the default.")
	default:
		var bad []string
		for _, a := range alpn {
			if !slices.Contains(ALPNProtocolNames, a) {
				bad = append(bad, a)
			}
		}
		if len(bad) > 0 {
			p.detail(path+".alpn_protocols", strings.Join(bad, ", "), "Invalid ALPN protocol: "+strings.Join(bad, ", "))
		}
	}
	if ciphers != "" && cipherStringRE.MatchString(ciphers) {
		lo, _, ok := TLSVersionRange(versions)
		if suites, named := CipherSuites(ciphers); ok && lo < tls.VersionTLS13 && named && len(suites) == 0 {
			p.add(path+".tls_ciphers", ciphers, "names no TLS 1.2 (or older) cipher lbd implements, while tls_versions enables TLS 1.2 or older; lbd's are the ECDHE and RSA AES-GCM, CHACHA20-POLY1305 and AES-CBC suites (DHE is not implemented)")
		}
	}
}

// validateTLS checks a listener's certificate refs and TLS settings in
// the order Octavia's listener controller does
// (_validate_create_listener), each with Octavia's message.
func (l *Listener) validateTLS(p *problems, path string) {
	refs := l.DefaultTLSRef != "" || len(l.SNIContainerRefs) > 0 || l.ClientCATLSRef != ""
	tlsListener := l.Protocol == ProtocolTerminatedHTTPS || (l.Protocol == ProtocolPrometheus && refs)
	if (l.Protocol == ProtocolUDP || l.Protocol == ProtocolSCTP) && (refs || len(l.InsertHeaders) > 0) {
		p.detail(path+".protocol", l.Protocol, "%s protocol listener does not support TLS.", l.Protocol)
		return
	}
	if !tlsListener && refs {
		p.detail(path+".protocol", l.Protocol, "Certificate container references are not allowed on %s protocol listeners.", l.Protocol)
		return
	}
	if l.ClientCATLSRef != "" && l.DefaultTLSRef == "" && len(l.SNIContainerRefs) == 0 {
		p.detail(path+".client_ca_tls_container_ref", l.ClientCATLSRef, "An SNI or default certificate container reference must be provided with a client CA container reference.")
		return
	}
	if tlsListener && l.DefaultTLSRef == "" && len(l.SNIContainerRefs) == 0 {
		what := string(l.Protocol)
		if l.Protocol == ProtocolPrometheus {
			what += " with TLS"
		}
		p.detail(path+".default_tls_container_ref", nil, "An SNI or default certificate container reference must be provided for %s protocol listeners.", what)
		return
	}
	if !slices.Contains(ClientAuthModes, l.ClientAuthentication) {
		p.add(path+".client_authentication", l.ClientAuthentication, "Value should be one of: %s", strings.Join(ClientAuthModes, ", "))
		return
	}
	if l.ClientAuthentication != ClientAuthNone && l.ClientCATLSRef == "" {
		p.detail(path+".client_authentication", l.ClientAuthentication, "Client authentication setting %s requires a client CA container reference.", l.ClientAuthentication)
		return
	}
	if l.ClientCRLRef != "" && l.ClientCATLSRef == "" {
		p.detail(path+".client_crl_container_ref", l.ClientCRLRef, "A client authentication CA reference is required to specify a client authentication revocation list.")
		return
	}
	for i, ref := range l.SNIContainerRefs {
		if ref == "" {
			p.add(path+".sni_container_refs["+itoa(i)+"]", ref, "must not be empty")
		}
	}
	if tlsListener {
		checkTLSOptions(p, path, l.TLSCiphers, l.TLSVersions, l.ALPNProtocols)
	}
}

// validateTLS checks a pool's TLS settings as Octavia's pool controller
// does (_validate_create_pool).
func (pool *Pool) validateTLS(p *problems, path string) {
	if pool.CRLContainerRef != "" && pool.CATLSContainerRef == "" {
		p.detail(path+".crl_container_ref", pool.CRLContainerRef, "A CA certificate reference is required to specify a revocation list.")
		return
	}
	if pool.TLSEnabled != nil && *pool.TLSEnabled {
		checkTLSOptions(p, path, pool.TLSCiphers, pool.TLSVersions, pool.ALPNProtocols)
	} else if pool.TLSCiphers != "" && !cipherStringRE.MatchString(pool.TLSCiphers) {
		p.detail(path+".tls_ciphers", pool.TLSCiphers, "Invalid characters in cipher string. Only alphanumeric, -, +, !, :, @, =, _, and . are allowed.")
	}
}

// TLSRefs lists every certificate ref of the config: listener default, SNI,
// client CA and CRL refs, and pool certificate, CA and CRL refs.
func (c *Config) TLSRefs() []string {
	var refs []string
	add := func(r ...string) {
		for _, x := range r {
			if x != "" {
				refs = append(refs, x)
			}
		}
	}
	for _, lb := range c.LoadBalancers {
		for _, l := range lb.Listeners {
			add(l.DefaultTLSRef, l.ClientCATLSRef, l.ClientCRLRef)
			add(l.SNIContainerRefs...)
		}
		for _, pool := range lb.Pools {
			add(pool.TLSContainerRef, pool.CATLSContainerRef, pool.CRLContainerRef)
		}
	}
	return refs
}

func itoa(i int) string { return strconv.Itoa(i) }
