package statestore

import (
	"context"
	"errors"
	"fmt"
)

// The interfaces below are what a shared store (one that other processes
// commit to as well, such as etcd) offers beyond Store. The control plane
// asks for them with type assertions; the embedded store has none of them.

// Watcher is a shared store: other processes commit to it too, and Watch
// follows what they (and this process) commit.
type Watcher interface {
	Store
	// Watch sends each transaction committed after rev, in revision
	// order and whole (one Event per transaction), until ctx is done;
	// then it closes the channel. Transactions this process committed
	// are sent as well. Losing the store for a while is not an error:
	// the watch resumes where it was. When the store no longer holds the
	// history after rev (it was compacted), Watch sends one Event whose
	// Err matches ErrCompacted and closes the channel: Load, then Watch
	// again from the snapshot's revision.
	Watch(ctx context.Context, rev int64) <-chan Event
	// Head returns the revision of the last transaction committed to the
	// store (0 when none), read so that it includes every commit that
	// returned before the call, whichever process made it: once a watch
	// has sent it, the watcher has seen all of them.
	Head(ctx context.Context) (int64, error)
}

// Event is one committed transaction seen by a watch: the keys it put
// (with their new revisions) and those it deleted. An Event with neither
// (and no Err) says that nothing was committed up to Rev that was not
// sent before (a progress notice).
type Event struct {
	Rev     int64
	Puts    []KV
	Deletes []string
	Err     error
}

// ErrCompacted is what an Event's Err matches when the store no longer
// holds the changes a watch asked for.
var ErrCompacted = errors.New("the store's history was compacted past the revision asked for")

// ErrUnavailable is what a shared store's errors match when the store
// cannot be reached: nothing was committed, or (for a commit that timed
// out after it was sent) it is not known whether it was.
var ErrUnavailable = errors.New("state store unavailable")

// Availability is a shared store that can tell it is unreachable before a
// commit is tried.
type Availability interface {
	// Available returns nil while the store can be reached, and an error
	// matching ErrUnavailable (saying why) while it cannot.
	Available() error
}

// Limits bound one transaction of a store (etcd's --max-txn-ops and
// --max-request-bytes); a zero field is no bound.
type Limits struct {
	MaxOps   int
	MaxBytes int
	// OpOverhead is what each operation and condition costs in MaxBytes
	// besides its key and value.
	OpOverhead int
}

// Limited is a store whose transactions have bounds.
type Limited interface {
	Limits() Limits
}

// Split cuts txn into transactions within l, keeping the order of its
// operations; each keeps the conditions on the keys it changes (conditions
// on keys no operation changes go with the first). Each part is atomic, the
// whole is not: use it only where a prefix of the change is a state worth
// keeping (the control plane's whole-state changes, each load balancer a
// key of its own). An operation larger than l.MaxBytes on its own is left
// alone in a transaction: the store refuses it, naming its limit.
func Split(txn Txn, l Limits) []Txn {
	size := func(key string, value []byte) int { return len(key) + len(value) + l.OpOverhead }
	total := 0
	for _, c := range txn.If {
		total += size(c.Key, nil)
	}
	for _, op := range txn.Ops {
		total += size(op.Key, op.Value)
	}
	fits := func(ops, bytes int) bool {
		return (l.MaxOps <= 0 || ops <= l.MaxOps) && (l.MaxBytes <= 0 || bytes <= l.MaxBytes)
	}
	if len(txn.Ops) == 0 || fits(len(txn.If)+len(txn.Ops), total) {
		return []Txn{txn}
	}
	conds := map[string][]Cond{}
	for _, c := range txn.If {
		conds[c.Key] = append(conds[c.Key], c)
	}
	var out []Txn
	var cur Txn
	n, bytes := 0, 0
	for _, op := range txn.Ops {
		cs := conds[op.Key]
		delete(conds, op.Key)
		opN, opBytes := 1+len(cs), size(op.Key, op.Value)
		for _, c := range cs {
			opBytes += size(c.Key, nil)
		}
		if n > 0 && !fits(n+opN, bytes+opBytes) {
			out = append(out, cur)
			cur, n, bytes = Txn{}, 0, 0
		}
		cur.If = append(cur.If, cs...)
		cur.Ops = append(cur.Ops, op)
		n, bytes = n+opN, bytes+opBytes
	}
	if n > 0 {
		out = append(out, cur)
	}
	// Conditions on keys that no operation changes hold for the whole:
	// check them with the first part.
	for _, c := range txn.If {
		if cs, ok := conds[c.Key]; ok {
			out[0].If = append(out[0].If, cs...)
			delete(conds, c.Key)
		}
	}
	return out
}

// TooLargeError is a transaction a store refused for its size.
type TooLargeError struct {
	// What names the limit and how to raise it.
	What  string
	Bytes int
	Ops   int
}

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("transaction of %d operations, %d bytes, too large for the state store: %s", e.Ops, e.Bytes, e.What)
}
