package proxy

import (
	"log/slog"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"lbd/internal/accesslog"
	"lbd/internal/balancer"
	"lbd/internal/proxy/evloop"
	"lbd/internal/proxy/http1"
	"lbd/internal/stats"
)

// The event loops serve keep-alive HTTP connections in their steady state,
// and plain HTTP listeners' new connections from their first request,
// without a goroutine each: four system calls per request instead of six,
// and no scheduling (docs/performance.md). One loop (package evloop) runs
// per P. This file is what the HTTP fast path keeps per loop and across
// them: the loops, their counters, the member connections idle in each,
// and the connections they serve, with what each holds. The exchange the
// loop runs is in loopexchange.go (loopconnect.go, loopbody.go,
// loopstream.go), the moves between the engines in handoff.go and
// loophandoff.go.
//
// A connection in a loop holds what evloop's ownership rules say a
// handler's state holds: a loopClient owns its socket, its listener's
// connection count (settled by connEnded, in closeClient or by the
// goroutine it is handed to) and, during an exchange, an acquired member
// and a busy loopMember; an idle loopMember is in exactly one loop's idle
// list.

const (
	// loopTick is how often a loop looks for expired timeouts and idle
	// member connections past idleUpstreamTTL.
	loopTick = 25 * time.Millisecond
	// loopYield bounds how long a busy loop keeps its P from the goroutines
	// sharing it (new connections' first exchanges, bodies, health checks).
	loopYield = time.Millisecond
)

// The goroutine path's buffers take over what a loop read
// (http1.FastRoom at most): they must hold it.
const (
	_ = uint(clientBufSize - http1.FastRoom)
	_ = uint(upstreamBufSize - http1.FastRoom)
)

// loopSet is a runtime's event loops.
type loopSet struct {
	loops    []*httpLoop
	next     atomic.Uint32
	stopOnce sync.Once
	stats    loopStats
}

// loopStats counts what the loops did, for EventLoopStats.
type loopStats struct {
	adopted, served atomic.Uint64
	tunnels         atomic.Uint64 // TCP connections the loops took (looptcp.go)
	connects        atomic.Uint64 // member connects the loops started
	handoffs        [handoffReasons]atomic.Uint64
}

// handoffReason is why a loop handed a connection back to a goroutine.
type handoffReason int

const (
	handoffRequest  handoffReason = iota // a request the loop does not serve (a chunked body, an upgrade, an error...)
	handoffConnect                       // the loop's connect to the picked member failed: the goroutine path retries
	handoffResponse                      // a response the loop does not relay (chunked, long, an error...)
	handoffTimeout                       // a timeout, which the goroutine path answers (408, 504)
	handoffReasons
)

// HandoffReasons name EventLoopStats.Handoffs' reasons.
var HandoffReasons = [handoffReasons]string{"request", "member_connection", "response", "timeout"}

// EventLoopStats counts what the event loops did since start.
type EventLoopStats struct {
	Loops    int                    // event loops running; 0 when goroutines serve everything
	Adopted  uint64                 // connections a goroutine handed to a loop
	Requests uint64                 // requests a loop served from head to response
	Handoffs [handoffReasons]uint64 // connections handed back, by HandoffReasons
	Tunnels  uint64                 // TCP connections the loops relayed
	Connects uint64                 // member connects the loops started (Loop.Connect)
}

// httpLoop is one event loop as the HTTP fast path uses it. Only the
// loop's goroutine touches it, but for idleCounts.
type httpLoop struct {
	loop       *evloop.Loop
	set        *loopSet
	log        *slog.Logger
	idle       map[*balancer.State][]*loopMember
	idleDirty  bool
	clients    int                                     // client connections registered in the loop
	idleCounts atomic.Pointer[map[*balancer.State]int] // published for metrics
	rec        accesslog.Record                        // the access log line being written
}

// startLoops starts n event loops (0: one per P), each on a thread of its
// own if tune.OwnThread is set (Options.LoopThreads) and GOMAXPROCS leaves
// the other goroutines a P, lingering and napping as tune says
// (Options.LoopLinger, LoopNap). The rest of each loop's Options are lbd's.
func startLoops(log *slog.Logger, n int, tune evloop.Options) (*loopSet, error) {
	procs := runtime.GOMAXPROCS(0)
	if n <= 0 {
		n = procs
	}
	if tune.OwnThread && procs <= n {
		log.Warn("event loops park in Go's poller: a thread of their own each needs GOMAXPROCS above the loops", "loops", n, "gomaxprocs", procs)
		tune.OwnThread = false
	}
	ls := &loopSet{}
	for range n {
		hl := &httpLoop{set: ls, log: log, idle: map[*balancer.State][]*loopMember{}}
		opts := tune
		opts.BufSize, opts.Tick, opts.Yield, opts.OnTick = http1.FastRoom, loopTick, loopYield, hl.publishIdle
		l, err := evloop.New(opts)
		if err != nil {
			ls.stop()
			return nil, err
		}
		hl.loop = l
		ls.loops = append(ls.loops, hl)
		go l.Run()
	}
	return ls, nil
}

// stop ends the loops once the listeners have drained.
func (ls *loopSet) stop() {
	if ls == nil {
		return
	}
	ls.stopOnce.Do(func() {
		for _, hl := range ls.loops {
			hl.loop.Stop()
			hl.idleCounts.Store(nil)
		}
	})
}

// closeListener closes a draining listener's connections in every loop:
// the idle ones, or all of them.
func (ls *loopSet) closeListener(l *listener, all bool) {
	if ls == nil {
		return
	}
	for _, hl := range ls.loops {
		hl.loop.Post(func() {
			hl.loop.Each(func(s *evloop.Socket) {
				switch h := s.Handler().(type) {
				case *loopClient:
					if h.l == l && (all || h.phase == phaseHead) {
						hl.closeClient(h)
					}
				case *tunnelEnd:
					if h.t.l == l && all {
						h.t.close(accesslog.Term(accesslog.CauseKilled, accesslog.PhaseData))
					}
				}
			})
		})
	}
}

// idleConns counts the loops' idle connections to a member.
func (ls *loopSet) idleConns(st *balancer.State) int {
	if ls == nil {
		return 0
	}
	n := 0
	for _, hl := range ls.loops {
		if counts := hl.idleCounts.Load(); counts != nil {
			n += (*counts)[st]
		}
	}
	return n
}

// loopPhase is where a loopClient's exchange is.
type loopPhase int

const (
	phaseHead   loopPhase = iota // waiting for a request head
	phaseBody                    // the request's head is sent, its body being relayed
	phaseAwait                   // the request is (being) sent; waiting for the response
	phaseWrite                   // the response is being written
	phaseStream                  // a response longer than the loop's buffer is being relayed (loopstream.go)
)

// loopClient is a client connection a loop serves.
type loopClient struct {
	evloop.Socket
	hl      *httpLoop
	l       *listener
	traffic *stats.Traffic // the listener's counters it was accepted under
	remote  netip.AddrPort
	local   netip.AddrPort
	ipText  []byte
	scratch []byte             // a persistence cookie being inserted
	backoff int                // loopSeat.backoff, carried along
	back    func(*loopHandoff) // serves the connection when the loop hands it back
	phase   loopPhase
	req     http1.Head
	scan    http1.HeadScan
	reqEnd  int // how much of In the current request took
	// body is how much of the request's body (Content-Length) the member
	// has yet to be given; what of it was read is In[reqEnd:].
	body int64
	// The exchange in progress.
	cfg         *listenerConfig
	p           *pool
	m           *balancer.Member // acquired
	up          *loopMember
	d           http1.Decision
	start, sent time.Time
	// For the access log: how long the member connection took to open (0:
	// one kept alive), the status and bytes relayed, and how long the
	// member took to answer.
	connect  time.Duration
	status   int
	bytesOut int64
	response time.Duration
	// A response streamed (phaseStream): the body bytes still to come from
	// the member, and the pipe holding what was spliced in and not yet out.
	left int64
	pipe *splicePipe
}

// loopMember is a member connection a loop holds: idle in its list, or
// serving one client's exchange.
type loopMember struct {
	evloop.Socket
	hl     *httpLoop
	state  *balancer.State // which member
	client *loopClient     // the exchange it serves; nil while idle
	// connecting: the loop opened it for client's request, and its
	// connect has not completed yet (Loop.Connect).
	connecting bool
	resp       http1.Head
	scan       http1.HeadScan
	// Where the response's head ends and the whole of it, once the head
	// is in; 0 before.
	respEnd, respTotal int
}

// closeClient closes a client connection of the loop and settles what it
// holds: its exchange's member connection and member, and its listener's
// connection count.
func (hl *httpLoop) closeClient(c *loopClient) {
	if !c.Open() {
		return // closed or handed over already: settled
	}
	if u := c.up; u != nil {
		u.client = nil
		u.Close()
		c.up = nil
	}
	c.dropPipe()
	if m := c.m; m != nil {
		term := accesslog.Term(accesslog.CauseKilled, accesslog.PhaseHeaders) // the loop stopped, or a drain ran out
		if c.phase == phaseWrite || c.phase == phaseStream {
			m.Traffic.ClientAborts.Add(1) // a response the client stopped taking
			term = accesslog.Term(accesslog.CauseClient, accesslog.PhaseData)
		}
		if c.cfg.access != nil {
			hl.logExchange(c, m, hl.loop.Now(), term)
		}
		m.Release()
		c.m = nil
	}
	c.Close()
	hl.clients--
	c.l.connEnded(c.traffic)
}

// takeIdle returns the most recently used idle connection to a member,
// now busy.
func (hl *httpLoop) takeIdle(st *balancer.State) *loopMember {
	list := hl.idle[st]
	for len(list) > 0 {
		u := list[len(list)-1]
		list[len(list)-1] = nil
		list = list[:len(list)-1]
		if !u.Expired() && !u.Readable() && !u.Hup() {
			hl.idle[st] = list
			hl.idleDirty = true
			u.SetDeadline(time.Time{})
			return u
		}
		u.Close()
	}
	delete(hl.idle, st)
	hl.idleDirty = true
	return nil
}

// putIdle makes a member connection idle since since; it expires
// idleUpstreamTTL after.
//
// A loop keeps up to one idle connection per member for each of its client
// connections, or maxIdlePerMember if that is more: each client has at most
// one request at a member, so a member may need as many connections at once
// as the loop has clients, and one the cap closed now is one a later
// request lacks, and has to hand its client to a goroutine to open (a
// thousand keep-alive clients made every few requests take that detour:
// issue 22). What a burst opened and no longer uses goes idleUpstreamTTL
// later: the most recently used connection is taken first, so the spare
// ones age at the bottom of the list. (One more than the clients: a client
// moving in brings its connections before it is counted.)
func (hl *httpLoop) putIdle(u *loopMember, since time.Time) {
	list := hl.idle[u.state]
	if len(list) >= max(maxIdlePerMember, hl.clients+1) {
		u.Close()
		return
	}
	u.SetDeadline(since.Add(idleUpstreamTTL))
	hl.idle[u.state] = append(list, u)
	hl.idleDirty = true
}

// dropIdle closes an idle member connection: the member closed it, or it
// was idle too long.
func (hl *httpLoop) dropIdle(u *loopMember) {
	list := hl.idle[u.state]
	for i, x := range list {
		if x == u {
			list[i] = list[len(list)-1]
			list[len(list)-1] = nil
			list = list[:len(list)-1]
			break
		}
	}
	if len(list) == 0 {
		delete(hl.idle, u.state)
	} else {
		hl.idle[u.state] = list
	}
	u.Close()
	hl.idleDirty = true
}

// publishIdle publishes the idle connection counts for metrics, when they
// changed; the loop runs it every loopTick.
func (hl *httpLoop) publishIdle() {
	if !hl.idleDirty {
		return
	}
	hl.idleDirty = false
	counts := make(map[*balancer.State]int, len(hl.idle))
	for st, list := range hl.idle {
		counts[st] = len(list)
	}
	hl.idleCounts.Store(&counts)
}

// loopMove is a client connection on its way from a goroutine to a loop.
type loopMove struct {
	l        *listener
	traffic  *stats.Traffic
	remote   netip.AddrPort
	local    netip.AddrPort
	fd       int
	buffered []byte     // read from the client, not yet served
	members  []loopIdle // its idle member connections
	backoff  int
	back     func(*loopHandoff)
	// fresh: the connection was just accepted, with its request's first
	// bytes waiting (TCP_DEFER_ACCEPT): the loop reads at once.
	fresh bool
}

// loopIdle is an idle member connection on its way to a loop.
type loopIdle struct {
	fd    int
	state *balancer.State
	since time.Time
}

// loopHandoff is a client connection a loop hands to a goroutine, with what
// it holds: bytes read, maybe an exchange in progress or a failed connect.
type loopHandoff struct {
	l        *listener
	traffic  *stats.Traffic
	remote   netip.AddrPort
	local    netip.AddrPort
	conn     *net.TCPConn
	buffered []byte        // read from the client, not yet served
	backoff  int           // the connection's loopSeat.backoff
	expired  bool          // its request head timed out in the loop
	ex       *sentExchange // an exchange the loop started, or nil
	// failed is, for the first buffered request, the member the loop
	// failed to connect to.
	failed failedConnect
	// home is the loop the connection comes back to, where its member
	// connections wait.
	home *httpLoop
}
