package controlplane

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"lbd/internal/octavia/api"
	"lbd/internal/statestore"
)

// Read-your-writes across instances. An instance checks an API change
// against the state it holds, and that state follows the shared store
// through a watch, a few milliseconds behind it: a flavor created through
// one instance's API and named at once by a load balancer created through
// another's would be an "Invalid flavor_id." there, and a GET of an object
// just created elsewhere a 404. Octavia's API servers share one database
// and have no such window. So, with a shared store, every API change and
// every API read first waits until this instance has taken every
// transaction committed before it began (Sync, called by the API's
// handler before it routes a request): it reads the store's head revision
// (a quorum read) and waits for its watch to reach it.

// defaultSyncTimeout bounds Sync's wait for the watch when Options say
// nothing: a watch applying a reload of a large state takes a second or
// two.
const defaultSyncTimeout = 5 * time.Second

// readSyncBound bounds a read's Sync, etcd's answer included: a read is
// then answered from the state this instance has, rather than wait out an
// etcd that does not answer (partitioned, before its connection counts as
// failed) or a watch far behind.
const readSyncBound = time.Second

// Sync waits until this instance holds every change committed to the
// shared store before the call, by any instance; with any other store it
// returns nil at once. It fails when the store cannot be reached, or when
// this instance's watch does not reach the store's head within
// Options.SyncTimeout. For a change (api.Syncer), the error is the API's
// answer, a 503 saying which, logged as a refused change; for a read, it
// only says why the read may be stale, and comes within readSyncBound.
func (cp *ControlPlane) Sync(ctx context.Context, change bool) error {
	w, ok := cp.persist.store.(statestore.Watcher)
	if !ok {
		return nil
	}
	if !change {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, min(readSyncBound, cp.opts.SyncTimeout))
		defer cancel()
	}
	head, err := cp.head(ctx, w)
	if err != nil {
		if change {
			return cp.saveFailed(ctx, err, "")
		}
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, cp.opts.SyncTimeout)
	defer cancel()
	if err := cp.persist.awaitSeen(wctx, head); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		seen := cp.persist.seenRev()
		if change {
			cp.log.LogAttrs(ctx, slog.LevelWarn, "change refused: this instance's watch is behind the shared state",
				slog.Int64("head", head), slog.Int64("revision", seen), slog.Duration("waited", cp.opts.SyncTimeout))
		}
		return &api.Error{Code: http.StatusServiceUnavailable,
			Message: fmt.Sprintf("This lbd has not yet applied the shared state's revision %d (it holds %d after %s); retry, or use another lbd's API.",
				head, seen, cp.opts.SyncTimeout)}
	}
	return nil
}

// head is the shared store's head revision; an unreachable store fails at
// once, without a request.
func (cp *ControlPlane) head(ctx context.Context, w statestore.Watcher) (int64, error) {
	if err := cp.persist.available(); err != nil {
		return 0, err
	}
	return w.Head(ctx)
}

// awaitSeen waits until the store's changes up to rev were taken.
func (p *persister) awaitSeen(ctx context.Context, rev int64) error {
	for {
		p.mu.Lock()
		if p.seen >= rev {
			p.mu.Unlock()
			return nil
		}
		if p.advanced == nil {
			p.advanced = make(chan struct{})
		}
		ch := p.advanced
		p.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
