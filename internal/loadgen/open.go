package loadgen

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"
)

// Open is the open loop: request i falls due at i/Rate seconds into the
// run, whatever happened to the ones before. Every client sends one request
// per round of Clients requests, in an order shuffled each round (a fixed
// rotation would alias with ROUND_ROBIN's own and pin each client to one
// member). A due request goes to an idle worker of its client (a goroutine
// owning one keep-alive connection), to a new worker when none is idle, or
// into the client's queue when it already has ConnsPerClient workers. Its
// latency runs from the due time, so time spent queued, or in a scheduler
// that overslept, counts: the coordinated-omission correction of wrk2 and
// HdrHistogram.
type Open struct {
	Target
	Rate           float64 // requests per second over all clients
	ConnsPerClient int     // most connections one client opens; default 1
}

// minSleep is the shortest the scheduler sleeps; see schedule.
const minSleep = 200 * time.Microsecond

// openClient is one source address and its workers.
type openClient struct {
	idx     int
	work    chan time.Duration // unbuffered: a send succeeds only if a worker is idle
	backlog chan time.Duration // due requests waiting for a busy worker
	workers int                // touched by the scheduler goroutine only
}

type openRun struct {
	l      Open
	start  time.Time
	end    time.Duration // nothing is sent after the window plus the timeout
	obs    Observer
	finish chan struct{} // closed when the window is over
	wg     sync.WaitGroup
}

// Run sends requests as they fall due for window after start, then waits
// until every one is answered or has timed out, and returns how many fell
// due; each has had one Observe. Requests still queued when the timeout
// after the window has passed are reported Unsent.
func (l Open) Run(ctx context.Context, start time.Time, window time.Duration, obs Observer) (due uint64) {
	r := &openRun{l: l, start: start, end: window + l.timeout(), obs: obs, finish: make(chan struct{})}
	nc := max(l.Clients, 1)
	clients := make([]*openClient, nc)
	backlog := min(max(int(l.Rate)/nc, 256), 16384)
	for i := range clients {
		clients[i] = &openClient{idx: i, work: make(chan time.Duration), backlog: make(chan time.Duration, backlog)}
	}
	due = r.schedule(ctx, clients, window)
	close(r.finish)
	r.wg.Wait()
	out := Outcome{Sent: -1, Failure: Unsent}
	for _, c := range clients {
		for range len(c.backlog) {
			out.Client, out.Due, out.Done = c.idx, <-c.backlog, time.Since(start)
			obs.Observe(&out)
		}
	}
	return due
}

// schedule dispatches requests as they fall due and returns how many did.
func (r *openRun) schedule(ctx context.Context, clients []*openClient, window time.Duration) uint64 {
	interval := float64(time.Second) / r.l.Rate
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	rng := rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	order := make([]*openClient, len(clients))
	copy(order, clients)
	conns := max(r.l.ConnsPerClient, 1)
	overflow := Outcome{Sent: -1, Failure: Overflow}
	for i := 0; ; i++ {
		due := time.Duration(float64(i) * interval)
		if due >= window {
			return uint64(i)
		}
		if wait := due - time.Since(r.start); wait > 0 {
			// The runtime's timers fire up to a millisecond late when the
			// process is idle; a plain nanosleep is late by tens of
			// microseconds, so it takes the last stretch. But each
			// nanosleep parks a thread, which costs CPU the proxy needs:
			// sleep at least minSleep, and send whatever fell due
			// meanwhile at once after. Above 1/minSleep requests per
			// second requests go out in small batches, at most minSleep
			// late, and that lateness counts in their latency.
			if wait > 2*time.Millisecond {
				timer.Reset(wait - time.Millisecond)
				select {
				case <-timer.C:
				case <-ctx.Done():
					return uint64(i)
				}
				wait = due - time.Since(r.start)
			}
			if wait > 0 {
				preciseSleep(max(wait, minSleep))
			}
		}
		if i%256 == 0 && ctx.Err() != nil {
			return uint64(i)
		}
		if i%len(order) == 0 {
			rng.Shuffle(len(order), func(a, b int) { order[a], order[b] = order[b], order[a] })
		}
		c := order[i%len(order)]
		select {
		case c.work <- due:
			continue
		default:
		}
		switch {
		case c.workers < conns:
			c.workers++
			r.wg.Add(1)
			go r.worker(ctx, c, due)
		default:
			select {
			case c.backlog <- due:
			default:
				overflow.Client, overflow.Due, overflow.Done = c.idx, due, time.Since(r.start)
				r.obs.Observe(&overflow)
			}
		}
	}
}

// worker serves one client's due requests on one connection.
func (r *openRun) worker(ctx context.Context, c *openClient, first time.Duration) {
	defer r.wg.Done()
	w := newConn(r.l.Target, c.idx, r.start, r.obs)
	defer w.close()
	r.do(w, first)
	for {
		var due time.Duration
		select {
		case due = <-c.backlog:
		default:
			select {
			case due = <-c.work:
			case due = <-c.backlog:
			case <-ctx.Done():
				return
			case <-r.finish:
				for {
					select {
					case due = <-c.backlog:
						r.do(w, due)
					default:
						return
					}
				}
			}
		}
		r.do(w, due)
	}
}

// do sends one request, unless the grace period after the window is over.
func (r *openRun) do(w *conn, due time.Duration) {
	if now := time.Since(r.start); now > r.end {
		w.out = Outcome{Client: w.client, Due: due, Sent: -1, Done: now, Failure: Unsent}
		r.obs.Observe(&w.out)
		return
	}
	w.do(due)
}
