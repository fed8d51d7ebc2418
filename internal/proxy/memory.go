package proxy

import (
	"cmp"
	"runtime"
	"runtime/debug"
	"sync/atomic"
	"time"
)

// memoryReturn gives the memory a burst of connections took back to the
// operating system once the burst is over. Each connection served by a
// goroutine costs a stack and buffers; when they close, the memory is
// garbage, then free, but Go returns it to the system only as its
// collector's goal shrinks, after collections that a quiet proxy, which
// allocates little, may not run for minutes (issue 18: RSS 13 MB before
// 20,000 idle connections, 121 MB during, 123 MB thirty seconds after).
// So when the open connections fall to a quarter of their peak of at
// least burstConns, and stay there for calmAfter, it collects (twice: the
// sync.Pools keep what the first frees for one more) and returns the free
// memory (debug.FreeOSMemory). It counts connections with two atomics;
// the collections run once per burst, on a timer's goroutine.
type memoryReturn struct {
	active, peak atomic.Int64
	pending      atomic.Bool   // a calm check is scheduled
	returns      atomic.Uint64 // times memory was returned
	// Tests set these: release returns the memory (nil:
	// freeOSMemory), burst and calm are burstConns and calmAfter when 0.
	release func()
	burst   int64
	calm    time.Duration
}

const (
	// burstConns is the fewest open connections a burst must have reached
	// for its end to be worth the collections.
	burstConns = 1000
	// calmAfter is how long the connections must stay low.
	calmAfter = 5 * time.Second
)

func freeOSMemory() {
	runtime.GC()
	debug.FreeOSMemory()
}

// opened counts a client connection accepted.
func (mr *memoryReturn) opened() {
	n := mr.active.Add(1)
	for p := mr.peak.Load(); n > p && !mr.peak.CompareAndSwap(p, n); p = mr.peak.Load() {
	}
}

// closed counts a client connection that ended, and schedules a calm
// check when a burst is over.
func (mr *memoryReturn) closed() {
	n := mr.active.Add(-1)
	burst, calm := cmp.Or(mr.burst, burstConns), cmp.Or(mr.calm, calmAfter)
	if p := mr.peak.Load(); p >= burst && n <= p/4 && mr.pending.CompareAndSwap(false, true) {
		time.AfterFunc(calm, mr.check)
	}
}

// check returns the memory if the connections stayed low; if a new burst
// came, the next fall schedules another check.
func (mr *memoryReturn) check() {
	n, p := mr.active.Load(), mr.peak.Load()
	mr.peak.Store(n) // the next burst is measured from here
	mr.pending.Store(false)
	if n > p/4 {
		return
	}
	if mr.release != nil {
		mr.release()
	} else {
		freeOSMemory()
	}
	mr.returns.Add(1)
}
