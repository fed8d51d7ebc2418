package bench

import (
	"bufio"
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"
)

// generator drives one run's load at lbd from many source addresses.
//
// Open loop (Rate): request i is due at i/Rate seconds into the run. Every
// client sends one request per round of Clients requests, in an order
// shuffled each round: a fixed rotation would alias with ROUND_ROBIN's own
// rotation and pin each client to one member. The scheduler hands it to an idle worker of that
// client (a goroutine owning one keep-alive connection), starts a new worker
// when none is idle, and queues it when the client already has
// ConnectionsPerClient workers. Latency runs from the due time, so time
// spent queued, or in a scheduler that overslept, counts: that is the
// coordinated-omission correction of wrk2 and HdrHistogram.
//
// Closed loop (Concurrency): that many workers, spread over the clients,
// each send the next request when the previous one is answered; latency
// runs from the actual send.
type generator struct {
	s      *Scenario
	target string
	req    []byte
	names  []string
	rec    *recorder
	start  time.Time
	end    int64 // ns: nothing is sent after the sending window plus the timeout
	finish chan struct{}
	wg     sync.WaitGroup
}

// minSleep is the shortest the open-loop scheduler sleeps; see schedule.
const minSleep = 200 * time.Microsecond

// genClient is one source address and its workers.
type genClient struct {
	idx     int
	src     *net.TCPAddr
	work    chan int64 // unbuffered: a send succeeds only if a worker is idle
	backlog chan int64 // due requests waiting for a busy worker
	workers int        // touched by the scheduler goroutine only
}

// clientAddr is the source address of client i: 127.0.0.2, 127.0.0.3, ...
// continuing through 127.0.1.0 and on. Linux routes all of 127.0.0.0/8 to
// the loopback interface, so these bind without configuration.
func clientAddr(i int) netip.Addr {
	v := uint32(127)<<24 + 2 + uint32(i)
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

func (g *generator) now() int64 { return int64(time.Since(g.start)) }

// run sends load until the scenario's duration is over and every request
// is answered or has timed out. start is the run's time zero.
func (g *generator) run(ctx context.Context, start time.Time) {
	g.start = start
	g.end = int64(g.s.Duration + g.s.Timeout)
	g.finish = make(chan struct{})
	nc := g.s.Clients
	clients := make([]*genClient, nc)
	backlog := min(max(int(g.s.Rate)/nc, 256), 16384)
	for i := range clients {
		clients[i] = &genClient{
			idx:  i,
			src:  net.TCPAddrFromAddrPort(netip.AddrPortFrom(clientAddr(i), 0)),
			work: make(chan int64),
		}
		if g.s.Rate > 0 {
			clients[i].backlog = make(chan int64, backlog)
		}
	}
	if g.s.Rate > 0 {
		g.schedule(ctx, clients)
	} else {
		for j := range g.s.Concurrency {
			g.wg.Add(1)
			go g.closedWorker(ctx, clients[j%nc])
		}
	}
	close(g.finish)
	g.wg.Wait()
	for _, c := range clients {
		for range len(c.backlog) {
			g.rec.failure(failUnsent, <-c.backlog)
		}
	}
}

// schedule dispatches open-loop requests as they fall due.
func (g *generator) schedule(ctx context.Context, clients []*genClient) {
	interval := float64(time.Second) / g.s.Rate
	dur := int64(g.s.Duration)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	rng := rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	order := make([]*genClient, len(clients))
	copy(order, clients)
	for i := 0; ; i++ {
		due := int64(float64(i) * interval)
		if due >= dur {
			return
		}
		if wait := time.Duration(due - g.now()); wait > 0 {
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
					return
				}
				wait = time.Duration(due - g.now())
			}
			if wait > 0 {
				preciseSleep(max(wait, minSleep))
			}
		}
		if i%256 == 0 && ctx.Err() != nil {
			return
		}
		if i%len(order) == 0 {
			rng.Shuffle(len(order), func(a, b int) { order[a], order[b] = order[b], order[a] })
		}
		c := order[i%len(order)]
		g.rec.sent.Add(1)
		select {
		case c.work <- due:
			continue
		default:
		}
		switch {
		case c.workers < g.s.ConnectionsPerClient:
			c.workers++
			g.wg.Add(1)
			go g.openWorker(ctx, c, due)
		default:
			select {
			case c.backlog <- due:
			default:
				g.rec.failure(failOverflow, due)
			}
		}
	}
}

// openWorker serves one client's due requests on one connection.
func (g *generator) openWorker(ctx context.Context, c *genClient, first int64) {
	defer g.wg.Done()
	w := worker{g: g, client: c}
	defer w.close()
	w.do(first)
	for {
		var due int64
		select {
		case due = <-c.backlog:
		default:
			select {
			case due = <-c.work:
			case due = <-c.backlog:
			case <-ctx.Done():
				return
			case <-g.finish:
				for {
					select {
					case due = <-c.backlog:
						w.do(due)
					default:
						return
					}
				}
			}
		}
		w.do(due)
	}
}

// closedWorker sends back to back until the sending window closes.
func (g *generator) closedWorker(ctx context.Context, c *genClient) {
	defer g.wg.Done()
	w := worker{g: g, client: c}
	defer w.close()
	dur := int64(g.s.Duration)
	for ctx.Err() == nil {
		t := g.now()
		if t >= dur {
			return
		}
		g.rec.sent.Add(1)
		if !w.do(t) {
			// Do not spin on a refusing listener: one retry per
			// millisecond per worker is plenty to count errors.
			select {
			case <-time.After(time.Millisecond):
			case <-ctx.Done():
			}
		}
	}
}

// worker owns one keep-alive connection to lbd.
type worker struct {
	g      *generator
	client *genClient
	conn   *net.TCPConn
	br     *bufio.Reader
}

// do sends one request due at intended and records the outcome; it
// reports whether a response came back.
func (w *worker) do(intended int64) bool {
	g := w.g
	sent := g.now()
	if sent > g.end {
		g.rec.failure(failUnsent, intended)
		return false
	}
	g.rec.lag.Record(sent - intended)
	deadline := g.start.Add(time.Duration(sent) + g.s.Timeout)
	if w.conn == nil {
		d := net.Dialer{LocalAddr: w.client.src, Deadline: deadline}
		c, err := d.Dial("tcp", g.target)
		if err != nil {
			g.rec.failure(failConnect, sent)
			return false
		}
		w.conn = c.(*net.TCPConn)
		if w.br == nil {
			w.br = bufio.NewReaderSize(w.conn, 4096)
		} else {
			w.br.Reset(w.conn)
		}
	}
	w.conn.SetDeadline(deadline)
	if _, err := w.conn.Write(g.req); err != nil {
		w.fail(err, sent)
		return false
	}
	r, err := readResponse(w.br, g.names)
	if err != nil {
		w.fail(err, sent)
		return false
	}
	g.rec.response(w.client.idx, r.member, r.status, intended, sent, g.now())
	if !r.keep {
		w.close()
	}
	return true
}

func (w *worker) fail(err error, sent int64) {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		w.g.rec.failure(failTimeout, sent)
	} else {
		w.g.rec.failure(failIO, sent)
	}
	w.close()
}

func (w *worker) close() {
	if w.conn != nil {
		w.conn.Close()
		w.conn = nil
	}
}
