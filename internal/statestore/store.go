package statestore

import (
	"context"
	"errors"
	"fmt"
)

// Store holds revisioned keys and values durably. Its methods are safe for
// concurrent use.
type Store interface {
	// Load reads every key at the store's current revision.
	Load(ctx context.Context) (Snapshot, error)
	// Commit applies txn atomically and durably: when it returns nil, the
	// change survives a crash of the process (or of the machine, for
	// stores on disk). It fails with a *ConflictError (errors.Is
	// ErrConflict) when a condition does not hold, and with any other
	// error when the change could not be stored; in both cases nothing of
	// txn was applied. It returns the revision the transaction created.
	Commit(ctx context.Context, txn Txn) (rev int64, err error)
	// Close releases the store; it may not be used afterwards.
	Close() error
}

// KV is a key with its value and revisions.
type KV struct {
	Key string
	// Value is shared with the store: it must not be modified.
	Value []byte
	// CreateRev is the revision of the transaction that created the key,
	// ModRev that of the one that last put it.
	CreateRev, ModRev int64
}

// Snapshot is the whole content of a store at one revision.
type Snapshot struct {
	// Rev is the revision of the last committed transaction (0 for a
	// store never written).
	Rev int64
	// KVs are every key, in order of CreateRev (then key): the order in
	// which they were first stored.
	KVs []KV
}

// Txn is a transaction: if every condition holds, apply every operation.
type Txn struct {
	If  []Cond
	Ops []Op
}

// Cond requires a key to be at a revision.
type Cond struct {
	Key string
	// ModRev is the revision the key must have been last changed at; 0
	// requires that the key does not exist.
	ModRev int64
}

// Op puts a key to a value, or deletes it.
type Op struct {
	Key    string
	Value  []byte
	Delete bool
}

// Put is an operation storing value under key.
func Put(key string, value []byte) Op { return Op{Key: key, Value: value} }

// Delete is an operation removing key (a no-op if it does not exist).
func Delete(key string) Op { return Op{Key: key, Delete: true} }

// ErrConflict is what a transaction whose condition failed matches.
var ErrConflict = errors.New("conflicting change")

// ConflictError names the key whose condition failed.
type ConflictError struct {
	Key string
	// Want is the revision the transaction required, Have the key's
	// (0: the key does not exist).
	Want, Have int64
}

func (e *ConflictError) Error() string {
	switch {
	case e.Want == 0:
		return fmt.Sprintf("%s: key %q exists (revision %d)", ErrConflict, e.Key, e.Have)
	case e.Have == 0:
		return fmt.Sprintf("%s: key %q was deleted", ErrConflict, e.Key)
	}
	return fmt.Sprintf("%s: key %q is at revision %d, not %d", ErrConflict, e.Key, e.Have, e.Want)
}

// Is makes errors.Is(err, ErrConflict) hold.
func (e *ConflictError) Is(target error) bool { return target == ErrConflict }
