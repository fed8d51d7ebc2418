package octavia

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"unicode"
)

// The checks of L7 policies and rules, in Octavia's order and with its
// messages: the API's sanitize and WSME checks, l7rule_data, and the
// checks that need the load balancer (redirect pools, the provider).

// L7Error is a problem Octavia's API answers with Code and the faultstring
// Message, word for word.
type L7Error struct {
	Code    int
	Message string
}

func (e *L7Error) Error() string { return e.Message }

func l7Invalid(format string, args ...any) *L7Error {
	return &L7Error{Code: 400, Message: fmt.Sprintf(format, args...)}
}

// L7PolicyArgs are the attributes of an L7 policy create or update that
// Octavia's sanitize_l7policy_api_args reads and rewrites, as a Python dict
// holds them: a nil field is absent; a field pointing to "" (or 0) is
// present and None. InlinePool stands for a fully-populated create's
// redirect_pool.
type L7PolicyArgs struct {
	Action           *L7Action
	RedirectPoolID   *string
	RedirectURL      *string
	RedirectPrefix   *string
	RedirectHTTPCode *int
	InlinePool       bool
	// Others counts the other attributes present (name, position...): an
	// update with nothing at all is refused.
	Others int
}

func get(s *string) bool { return s != nil && *s != "" }

func none() *string { s := ""; return &s }

// Sanitize is Octavia's sanitize_l7policy_api_args: the redirect target
// given decides the action (a redirect_pool_id makes the policy
// REDIRECT_TO_POOL, a redirect_url REDIRECT_TO_URL, a redirect_prefix
// REDIRECT_PREFIX, in that order of checks), the targets other actions do
// not use are set to None, and the URL redirects get redirect_http_code 302
// when none is given. It refuses an action without its target and a pool
// with a URL or prefix, with Octavia's messages.
func (a *L7PolicyArgs) Sanitize(create bool) error {
	if a.Action != nil {
		switch *a.Action {
		case L7Reject:
			a.RedirectURL, a.RedirectPoolID = none(), none()
			a.InlinePool = false
		case L7RedirectToURL:
			if !get(a.RedirectURL) {
				return l7Invalid("Invalid L7 Policy arguments: redirect_url must not be None")
			}
			a.RedirectPoolID = none()
			a.InlinePool = false
		case L7RedirectToPool:
			if !get(a.RedirectPoolID) && !a.InlinePool {
				return l7Invalid("Invalid L7 Policy arguments: redirect_pool_id or redirect_pool must not be None")
			}
			a.RedirectURL = none()
		case L7RedirectPrefix:
			if !get(a.RedirectPrefix) {
				return l7Invalid("Invalid L7 Policy arguments: redirect_prefix must not be None")
			}
		default:
			return l7Invalid("Invalid L7 Policy action specified: %s", *a.Action)
		}
	}
	if (get(a.RedirectPoolID) || a.InlinePool) && (get(a.RedirectURL) || get(a.RedirectPrefix)) {
		return l7Invalid("Invalid L7 Policy arguments: Cannot specify redirect_pool_id and redirect_url or redirect_prefix at the same time")
	}
	set := func(act L7Action) { a.Action = &act }
	noCode := func() { z := 0; a.RedirectHTTPCode = &z }
	if get(a.RedirectPoolID) || a.InlinePool {
		set(L7RedirectToPool)
		a.RedirectURL, a.RedirectPrefix = none(), none()
		noCode()
	}
	code302 := func() {
		if a.RedirectHTTPCode == nil || *a.RedirectHTTPCode == 0 {
			c := DefaultRedirectHTTPCode
			a.RedirectHTTPCode = &c
		}
	}
	if get(a.RedirectURL) {
		if err := CheckRedirectURL(*a.RedirectURL); err != nil {
			return err
		}
		set(L7RedirectToURL)
		a.RedirectPoolID, a.RedirectPrefix = none(), none()
		a.InlinePool = false
		code302()
	}
	if get(a.RedirectPrefix) {
		if err := CheckRedirectURL(*a.RedirectPrefix); err != nil {
			return err
		}
		set(L7RedirectPrefix)
		a.RedirectPoolID, a.RedirectURL = none(), none()
		a.InlinePool = false
		code302()
	}
	if create && a.Action == nil {
		return l7Invalid("Invalid L7 Policy action specified: None")
	}
	if a.Action == nil && a.RedirectPoolID == nil && a.RedirectURL == nil && a.RedirectPrefix == nil &&
		a.RedirectHTTPCode == nil && !a.InlinePool && a.Others == 0 {
		return l7Invalid("Invalid L7 Policy arguments: Invalid update options")
	}
	return nil
}

// ClearForAction is what Octavia's repository does on an update that names
// an action: the targets that action does not use are cleared.
func (a *L7PolicyArgs) ClearForAction() {
	if a.Action == nil {
		return
	}
	zero := 0
	switch *a.Action {
	case L7Reject:
		a.RedirectURL, a.RedirectPoolID, a.RedirectPrefix, a.RedirectHTTPCode = none(), none(), none(), &zero
	case L7RedirectToURL:
		a.RedirectPoolID, a.RedirectPrefix = none(), none()
	case L7RedirectToPool:
		a.RedirectURL, a.RedirectPrefix, a.RedirectHTTPCode = none(), none(), &zero
	case L7RedirectPrefix:
		a.RedirectURL, a.RedirectPoolID = none(), none()
	}
}

// ArgsOf returns a policy's attributes for a create: every one present, as
// Octavia's render_unsets gives them.
func (p *L7Policy) ArgsOf() *L7PolicyArgs {
	a := &L7PolicyArgs{InlinePool: p.RedirectPool != nil}
	act := p.Action
	a.Action = &act
	pool, url, prefix := p.RedirectPoolID, p.RedirectURL, p.RedirectPrefix
	a.RedirectPoolID, a.RedirectURL, a.RedirectPrefix = &pool, &url, &prefix
	code := IntOr(p.RedirectHTTPCode, 0)
	a.RedirectHTTPCode = &code
	return a
}

// Apply writes the present attributes of a onto p; None clears.
func (a *L7PolicyArgs) Apply(p *L7Policy) {
	if a.Action != nil {
		p.Action = *a.Action
	}
	if a.RedirectPoolID != nil {
		p.RedirectPoolID = *a.RedirectPoolID
	}
	if a.RedirectURL != nil {
		p.RedirectURL = *a.RedirectURL
	}
	if a.RedirectPrefix != nil {
		p.RedirectPrefix = *a.RedirectPrefix
	}
	if a.RedirectHTTPCode != nil {
		if *a.RedirectHTTPCode == 0 {
			p.RedirectHTTPCode = nil
		} else {
			c := *a.RedirectHTTPCode
			p.RedirectHTTPCode = &c
		}
	}
	if !a.InlinePool {
		p.RedirectPool = nil
	}
}

// invalidURLChars are characters Octavia refuses in a redirect URL before
// parsing it (the fix for LP #2162103, in Debian's 11.0.0-2+deb12u1):
// controls, space, DEL and the C1 controls.
func hasInvalidURLChars(s string) bool {
	for _, r := range s {
		if r <= 0x20 || (r >= 0x7f && r <= 0x9f) {
			return true
		}
	}
	return false
}

var (
	urlSchemeRE = regexp.MustCompile(`^(?i:https?)://`)
	// RFC 3986's authority: userinfo@host:port, host a reg-name, an IPv4
	// address or an IP literal.
	urlAuthorityRE = regexp.MustCompile(`^(?:[A-Za-z0-9\-._~!$&'()*+,;=:]|%[0-9A-Fa-f]{2})*@?` +
		`(?:\[[0-9A-Fa-f:.vV]+\]|(?:[A-Za-z0-9\-._~!$&'()*+,;=]|%[0-9A-Fa-f]{2})+)(?::[0-9]*)?$`)
	urlRestRE = regexp.MustCompile(`^(?:[A-Za-z0-9\-._~!$&'()*+,;=:@/?#]|%[0-9A-Fa-f]{2})*$`)
)

// CheckRedirectURL is Octavia's validate.url for redirect_url and
// redirect_prefix: an absolute http or https URL with a host, no controls
// or spaces, only RFC 3986 characters.
func CheckRedirectURL(u string) error {
	bad := &L7Error{Code: 400, Message: fmt.Sprintf("Not a valid URL: %s", u)}
	if hasInvalidURLChars(u) || !urlSchemeRE.MatchString(u) {
		return bad
	}
	rest := u[strings.Index(u, "://")+3:]
	end := strings.IndexAny(rest, "/?#")
	auth, tail := rest, ""
	if end >= 0 {
		auth, tail = rest[:end], rest[end:]
	}
	if auth == "" || !urlAuthorityRE.MatchString(auth) || !urlRestRE.MatchString(tail) {
		return bad
	}
	return nil
}

// Octavia's character classes for rule keys and values
// (octavia/common/constants.py). They are copied as written, ranges
// included: "+-." is the range from '+' to '.', so a comma passes in a
// header name.
var (
	headerNameRE        = regexp.MustCompile(`\A[a-zA-Z0-9!#$%&'*+-.^_` + "`" + `|~]+\z`)
	cookieValueRE       = regexp.MustCompile(`\A[a-zA-Z0-9!#$%&'()*+-./:<=>?@[\]^_` + "`" + `{|}~]+\z`)
	headerValueRE       = regexp.MustCompile(`\A[a-zA-Z0-9!"#$%&'()*+,-./:;<=>?@[\]^_` + "`" + `{|}~\\]+\z`)
	quotedHeaderValueRE = regexp.MustCompile(`\A"[a-zA-Z0-9 \t!"#$%&'()*+,-./:;<=>?@[\]^_` + "`" + `{|}~\\]*"\z`)
	dnFieldRE           = regexp.MustCompile(`^([a-zA-Z][A-Za-z0-9-]*)$`)
)

// hasConfigControls reports the characters Octavia refuses in a regex and
// the amphora refuses to render in any rule value: C0 controls, DEL and C1
// controls.
func hasConfigControls(s string) bool {
	for _, r := range s {
		if r < 0x20 || (r >= 0x7f && r <= 0x9f) {
			return true
		}
	}
	return false
}

// HasConfigControls reports whether a rule value holds characters the
// amphora does not render (it skips such a rule).
func HasConfigControls(s string) bool { return hasConfigControls(s) }

// CompileL7Regex compiles a rule's REGEX value as lbd runs it: Go's RE2,
// which runs in time linear in the input. Octavia checks the syntax with
// Python's re; a pattern RE2 cannot run (backreferences, look-around) is
// refused here.
func CompileL7Regex(value string, foldCase bool) (*regexp.Regexp, error) {
	if foldCase {
		value = "(?i)" + value
	}
	return regexp.Compile(value)
}

// checkRegex returns Octavia's message for a regex it (or RE2) refuses,
// "" when the regex is fine.
func checkRegex(v string) string {
	if hasConfigControls(v) {
		return "Unable to parse regular expression: contains control characters"
	}
	if _, err := CompileL7Regex(v, false); err != nil {
		return "Unable to parse regular expression: " + strings.TrimPrefix(err.Error(), "error parsing regexp: ")
	}
	return ""
}

func invalidRule(format string, args ...any) string {
	return "Invalid L7 Rule: " + fmt.Sprintf(format, args...)
}

func headerValueString(v, what string) string {
	if !headerValueRE.MatchString(v) && !quotedHeaderValueRE.MatchString(v) {
		return "Invalid characters in " + what
	}
	return ""
}

// Check is Octavia's l7rule_data: which types need a key, which compare
// types each allows, and what values look like. The error's message is
// Octavia's faultstring ("Error parsing L7Rule: ...").
func (r *L7Rule) Check() error {
	if msg := r.problem(); msg != "" {
		return &L7Error{Code: 400, Message: "Error parsing L7Rule: " + msg}
	}
	return nil
}

// problem is Octavia's message for what is wrong with the rule, "" when
// nothing is.
func (r *L7Rule) problem() string {
	if r.Value == "" {
		return invalidRule("L7 rule type requires a value")
	}
	cmp := r.CompareType
	plain := cmp == L7StartsWith || cmp == L7EndsWith || cmp == L7Contains || cmp == L7EqualTo
	switch r.Type {
	case L7Header, L7Cookie:
		if r.Key == "" {
			return invalidRule("L7 rule type requires a key")
		}
		if !headerNameRE.MatchString(r.Key) {
			return "Invalid characters in key"
		}
		switch {
		case cmp == L7Regex:
			return checkRegex(r.Value)
		case !plain:
			return invalidRule("invalid comparison type for rule type")
		case r.Type == L7Header:
			return headerValueString(r.Value, "header value")
		case !cookieValueRE.MatchString(r.Value):
			return "Invalid characters in cookie value"
		}
	case L7HostName, L7Path:
		switch {
		case plain:
			return headerValueString(r.Value, "comparison value")
		case cmp == L7Regex:
			return checkRegex(r.Value)
		default:
			return invalidRule("invalid comparison type for rule type")
		}
	case L7FileType:
		switch cmp {
		case L7Regex:
			return checkRegex(r.Value)
		case L7EqualTo:
			return headerValueString(r.Value, "comparison value")
		default:
			return invalidRule("invalid comparison type for rule type")
		}
	case L7SSLConnHasCert:
		switch {
		case r.Key != "":
			return invalidRule("L7rule type %s does not use the \"key\" field.", r.Type)
		case strings.ToLower(r.Value) != "true":
			return invalidRule("L7rule value %s is not a boolean True string.", r.Value)
		case cmp != L7EqualTo:
			return invalidRule("L7rule type %s only supports the %s compare type.", r.Type, L7EqualTo)
		}
	case L7SSLVerifyResult:
		switch {
		case r.Key != "":
			return invalidRule("L7rule type %s does not use the \"key\" field.", r.Type)
		case !isDigits(r.Value):
			return invalidRule("L7rule type %s needs a int value, which is >= 0", r.Type)
		case cmp != L7EqualTo:
			return invalidRule("L7rule type %s only supports the %s compare type.", r.Type, L7EqualTo)
		}
	case L7SSLDNField:
		if cmp == L7Regex {
			if msg := checkRegex(r.Value); msg != "" {
				return msg
			}
		}
		switch {
		case r.Key == "":
			return invalidRule("L7rule type %s needs to specify a key and a value.", r.Type)
		case !dnFieldRE.MatchString(r.Key):
			return invalidRule("Invalid L7rule distinguished name field.")
		}
	default:
		return invalidRule("invalid rule type")
	}
	return ""
}

// isDigits is Python's str.isdigit for what an integer needs: one or more
// decimal digits (Unicode digits count in Python; int() reads them too).
func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !unicode.IsDigit(r) {
			return false
		}
	}
	return true
}

// UsesKey reports whether a rule type reads its key; Octavia clears the
// key of the others on update.
func (t L7RuleType) UsesKey() bool {
	return t != L7HostName && t != L7Path && t != L7FileType
}

// IsSSL reports the rule types that test the client's TLS connection.
func (t L7RuleType) IsSSL() bool {
	return t == L7SSLConnHasCert || t == L7SSLVerifyResult || t == L7SSLDNField
}

// checkRuleFields is what WSME checks of a rule before Octavia's own
// validation: the mandatory fields, the enums, lengths, and no CR or LF in
// key or value.
func (r *L7Rule) checkFields(p *problems, path string) {
	checkID(p, path, r.ID)
	checkTags(p, path, r.Tags)
	switch {
	case r.Type == "":
		p.missing(path + ".type")
	case !contains(L7RuleTypes, r.Type):
		p.enum(path+".type", string(r.Type), joinEnum(L7RuleTypes))
	}
	switch {
	case r.CompareType == "":
		p.missing(path + ".compare_type")
	case !contains(L7CompareTypes, r.CompareType):
		p.enum(path+".compare_type", string(r.CompareType), joinEnum(L7CompareTypes))
	}
	for _, f := range []struct{ name, v string }{{"key", r.Key}, {"value", r.Value}} {
		switch {
		case len(f.v) > 255:
			p.wsme(path+"."+f.name, f.v, "Value should have a maximum character requirement of 255")
		case strings.ContainsAny(f.v, "\r\n"):
			p.wsme(path+"."+f.name, f.v, "Value should match the pattern ^[^\\r\\n]*$")
		}
	}
}

// validateL7Policy checks one policy of listener l: WSME's field checks,
// then Octavia's sanitize and rule validation, then what lbd serves. lb
// resolves redirect pools; path prefixes field paths. For the config file
// (strict) a redirect field that would silently change the action, as
// Octavia's sanitize does on the API, is refused.
// checkFields is what WSME checks of a policy's own attributes, those set:
// the action's enum, the URLs, the position's range, the code's enum,
// lengths.
func (pol *L7Policy) checkFields(p *problems, path string) {
	checkID(p, path, pol.ID)
	for _, f := range []struct{ name, v string }{{"name", pol.Name}, {"description", pol.Description}} {
		if len(f.v) > 255 {
			p.wsme(path+"."+f.name, f.v, "Value should have a maximum character requirement of 255")
		}
	}
	checkTags(p, path, pol.Tags)
	switch {
	case pol.Action == "":
		p.missing(path + ".action")
	case !contains(L7Actions, pol.Action):
		p.enum(path+".action", string(pol.Action), joinEnum(L7Actions))
	}
	for _, f := range []struct{ name, v string }{{"redirect_url", pol.RedirectURL}, {"redirect_prefix", pol.RedirectPrefix}} {
		if f.v != "" && CheckRedirectURL(f.v) != nil {
			p.wsme(path+"."+f.name, f.v, "Value must be a valid URL string")
		}
	}
	if pol.Position != nil && *pol.Position < MinPolicyPosition {
		p.wsme(path+".position", *pol.Position, fmt.Sprintf("Value should be greater or equal to %d", MinPolicyPosition))
	}
	if c := pol.RedirectHTTPCode; c != nil && !slices.Contains(RedirectHTTPCodes, *c) {
		p.wsme(path+".redirect_http_code", *c, "Value should be one of: "+joinInts(RedirectHTTPCodes))
	}
}

// ValidateFields is WSME's check of the attributes set in an update.
func (pol *L7Policy) ValidateFields(path string) error {
	var p problems
	pol.checkFields(&p, path)
	var out []*FieldError
	for _, fe := range p.list {
		if fe.Rule != RuleRequired { // an update need not name the action
			out = append(out, fe)
		}
	}
	if len(out) == 0 {
		return nil
	}
	return &ValidationError{Errors: out}
}

func (pol *L7Policy) validate(p *problems, path string, lb *LoadBalancer, l *Listener, strict bool) {
	n := len(p.list)
	pol.checkFields(p, path)
	if pol.RedirectPoolID != "" && pol.RedirectPool != nil {
		p.add(path+".redirect_pool_id", pol.RedirectPoolID, "give redirect_pool or redirect_pool_id, not both")
	}
	for i, r := range pol.Rules {
		rpath := fmt.Sprintf("%s.rules[%d]", path, i)
		if r == nil {
			p.missing(rpath)
			continue
		}
		r.checkFields(p, rpath)
	}
	if len(p.list) > n {
		return // Octavia's WSME layer answers these before anything else
	}
	if l != nil && l.Protocol == ProtocolPrometheus {
		p.octavia(400, path, nil, "Protocol PROMETHEUS listeners cannot have child objects.")
		return
	}
	// Octavia's order: the redirect pool's protocol, then its sanitize,
	// the rule count and each rule, then (in its repository) the pool's
	// load balancer, then the provider's listener protocol check.
	var pool *Pool
	var ppath string
	if lb != nil && (pol.RedirectPoolID != "" || pol.RedirectPool != nil) {
		pool, ppath = lb.redirectPool(pol, path)
		if pool != nil && l != nil && pool.Protocol != "" && !contains(ListenerPoolProtocols[l.Protocol], pool.Protocol) {
			p.octavia(400, ppath+".protocol", pool.Protocol, fmt.Sprintf("Validation failure: The pool protocol '%s' is invalid while the listener protocol is '%s'.", pool.Protocol, l.Protocol))
			return
		}
	}
	args := pol.ArgsOf()
	before := pol.Action
	if err := args.Sanitize(true); err != nil {
		e := err.(*L7Error)
		p.octavia(e.Code, path, nil, e.Message)
		return
	}
	if strict && args.Action != nil && *args.Action != before {
		p.add(path+".action", before, "the redirect fields given make this a %s policy (Octavia rewrites the action from redirect_pool, redirect_url or redirect_prefix): write action %s, or remove the field the action does not use", *args.Action, *args.Action)
		return
	}
	if len(pol.Rules) > MaxL7RulesPerPolicy {
		p.octavia(409, path+".rules", len(pol.Rules), fmt.Sprintf("Too many rules on L7 policy %s", pol.ID))
		return
	}
	for i, r := range pol.Rules {
		if err := r.Check(); err != nil {
			p.octavia(400, fmt.Sprintf("%s.rules[%d]", path, i), nil, err.(*L7Error).Message)
			return
		}
	}
	if *args.Action == L7RedirectToPool && lb != nil && pool == nil {
		if pol.RedirectPool != nil {
			p.add(path+".redirect_pool.name", pol.RedirectPool.Name, "pool was referenced but no full definition was found in the load balancer's pools")
		} else {
			p.octavia(404, path+".redirect_pool_id", pol.RedirectPoolID, fmt.Sprintf("Pool %s not found.", pol.RedirectPoolID))
		}
		return
	}
	if l != nil && l.Protocol != ProtocolHTTP && l.Protocol != ProtocolTerminatedHTTPS {
		p.octavia(501, path, nil, fmt.Sprintf("Provider '%s' does not support a requested option: %s protocol listeners do not support L7 policies", providerOf(lb), l.Protocol))
	}
}

func providerOf(lb *LoadBalancer) string {
	if lb == nil || lb.Provider == "" {
		return ProviderAmphora
	}
	return lb.Provider
}

// redirectPool resolves a policy's redirect pool: inline, by name or by ID,
// and the path where it is defined.
func (lb *LoadBalancer) redirectPool(pol *L7Policy, path string) (*Pool, string) {
	if pol.RedirectPool != nil && !isPoolReference(pol.RedirectPool) {
		return pol.RedirectPool, path + ".redirect_pool"
	}
	if pol.RedirectPool != nil {
		return lb.poolDefinition(pol.RedirectPool.Name)
	}
	for i, pool := range lb.Pools {
		if pool != nil && pol.RedirectPoolID != "" && pool.ID == pol.RedirectPoolID {
			return pool, fmt.Sprintf("pools[%d]", i)
		}
	}
	return nil, ""
}

// Validate checks one policy of listener l of lb as the API creates it:
// Octavia's checks in Octavia's order. The error is a *ValidationError
// whose first problem carries Octavia's code and message.
func (pol *L7Policy) Validate(path string, lb *LoadBalancer, l *Listener) error {
	var p problems
	pol.validate(&p, path, lb, l, false)
	return p.err()
}

// ValidateFields is what WSME checks of a rule (its enums, lengths and
// characters), before Octavia's own validation (Check).
func (r *L7Rule) ValidateFields(path string) error {
	var p problems
	r.checkFields(&p, path)
	return p.err()
}
