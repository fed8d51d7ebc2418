package proxy

import (
	"errors"
	"sync/atomic"
	"time"
)

// copyChunk bounds one splice call, so byte counters move while a long
// transfer is under way.
const copyChunk = 1 << 20

// errIdle reports that a connection saw no traffic for its idle timeout.
var errIdle = errors.New("idle timeout")

// activity is the last time data moved in either direction of a proxied
// connection (unix nanoseconds). A connection is idle only when both
// directions are.
type activity struct{ last atomic.Int64 }

func (a *activity) touch(now time.Time) { a.last.Store(now.UnixNano()) }

func (a *activity) idleFor(now time.Time) time.Duration {
	return time.Duration(now.UnixNano() - a.last.Load())
}
