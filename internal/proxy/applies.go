package proxy

import (
	"sync/atomic"
	"time"
)

// ApplyStats counts configuration changes.
type ApplyStats struct {
	Successes   uint64
	Failures    uint64
	Generation  uint64    // successful applies so far: the config's version
	LastSuccess time.Time // when the current config went live
}

// applyCounters count Apply's outcomes, for ApplyStats.
type applyCounters struct {
	successes, failures atomic.Uint64
	lastSuccess         atomic.Int64
}

func (a *applyCounters) record(ok bool) {
	if ok {
		a.successes.Add(1)
		a.lastSuccess.Store(time.Now().UnixNano())
	} else {
		a.failures.Add(1)
	}
}
