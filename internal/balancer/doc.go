// Package balancer picks a pool member for each new connection or request.
//
// A Pool holds the members' configuration and their live State, and keeps an
// immutable snapshot of the members that may be picked (enabled, healthy,
// weight above zero; backups only when no primary is ready). Pick reads the
// snapshot with one atomic load and allocates nothing; every change of
// membership, weight or health builds a new snapshot and swaps it in
// atomically. Each algorithm precomputes what it needs when the snapshot is
// built, never per pick, so that a pick costs about the same at 10,000
// members as at two: ROUND_ROBIN is a counter into a precomputed schedule or
// an index of cumulative weights (O(1), O(log n) at worst), SOURCE_IP a
// lookup table (O(1), sourceip.go), LEAST_CONNECTIONS an order by load kept
// up to date by every pick and release under one mutex (O(1) for one
// weight, O(log k) over k weights; leastconn.go). Building a snapshot is
// O(members), a few milliseconds at 10,000, and health transitions that
// arrive together share one rebuild.
//
// Every successful Pick counts the member as active; the caller must call
// Release exactly once when the connection or request ends.
//
// It owns the pick and the members' live State. It must not import any lbd
// package but internal/stats: it takes plain MemberConfig values and knows
// no Octavia model (internal/octavia) and no health checks (internal/health;
// the data plane passes verdicts on through SetHealthy).
package balancer
