// Package balancer picks a pool member for each new connection or request.
//
// A Pool holds the members' configuration and their live State, and keeps an
// immutable snapshot of the members that may be picked (enabled, healthy,
// weight above zero; backups only when no primary is ready). Pick reads the
// snapshot with one atomic load, takes no lock and allocates nothing; every
// change of membership, weight or health builds a new snapshot and swaps it in
// atomically. Each algorithm precomputes what it needs when the snapshot is
// built, never per pick.
//
// Every successful Pick counts the member as active; the caller must call
// Release exactly once when the connection or request ends.
//
// It owns the pick and the members' live State. It must not import any lbd
// package but internal/stats: it takes plain MemberConfig values and knows
// no Octavia model (internal/octavia) and no health checks (internal/health;
// the data plane passes verdicts on through SetHealthy).
package balancer
