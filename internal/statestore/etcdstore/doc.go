// Package etcdstore keeps lbd's desired state in etcd, for instances that
// share one state (lbd --state etcd://HOST:PORT[,HOST:PORT...]/PREFIX), with
// etcd's official client (go.etcd.io/etcd/client/v3).
//
// Store is the statestore.Store over etcd as the statestore package
// describes it: Load is a Get of PREFIX/state/ (in pages, every page at the
// first one's revision), Commit one etcd transaction comparing each
// condition's key's revision, Watch an etcd watch of the prefix resuming
// from the last revision it delivered (or saying the history was
// compacted). A transaction too large for etcd (--max-txn-ops,
// --max-request-bytes) is refused with an error naming the limit; the
// store tells its limits (Limits) so that whole-state changes can be cut to
// fit. Errors of an unreachable etcd match statestore.ErrUnavailable.
//
// The instances sharing a prefix also find each other here (group.go):
// a lasting record per instance under PREFIX/members/, a live one bound to
// a lease under PREFIX/instances/ (heartbeats: etcd removes it when the
// instance stops renewing it), shared settings, and locks under
// PREFIX/locks/ for tools that need one holder at a time (Lock, TryLock).
//
// etcdstore knows nothing of load balancers: it must not import the
// octavia packages or the control plane.
package etcdstore
