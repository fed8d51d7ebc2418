package octavia

import (
	"slices"
	"strconv"
	"strings"
)

// L7 policies and rules, as Octavia 11 (Zed, what Debian 12 ships) stores
// and checks them: octavia/api/v2/types/l7{policy,rule}.py,
// octavia/common/validate.py (sanitize_l7policy_api_args, l7rule_data) and
// octavia/db/repositories.py (positions). The messages are Octavia's, so
// the API answers with them word for word; the config file reports the same
// problems with the field path and line.

// L7Action is an L7 policy's action.
type L7Action string

// L7 policy actions (octavia-lib constants).
const (
	L7Reject         L7Action = "REJECT"
	L7RedirectToURL  L7Action = "REDIRECT_TO_URL"
	L7RedirectToPool L7Action = "REDIRECT_TO_POOL"
	L7RedirectPrefix L7Action = "REDIRECT_PREFIX"
)

// L7Actions are the values Octavia accepts for an L7 policy's action.
var L7Actions = []L7Action{L7Reject, L7RedirectToURL, L7RedirectToPool, L7RedirectPrefix}

// L7RuleType is an L7 rule's type: what part of the request it tests.
type L7RuleType string

// L7 rule types.
const (
	L7HostName        L7RuleType = "HOST_NAME"
	L7Path            L7RuleType = "PATH"
	L7FileType        L7RuleType = "FILE_TYPE"
	L7Header          L7RuleType = "HEADER"
	L7Cookie          L7RuleType = "COOKIE"
	L7SSLConnHasCert  L7RuleType = "SSL_CONN_HAS_CERT"
	L7SSLVerifyResult L7RuleType = "SSL_VERIFY_RESULT"
	L7SSLDNField      L7RuleType = "SSL_DN_FIELD"
)

// L7RuleTypes are the values Octavia accepts for an L7 rule's type.
var L7RuleTypes = []L7RuleType{L7HostName, L7Path, L7FileType, L7Header, L7Cookie, L7SSLConnHasCert, L7SSLVerifyResult, L7SSLDNField}

// L7CompareType is how an L7 rule compares the request's value with its own.
type L7CompareType string

// L7 rule compare types.
const (
	L7Regex      L7CompareType = "REGEX"
	L7StartsWith L7CompareType = "STARTS_WITH"
	L7EndsWith   L7CompareType = "ENDS_WITH"
	L7Contains   L7CompareType = "CONTAINS"
	L7EqualTo    L7CompareType = "EQUAL_TO"
)

// L7CompareTypes are the values Octavia accepts for an L7 rule's compare_type.
var L7CompareTypes = []L7CompareType{L7Regex, L7StartsWith, L7EndsWith, L7Contains, L7EqualTo}

// Octavia's L7 limits and defaults (octavia/common/constants.py).
const (
	MaxL7RulesPerPolicy     = 50
	MinPolicyPosition       = 1
	MaxPolicyPosition       = 2147483647
	DefaultRedirectHTTPCode = 302
)

// RedirectHTTPCodes are the values Octavia accepts for redirect_http_code.
var RedirectHTTPCodes = []int{301, 302, 303, 307, 308}

// L7Policy is an Octavia L7 policy of a listener. In the config file (and a
// fully-populated create) it sits under its listener, names its redirect
// pool with redirect_pool (a pool of the load balancer by name, or a whole
// pool inline) and carries its rules inline; Normalize turns that into
// redirect_pool_id, IDs and positions 1..N in evaluation order.
type L7Policy struct {
	ID               string    `json:"id,omitempty" yaml:"id,omitempty"`
	Name             string    `json:"name,omitempty" yaml:"name,omitempty"`
	Description      string    `json:"description,omitempty" yaml:"description,omitempty"`
	AdminStateUp     *bool     `json:"admin_state_up,omitempty" yaml:"admin_state_up,omitempty"`
	ListenerID       string    `json:"listener_id,omitempty" yaml:"listener_id,omitempty"`
	Action           L7Action  `json:"action,omitempty" yaml:"action,omitempty"`
	RedirectPoolID   string    `json:"redirect_pool_id,omitempty" yaml:"redirect_pool_id,omitempty"`
	RedirectPool     *Pool     `json:"redirect_pool,omitempty" yaml:"redirect_pool,omitempty"`
	RedirectURL      string    `json:"redirect_url,omitempty" yaml:"redirect_url,omitempty"`
	RedirectPrefix   string    `json:"redirect_prefix,omitempty" yaml:"redirect_prefix,omitempty"`
	RedirectHTTPCode *int      `json:"redirect_http_code,omitempty" yaml:"redirect_http_code,omitempty"`
	Position         *int      `json:"position,omitempty" yaml:"position,omitempty"`
	Rules            []*L7Rule `json:"rules,omitempty" yaml:"rules,omitempty"`
	Tags             []string  `json:"tags,omitempty" yaml:"tags,omitempty"`
}

// L7Rule is an Octavia L7 rule of a policy. A policy matches a request when
// all its enabled rules do.
type L7Rule struct {
	ID           string        `json:"id,omitempty" yaml:"id,omitempty"`
	Type         L7RuleType    `json:"type,omitempty" yaml:"type,omitempty"`
	CompareType  L7CompareType `json:"compare_type,omitempty" yaml:"compare_type,omitempty"`
	Key          string        `json:"key,omitempty" yaml:"key,omitempty"`
	Value        string        `json:"value,omitempty" yaml:"value,omitempty"`
	Invert       bool          `json:"invert,omitempty" yaml:"invert,omitempty"`
	AdminStateUp *bool         `json:"admin_state_up,omitempty" yaml:"admin_state_up,omitempty"`
	Tags         []string      `json:"tags,omitempty" yaml:"tags,omitempty"`
}

// Enabled reports admin_state_up, which defaults to true.
func (p *L7Policy) Enabled() bool { return boolOr(p.AdminStateUp, true) }

// Enabled reports admin_state_up, which defaults to true.
func (r *L7Rule) Enabled() bool { return boolOr(r.AdminStateUp, true) }

// PositionOr returns the policy's position, or def when unset.
func (p *L7Policy) PositionOr(def int) int { return IntOr(p.Position, def) }

// SetDefaults fills the policy and its rules. redirect_http_code's default
// (302 for the URL and prefix redirects) is Octavia's sanitize's, applied
// by SanitizeL7Policy.
func (p *L7Policy) SetDefaults() {
	setBool(&p.AdminStateUp, true)
	for _, r := range p.Rules {
		if r != nil {
			r.SetDefaults()
		}
	}
	if p.RedirectPool != nil {
		p.RedirectPool.SetDefaults()
	}
}

// SetDefaults fills the rule.
func (r *L7Rule) SetDefaults() { setBool(&r.AdminStateUp, true) }

// InsertL7Policy puts pol into l's policies as Octavia's repository does:
// appended, then moved to its position if that is within the list, and
// every policy's position renumbered 1..N.
func (l *Listener) InsertL7Policy(pol *L7Policy) {
	pos := pol.PositionOr(MaxPolicyPosition)
	n := len(l.L7Policies)
	if pos < n+1 {
		l.L7Policies = slices.Insert(l.L7Policies, pos-1, pol)
	} else {
		l.L7Policies = append(l.L7Policies, pol)
	}
	l.RenumberL7Policies()
}

// MoveL7Policy moves the policy at index i to position pos, as Octavia's
// update does (a position past the end moves it last), and renumbers.
func (l *Listener) MoveL7Policy(i, pos int) {
	pol := l.L7Policies[i]
	l.L7Policies = slices.Delete(l.L7Policies, i, i+1)
	if pos-1 < len(l.L7Policies) {
		l.L7Policies = slices.Insert(l.L7Policies, pos-1, pol)
	} else {
		l.L7Policies = append(l.L7Policies, pol)
	}
	l.RenumberL7Policies()
}

// RenumberL7Policies sets each policy's position to its place, 1..N.
func (l *Listener) RenumberL7Policies() {
	for i, pol := range l.L7Policies {
		pos := i + 1
		pol.Position = &pos
	}
}

// L7PolicyByID returns the listener's policy with that ID and its index.
func (l *Listener) L7PolicyByID(id string) (*L7Policy, int) {
	for i, pol := range l.L7Policies {
		if pol.ID == id {
			return pol, i
		}
	}
	return nil, -1
}

// RedirectPools lists the pools the listener's enabled policies with at
// least one rule send requests to, each once, as Octavia's listener.pools
// adds them to the default pool.
func (lb *LoadBalancer) RedirectPools(l *Listener) []*Pool {
	var out []*Pool
	for _, pol := range l.L7Policies {
		if pol.Action != L7RedirectToPool || !pol.Enabled() || len(pol.Rules) == 0 || pol.RedirectPoolID == "" {
			continue
		}
		p := lb.PoolByID(pol.RedirectPoolID)
		if p != nil && !slices.Contains(out, p) && p.ID != l.DefaultPoolID {
			out = append(out, p)
		}
	}
	return out
}

// PoliciesUsingPool lists the policies of the load balancer that redirect
// to the pool: such a pool cannot be deleted.
func (lb *LoadBalancer) PoliciesUsingPool(poolID string) []*L7Policy {
	var out []*L7Policy
	for _, l := range lb.Listeners {
		for _, pol := range l.L7Policies {
			if pol.RedirectPoolID == poolID {
				out = append(out, pol)
			}
		}
	}
	return out
}

func joinInts(v []int) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = strconv.Itoa(x)
	}
	return strings.Join(s, ", ")
}
