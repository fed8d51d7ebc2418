// Package l7 evaluates a listener's L7 policies against an HTTP request as
// the amphora's HAProxy does with the configuration Octavia renders for
// them (octavia/common/jinja/haproxy/combined_listeners/templates/macros.j2):
//
//   - each rule is an ACL: HOST_NAME is req.hdr(host) -i, PATH is path,
//     FILE_TYPE is path_end, HEADER is req.hdr(<key>), COOKIE is
//     req.cook(<key>), the SSL types ssl_c_used, ssl_c_verify and
//     ssl_c_s_dn(<key>); the compare types are -m reg, beg, end, sub and
//     str; a header is tested value by value (comma-separated, every
//     occurrence), and a rule whose sample is absent does not match, so
//     its inverse does;
//   - a policy matches when all its rules do (HAProxy's "if a !b c");
//   - policies are tried by action tier, then by position: the REJECTs
//     (http-request deny), then both URL redirects (redirect), then
//     REDIRECT_TO_POOL (use_backend), as HAProxy runs http-request rules
//     before redirects and those before use_backend. The first match wins.
//
// Which policies and rules take part (enabled, with enabled rules, a
// REDIRECT_TO_POOL whose pool is enabled) is the caller's choice: Compile
// takes exactly what runs.
//
// Regular expressions are Go's RE2, which runs in time linear in the
// input. Matching allocates nothing.
//
// It owns the matching and nothing that runs: no connection, pool or
// configuration model. It must not import any lbd package but
// internal/proxy/http1, whose parsed head it reads.
package l7

import (
	"bytes"
	"fmt"
	"regexp"
	"strconv"

	"lbd/internal/proxy/http1"
)

// Action is what a matching policy does.
type Action uint8

// Actions, in the order the amphora evaluates their tiers.
const (
	Reject         Action = iota // answer 403
	RedirectURL                  // answer a redirect to Location
	RedirectPrefix               // answer a redirect to Location + the request's URI
	ToPool                       // forward to Target
)

// Fetch is the part of a request a rule tests.
type Fetch uint8

// Fetches, one per Octavia rule type.
const (
	HostName Fetch = iota
	Path
	FileType
	Header
	Cookie
	SSLConnHasCert
	SSLVerifyResult
	SSLDNField
)

// Compare is how a rule compares.
type Compare uint8

// Compare types, as HAProxy's match methods.
const (
	Regex      Compare = iota // -m reg: the expression matches somewhere
	StartsWith                // -m beg
	EndsWith                  // -m end
	Contains                  // -m sub
	EqualTo                   // -m str
)

// RuleConfig is one rule as the configuration has it.
type RuleConfig struct {
	Fetch   Fetch
	Compare Compare
	Key     string // header, cookie or DN field name
	Value   string
	Invert  bool
}

// PolicyConfig is one policy as the configuration has it. Target is the
// caller's (its pool); Location is the redirect URL or prefix.
type PolicyConfig[T any] struct {
	ID       string
	Action   Action
	Code     int // redirect status
	Location string
	Target   T
	Rules    []RuleConfig
}

// Policy is a compiled policy: what a match tells the caller.
type Policy[T any] struct {
	ID       string
	Action   Action
	Code     int
	Location []byte
	Target   T
	rules    []rule
}

// TLSInfo is what the SSL rules read of the client's TLS connection. A
// request over plain TCP has none (nil), and then every SSL rule finds no
// sample, as HAProxy's ssl_c_* fetches fail on a connection without TLS.
type TLSInfo interface {
	// ClientCertUsed reports whether the client presented a certificate
	// (ssl_c_used).
	ClientCertUsed() bool
	// VerifyResult is the verification result of the client's
	// certificate, an OpenSSL X509_V_ERR code, 0 when it verified
	// (ssl_c_verify).
	VerifyResult() int
	// SubjectField returns the first value of the named field of the
	// client certificate's subject, as ssl_c_s_dn(<field>) does.
	SubjectField(name []byte) (value []byte, ok bool)
}

type rule struct {
	fetch   Fetch
	cmp     Compare
	key     []byte
	value   []byte // lower case when fold
	number  int    // SSL_VERIFY_RESULT
	re      *regexp.Regexp
	invert  bool
	fold    bool // HOST_NAME compares ignoring case (-i)
	trivial bool // SSL_CONN_HAS_CERT: the sample alone decides
}

// Table is a listener's compiled policies, in evaluation order. A nil
// Table matches nothing.
type Table[T any] struct {
	policies []Policy[T]
}

// Compile builds a table from policies given in position order. A policy
// without rules never matches, as Octavia does not render it; it is left
// out.
func Compile[T any](pcs []PolicyConfig[T]) (*Table[T], error) {
	t := &Table[T]{}
	for tier := Reject; tier <= ToPool; tier++ {
		for _, pc := range pcs {
			if tierOf(pc.Action) != tierOf(tier) || tier == RedirectPrefix || len(pc.Rules) == 0 {
				continue
			}
			p := Policy[T]{ID: pc.ID, Action: pc.Action, Code: pc.Code, Location: []byte(pc.Location), Target: pc.Target}
			for i, rc := range pc.Rules {
				r, err := compileRule(rc)
				if err != nil {
					return nil, fmt.Errorf("l7 policy %s rule %d: %w", pc.ID, i, err)
				}
				p.rules = append(p.rules, r)
			}
			t.policies = append(t.policies, p)
		}
	}
	if len(t.policies) == 0 {
		return nil, nil
	}
	return t, nil
}

// tierOf puts both redirects in one tier: HAProxy runs its redirect rules
// in their order, whichever kind.
func tierOf(a Action) Action {
	if a == RedirectPrefix {
		return RedirectURL
	}
	return a
}

// Unquote is the value HAProxy reads from Octavia's rendering of a rule
// value: Octavia escapes backslashes and spaces, which HAProxy's parser
// undoes, and a value in double quotes (the quoted form Octavia's
// validation allows, for values with spaces) loses its quotes.
func Unquote(v string) string {
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		return v[1 : len(v)-1]
	}
	return v
}

func compileRule(rc RuleConfig) (rule, error) {
	r := rule{fetch: rc.Fetch, cmp: rc.Compare, key: []byte(rc.Key), invert: rc.Invert, fold: rc.Fetch == HostName}
	v := Unquote(rc.Value)
	switch rc.Fetch {
	case SSLConnHasCert:
		r.trivial = true
		return r, nil
	case SSLVerifyResult:
		n, err := strconv.Atoi(v)
		if err != nil {
			return r, fmt.Errorf("SSL_VERIFY_RESULT value %q: %w", v, err)
		}
		r.number = n
		return r, nil
	}
	if rc.Compare == Regex {
		pat := v
		if r.fold {
			pat = "(?i)" + pat
		}
		re, err := regexp.Compile(pat)
		if err != nil {
			return r, err
		}
		r.re = re
		return r, nil
	}
	r.value = []byte(v)
	if r.fold { // -i is ASCII case folding
		for i, c := range r.value {
			r.value[i] = lower(c)
		}
	}
	return r, nil
}

// Match returns the first policy the request matches in evaluation order,
// or nil. tls is the client connection's TLS, nil for plain TCP.
func (t *Table[T]) Match(req *http1.Head, tls TLSInfo) *Policy[T] {
	if t == nil {
		return nil
	}
	v := view{req: req, tls: tls, host: -1}
	v.path, v.hasPath = PathOf(req.Target)
	for i := range req.NumFields() {
		if name, _ := req.Field(i); http1.EqualFold(name, "host") {
			v.host = i // the parser admits at most one
			break
		}
	}
	for i := range t.policies {
		p := &t.policies[i]
		if p.matches(&v) {
			return p
		}
	}
	return nil
}

// view is what every rule of one request reads, found once.
type view struct {
	req     *http1.Head
	tls     TLSInfo
	path    []byte
	hasPath bool
	host    int // index of the Host field, -1 when none
}

// Len is the number of policies that take part.
func (t *Table[T]) Len() int {
	if t == nil {
		return 0
	}
	return len(t.policies)
}

func (p *Policy[T]) matches(v *view) bool {
	for i := range p.rules {
		r := &p.rules[i]
		if r.matches(v) == r.invert {
			return false
		}
	}
	return true
}

// matches reports whether some sample of the request satisfies the rule;
// false when there is none.
func (r *rule) matches(v *view) bool {
	req := v.req
	switch r.fetch {
	case Path:
		return v.hasPath && r.test(v.path)
	case FileType:
		if !v.hasPath {
			return false
		}
		if r.cmp == Regex {
			return r.re.Match(v.path)
		}
		// path_end: a suffix match. (Octavia 11 renders EQUAL_TO as
		// "path_end -m str", a whole-path equality that never matches a
		// file type; Octavia 17 fixed it to the suffix match, LP #2066165.)
		return bytes.HasSuffix(v.path, r.value)
	case HostName:
		if v.host < 0 {
			return false
		}
		_, value := req.Field(v.host)
		return r.eachValue(value)
	case Header:
		for i := range req.NumFields() {
			if name, value := req.Field(i); equalFoldBytes(name, r.key) && r.eachValue(value) {
				return true
			}
		}
		return false
	case Cookie:
		for i := range req.NumFields() {
			name, value := req.Field(i)
			if !http1.EqualFold(name, "cookie") {
				continue
			}
			for len(value) > 0 {
				cv, ok, rest := nextCookieNamed(value, r.key)
				if ok && r.test(cv) {
					return true
				}
				value = rest
			}
		}
		return false
	}
	tls := v.tls
	if tls == nil {
		return false
	}
	switch r.fetch {
	case SSLConnHasCert:
		return tls.ClientCertUsed()
	case SSLVerifyResult:
		return tls.VerifyResult() == r.number
	case SSLDNField:
		s, ok := tls.SubjectField(r.key)
		return ok && r.test(s)
	}
	return false
}

// eachValue tests every comma-separated value of a field, as req.hdr
// does in an ACL: empty ones too (an empty field is one empty value).
func (r *rule) eachValue(value []byte) bool {
	for {
		c := bytes.IndexByte(value, ',')
		if c < 0 {
			return r.test(trimOWS(value))
		}
		if r.test(trimOWS(value[:c])) {
			return true
		}
		value = value[c+1:]
	}
}

// test compares one sample.
func (r *rule) test(s []byte) bool {
	if r.cmp == Regex {
		return r.re.Match(s)
	}
	if r.fold {
		switch r.cmp {
		case EqualTo:
			return len(s) == len(r.value) && hasPrefixFold(s, r.value)
		case StartsWith:
			return hasPrefixFold(s, r.value)
		case EndsWith:
			return len(s) >= len(r.value) && hasPrefixFold(s[len(s)-len(r.value):], r.value)
		case Contains:
			for i := 0; i+len(r.value) <= len(s); i++ {
				if hasPrefixFold(s[i:], r.value) {
					return true
				}
			}
			return false
		}
	}
	switch r.cmp {
	case EqualTo:
		return bytes.Equal(s, r.value)
	case StartsWith:
		return bytes.HasPrefix(s, r.value)
	case EndsWith:
		return bytes.HasSuffix(s, r.value)
	case Contains:
		return bytes.Contains(s, r.value)
	}
	return false
}

// PathOf is HAProxy's path fetch: the request target from its first slash
// to before the question mark, without scheme and host for an absolute
// URI. ok is false when the target has no path (an asterisk, or an
// authority alone).
func PathOf(target []byte) (path []byte, ok bool) {
	if len(target) > 0 && target[0] != '/' {
		i := bytes.Index(target, []byte("://"))
		if i <= 0 {
			return nil, false
		}
		rest := target[i+3:]
		j := bytes.IndexByte(rest, '/')
		if j < 0 {
			return nil, false
		}
		target = rest[j:]
	}
	if q := bytes.IndexByte(target, '?'); q >= 0 {
		target = target[:q]
	}
	return target, len(target) > 0
}

// URI is what a prefix redirect appends: the request target as sent, path
// and query, without scheme and host for an absolute URI.
func URI(target []byte) []byte {
	if len(target) > 0 && target[0] != '/' {
		if i := bytes.Index(target, []byte("://")); i > 0 {
			rest := target[i+3:]
			if j := bytes.IndexByte(rest, '/'); j >= 0 {
				return rest[j:]
			}
			return nil
		}
	}
	return target
}

// nextCookieNamed reads the next cookie of a Cookie field value v: its
// value when its name is name, and what follows its ';'. As HAProxy's
// cookie extraction, it stops where fewer than len(name)+2 bytes are left
// (so a last cookie "s=" has no value to find).
func nextCookieNamed(v, name []byte) (value []byte, ok bool, rest []byte) {
	if len(v) <= len(name)+1 {
		return nil, false, nil
	}
	c := v
	if i := bytes.IndexByte(v, ';'); i >= 0 {
		c, rest = v[:i], v[i+1:]
	}
	c = trimOWS(c)
	eq := bytes.IndexByte(c, '=')
	if eq < 0 || !bytes.Equal(trimOWS(c[:eq]), name) {
		return nil, false, rest
	}
	return trimOWS(c[eq+1:]), true, rest
}

// CookieValue returns the value of the first cookie named name in the
// request's Cookie fields, as req.cook does.
func CookieValue(req *http1.Head, name []byte) ([]byte, bool) {
	for i := range req.NumFields() {
		fname, value := req.Field(i)
		if !http1.EqualFold(fname, "cookie") {
			continue
		}
		for len(value) > 0 {
			cv, ok, rest := nextCookieNamed(value, name)
			if ok {
				return cv, true
			}
			value = rest
		}
	}
	return nil, false
}

func trimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

var lowerTable = func() (t [256]byte) {
	for i := range t {
		t[i] = byte(i)
		if 'A' <= i && i <= 'Z' {
			t[i] = byte(i + 'a' - 'A')
		}
	}
	return t
}()

func lower(c byte) byte { return lowerTable[c] }

// hasPrefixFold reports whether s starts with p ignoring ASCII case; p is
// lower case.
func hasPrefixFold(s, p []byte) bool {
	if len(s) < len(p) {
		return false
	}
	for i, c := range p {
		if lower(s[i]) != c {
			return false
		}
	}
	return true
}

func equalFoldBytes(a, b []byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if lower(a[i]) != lower(b[i]) {
			return false
		}
	}
	return true
}
