package evloop

import (
	"runtime"
	"syscall"
	"time"
	"unsafe"
)

// A loop on a thread of its own (Options.OwnThread): it waits in its own
// epoll_pwait and keeps its P, lingers while events keep coming, and parks
// in Go's poller only when it has nothing to serve.

// ownWaitMax bounds an OwnThread loop's wait, and is its Yield at least:
// under the 10 ms after which the scheduler's monitor (sysmon) preempts a
// goroutine that has not yielded, which costs a signal.
const ownWaitMax = 8 * time.Millisecond

// runOwn is Run for an OwnThread loop: it blocks in epoll_pwait itself, a
// raw system call the scheduler does not see, so the loop keeps its P
// while it waits.
//
// Why: parked in Go's poller, a loop paid three epoll_pwait a wake-up
// where nginx pays one — the scheduler's non-blocking netpoll before it
// blocks, its blocking epoll_pwait, and the loop's own poll of its set
// once woken (Go's poller only says that the set has events) — plus the
// scheduler's park and wake-up of the goroutine. With one keep-alive
// connection every request wakes the loop twice (issue 22, conc_1): 10.1
// system calls a request, nginx's 7; here 6.0, with nginx's two context
// switches (docs/performance.md).
//
// What it asks: the scheduler takes the P back only by preempting the
// loop, with a signal, which ends the wait with EINTR; the loop then
// yields (a stop-the-world, a stack scan, sysmon after 10 ms). Meanwhile
// the other goroutines run on the other Ps only: a goroutine the loop
// makes ready goes to its P's run queue, and an idle P's thread, woken
// for it, takes it from there. Hence GOMAXPROCS above the number of such
// loops (lbd adds one P per loop). Between waits it yields as a parked
// loop would, at most every Yield, which is ownWaitMax at least: each
// yield hands the P over to another thread and back (two futex calls and
// two context switches), so yielding every millisecond cost more than it
// gave the goroutines, which have Ps of their own.
func (l *Loop) runOwn() {
	if l.opts.Nap > 0 {
		// A thread's timer slack is 50 µs by default, as long as a nap:
		// a nap's timer fires within napSlack of its time instead. The
		// slack is the thread's, so the loop keeps its thread.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		syscall.RawSyscall(syscall.SYS_PRCTL, syscall.PR_SET_TIMERSLACK, uintptr(napSlack), 0)
	}
	for !l.stopping {
		wait := ownWaitMax
		if len(l.socks) > 0 {
			wait = min(wait, l.nextTick.Sub(l.now))
		}
		n, err := l.wait(int(max(0, (wait+time.Millisecond-1)/time.Millisecond)))
		if err != nil {
			// A signal, most likely the scheduler asking for the P.
			runtime.Gosched()
			l.ranSince = time.Time{}
			continue
		}
		if n > 0 {
			l.serve(n)
			if n < len(l.events) {
				l.linger()
				l.nap()
			}
			continue
		}
		l.now = time.Now()
		if l.ranSince.IsZero() {
			l.ranSince = l.now
		}
		l.tickIfDue()
		if len(l.socks) == 0 {
			l.parkIdle()
			continue
		}
		l.yieldIfDue()
	}
}

// parkIdle parks an OwnThread loop that waited ownWaitMax with no socket
// to serve in Go's poller, giving its P back, until an event (a post)
// comes: waiting on its own it would yield every ownWaitMax, each time
// a hand-off of its P to another thread and back (1.5 % of a core for an
// idle lbd). The loop's set enters the bell, which Go's poller waits on,
// for as long as the loop parks: two epoll_ctl a park.
func (l *Loop) parkIdle() {
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(l.epfd)}
	if err := syscall.EpollCtl(l.bell, syscall.EPOLL_CTL_ADD, l.epfd, &ev); err != nil {
		l.yieldIfDue()
		return
	}
	l.idleParks.Add(1)
	l.ranSince = time.Time{}
	l.park.Read(l.idleFn) // no deadline: no socket to tick for
	syscall.EpollCtl(l.bell, syscall.EPOLL_CTL_DEL, l.epfd, nil)
	if n := l.pending; n > 0 {
		l.pending = 0
		l.serve(n)
	}
}

// idleReady is the bell's read callback: it polls the loop's set, and
// ends the park when that found events.
func (l *Loop) idleReady(uintptr) bool {
	l.pending = l.poll()
	return l.pending > 0
}

// wait is epoll_wait for up to ms milliseconds, as a raw system call: the
// scheduler does not see it, and leaves the loop its P (runOwn).
func (l *Loop) wait(ms int) (int, error) {
	l.polls++
	if ms > 0 {
		l.waits++
	}
	r, _, e := syscall.RawSyscall6(syscall.SYS_EPOLL_PWAIT, uintptr(l.epfd), uintptr(unsafe.Pointer(&l.events[0])), uintptr(len(l.events)), uintptr(ms), 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(r), nil
}

// DefaultLinger is Options.Linger as lbd runs the loops: how long an
// OwnThread loop that events keep coming to goes on polling without
// blocking after it has served its last events, before it blocks.
//
// About what the loop itself pays to sleep and be woken (a context switch
// each way; a poll that finds nothing costs 1-2 µs on these VMs, whose
// system calls pass through the hypervisor), so that lingering never
// costs the loop more than twice what the best choice in hindsight would
// have: the ski-rental rule. 10 µs, the budget before, bought the load
// generator's side fewer wake-ups with lbd's CPU: tcp_ka's CPU per request
// 1.02-1.13x nginx's in every run, size_1k's and size_4k's up to 1.10x;
// at 2 µs tcp_ka's 0.99 and size_4k's 0.94 (docs/performance.md, "How long to
// linger").
const DefaultLinger = 2 * time.Microsecond

// linger polls without blocking, serving what it finds, until Linger
// passes after the last serve ended without an event — while polls right
// after serving have found events at least half the time (learn, as
// parkAfterServe has it; one serve in probeEvery lingers anyway, to learn
// whether that changed).
//
// Why: a loop that blocks as soon as it finds nothing sleeps between
// events that come microseconds apart, and each sleep makes the next
// event's sender wake it: on these VMs a cross-CPU interrupt and a
// hypercall, on the sender's CPU. Blocking at once, the loop slept four
// times as often as parked in Go's poller (whose detour through the
// scheduler kept it awake that long), and where the senders' CPU was the
// bottleneck (wrk and the members, post_1k) requests/s fell to 0.88 of
// the parked loop's. The longer the budget, the more of those wake-ups
// it saves and the more polls that find nothing lbd pays for: 30 µs gave
// requests/s 1.3x but CPU per request 1.3x with one connection, whose
// next request came within the budget, so the loop lingered at every
// wake-up; DefaultLinger says where it stands (docs/performance.md).
//
// The budget counts from the end of the last serve, not its start: from
// the start, the busier the loop (the longer a serve), the less it
// lingered, and a long serve did not linger at all — the loop slept
// between bursts exactly when events came densest.
func (l *Loop) linger() {
	if l.opts.Linger <= 0 || l.parkAfterServe() {
		return
	}
	until := time.Now().Add(l.opts.Linger)
	for !l.stopping {
		if n := l.poll(); n > 0 {
			l.learn(true)
			l.serve(n)
			until = time.Now().Add(l.opts.Linger)
			continue
		}
		if !time.Now().Before(until) {
			l.learn(false)
			return
		}
	}
}

// DefaultNap is Options.Nap as lbd runs the loops: how long a busy
// OwnThread loop sleeps on a timer, deaf to its sockets, once lingering
// found nothing, before it waits for them.
//
// Why: a loop waiting in epoll_pwait is woken by whoever sends to it, and
// on these VMs the sender pays for that wake-up (a cross-CPU interrupt to
// the sleeping CPU, a hypercall), on its own CPU. Asleep on a timer the
// loop is on no socket's wait queue: what comes in meanwhile is queued on
// its epoll set and wakes nobody, and the loop takes it all when the
// timer fires. A busy loop sleeps seldom (at 64 keep-alive connections
// after 3 to 6 serves in 100) but each sleep was a wake-up for the load
// generator and the members, which held HAProxy's requests/s 1-5 % above
// lbd's on a shared machine while lbd's CPU per request was 5-14 % lower
// (HAProxy, busier, seldom sleeps). Most of those sleeps ended within
// 15-100 µs (docs/performance.md, "Napping"). The price is latency: what
// arrives during a nap waits for its end, at most DefaultNap, which is
// why only a busy loop naps (napHitRate), whose clients wait longer on
// the queue than on any one wake-up.
const DefaultNap = 50 * time.Microsecond

// napHitRate: a loop naps only while polls right after serving have
// found events at least this often (of hitScale): a busy loop. With one
// keep-alive connection the next event is always the answer to what the
// loop just sent and a poll right after serving never finds it: that
// loop never naps, and waits on its sockets as before.
const napHitRate = hitScale * 3 / 4

// napSlack is the timer slack of a napping loop's thread, set with
// prctl(PR_SET_TIMERSLACK).
const napSlack = time.Microsecond

// nap sleeps Options.Nap on a timer if the loop is busy and has sockets
// (DefaultNap says why). A signal (the scheduler's) ends it early.
func (l *Loop) nap() {
	if l.opts.Nap <= 0 || l.stopping || len(l.socks) == 0 || l.hitRate < napHitRate {
		return
	}
	l.naps++
	ts := syscall.NsecToTimespec(int64(l.opts.Nap))
	syscall.RawSyscall(syscall.SYS_NANOSLEEP, uintptr(unsafe.Pointer(&ts)), 0, 0)
}
