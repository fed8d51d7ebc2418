package loadgen

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// Closed is the closed loop: Workers workers, spread over the target's
// clients, each with one keep-alive connection, each sending its next
// request as soon as the previous one is answered.
type Closed struct {
	Target
	Workers int
}

// Run sends until ctx ends or, when window > 0, until window has passed
// since start, then waits for the requests in flight (they are not cut
// short) and returns how many requests it started; each has had one
// Observe. A worker whose request got no answer waits a millisecond before
// the next, so a refusing listener is not spun on.
func (l Closed) Run(ctx context.Context, start time.Time, window time.Duration, obs Observer) (started uint64) {
	var wg sync.WaitGroup
	var n atomic.Uint64
	for j := range l.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := newConn(l.Target, j%max(l.Clients, 1), start, obs)
			defer c.close()
			for ctx.Err() == nil {
				now := time.Since(start)
				if window > 0 && now >= window {
					return
				}
				n.Add(1)
				if !c.do(now) {
					select {
					case <-time.After(time.Millisecond):
					case <-ctx.Done():
					}
				}
			}
		}()
	}
	wg.Wait()
	return n.Load()
}
