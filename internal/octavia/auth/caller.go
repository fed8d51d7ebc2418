package auth

import (
	"context"
	"slices"
)

// Octavia's roles (octavia/policies/base.py) and the Keystone roles its
// defaults build on.
const (
	RoleAdmin                    = "admin"
	RoleLoadBalancerAdmin        = "load-balancer_admin"
	RoleLoadBalancerGlobalObserv = "load-balancer_global_observer"
	RoleLoadBalancerMember       = "load-balancer_member"
	RoleLoadBalancerObserver     = "load-balancer_observer"
	RoleReader                   = "reader"
)

// Caller is an authenticated client. The zero value may do nothing.
type Caller struct {
	UserID    string
	ProjectID string   // the project the token is scoped to; "" if none
	Roles     []string // role names, implied roles included (Keystone expands them)
	// Token is the caller's Keystone token, for calls lbd makes on the
	// caller's behalf (Barbican ACLs); empty without Keystone.
	Token string
	// Unrestricted marks a caller of an API without Keystone: an open API or
	// a static token. Octavia with auth_strategy = noauth treats every
	// caller as an administrator the same way.
	Unrestricted bool
}

func (c *Caller) has(roles ...string) bool {
	for _, r := range roles {
		if slices.Contains(c.Roles, r) {
			return true
		}
	}
	return false
}

// Admin reports Octavia's load-balancer:admin rule: every object of every
// project, read and write.
func (c *Caller) Admin() bool {
	return c.Unrestricted || c.has(RoleAdmin, RoleLoadBalancerAdmin)
}

// CanReadAll reports load-balancer:read-global: listing every project's
// objects.
func (c *Caller) CanReadAll() bool {
	return c.Admin() || c.has(RoleLoadBalancerGlobalObserv)
}

// CanRead reports load-balancer:read for an object of the given project:
// a load-balancer observer or member of that project, a global observer,
// or an administrator. Keystone's reader role alone is not enough (it is
// only half of Octavia's observer_and_owner rule), nor its member role,
// which implies reader: Octavia answers such callers 403.
func (c *Caller) CanRead(project string) bool {
	if c.CanReadAll() {
		return true
	}
	return c.ProjectID != "" && project == c.ProjectID &&
		c.has(RoleLoadBalancerObserver, RoleLoadBalancerMember)
}

// CanWrite reports load-balancer:write for an object of the given project:
// a load-balancer_member of that project, or an administrator.
func (c *Caller) CanWrite(project string) bool {
	if c.Admin() {
		return true
	}
	return c.ProjectID != "" && project == c.ProjectID && c.has(RoleLoadBalancerMember)
}

type callerKey struct{}

// NewContext returns ctx carrying the caller.
func NewContext(ctx context.Context, c *Caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

// FromContext returns the caller in ctx; a request that went through no
// authentication gets a Caller that may do nothing.
func FromContext(ctx context.Context) *Caller {
	if c, ok := ctx.Value(callerKey{}).(*Caller); ok {
		return c
	}
	return &Caller{}
}
