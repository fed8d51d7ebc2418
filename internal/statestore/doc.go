// Package statestore keeps lbd's desired state durably, as keys and values
// under revisions, the way etcd does: every committed transaction gets the
// next revision of the store, and every key remembers the revision that
// created it and the one that last changed it. A transaction puts and
// deletes keys atomically, and only if the keys it names are still at the
// revisions the caller last read (a concurrent change makes it fail with
// ErrConflict, Octavia's 409). A commit writes what the transaction changes,
// not the whole state, so it costs O(size of the change).
//
// Store is the interface; Open gives the embedded store under a state
// directory (lbd's --state-dir), an append-only log compacted when it has
// grown well past the state it holds (log.go). A shared backend (etcd) is the
// same interface over another engine; storetest checks any backend against
// the contract.
//
// statestore knows nothing of load balancers: it must not import the
// octavia packages or the control plane. What the keys mean is the control
// plane's business (internal/controlplane/persist.go).
package statestore
