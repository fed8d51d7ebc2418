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
// directory (lbd's --state-dir), an append-only log compacted in the
// background when it has grown past twice the state it holds (log.go), and
// Memory one that keeps nothing. storetest checks any backend against the
// contract.
//
// A shared backend (etcdstore: etcd) is the same interface over another
// engine, whose model this one copies: Load is a Get of the prefix (its
// header's revision, each key's create and mod revisions; sorted here by
// create revision), Commit a Txn comparing each Cond's key's ModRevision
// (0: CreateRevision == 0, the key absent) and putting and deleting the
// keys, failing with a ConflictError when the comparison fails. What it
// adds (shared.go) is a Watch from a revision (Watcher), for an instance to
// follow the changes others commit, whether it can be reached
// (Availability, ErrUnavailable), and its transactions' bounds (Limited,
// Split). A shared store's revisions are its server's: they need not start
// at 1, and others' writes take some.
//
// statestore knows nothing of load balancers: it must not import the
// octavia packages or the control plane. What the keys mean is the control
// plane's business (internal/controlplane/persist.go).
package statestore
