package accesslog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultQueue is how many records a Logger holds for its writer before it
// drops lines.
const DefaultQueue = 4096

// firstRing is how many records a Logger's queue has room for at first.
// A full queue doubles, up to the size New was given, before it drops a
// line: a writer that keeps up needs a few slots, a burst the writer falls
// behind gets the rest. The whole queue allocated at once, 4096 records of
// 1.2 KiB, was 7 MiB of lbd's resident memory even with logging off (a
// quarter of it at rest; issue 22, docs/performance.md).
const firstRing = 64

// Logger takes records from the data plane and writes them to its sinks
// from a goroutine of its own. A nil *Logger logs nothing.
type Logger struct {
	mu     sync.Mutex
	ring   []Record // record i is at ring[i%len(ring)]; it grows (grow)
	size   int      // the most records queued: what ring may grow to
	head   uint64   // first record the writer has not finished with
	tail   uint64   // next free slot
	closed bool

	wake    chan struct{} // a record arrived in an empty queue
	reopen  chan struct{} // SIGUSR1: reopen the files
	stop    chan struct{}
	done    chan struct{}
	sinks   []*Sink
	errLog  *slog.Logger
	written atomic.Uint64
	dropped atomic.Uint64
	failed  atomic.Uint64
}

// Stats are a Logger's counters.
type Stats struct {
	Written uint64 // lines written to every sink
	Dropped uint64 // lines dropped because the queue was full (a sink too slow or stalled)
	Failed  uint64 // lines a sink failed to write
}

// New starts a Logger writing to sinks, queueing up to queue records
// (DefaultQueue when 0). errLog reports sinks that fail (and recover).
// Close stops it.
func New(sinks []*Sink, queue int, errLog *slog.Logger) (*Logger, error) {
	if len(sinks) == 0 {
		return nil, errors.New("access log: no sink")
	}
	if queue <= 0 {
		queue = DefaultQueue
	}
	if errLog == nil {
		errLog = slog.New(slog.DiscardHandler)
	}
	l := &Logger{
		ring: make([]Record, min(queue, firstRing)), size: queue, wake: make(chan struct{}, 1), reopen: make(chan struct{}, 1),
		stop: make(chan struct{}), done: make(chan struct{}), sinks: sinks, errLog: errLog,
	}
	go l.run()
	return l, nil
}

// Log queues a copy of r and returns at once. When the queue is full the
// line is dropped and counted. It does not allocate, but when it grows the
// queue (at most log2(queue/64) times in a Logger's life).
func (l *Logger) Log(r *Record) {
	if l == nil {
		return
	}
	l.mu.Lock()
	if l.tail-l.head == uint64(len(l.ring)) && len(l.ring) < l.size && !l.closed {
		l.grow()
	}
	if l.closed || l.tail-l.head == uint64(len(l.ring)) {
		l.mu.Unlock()
		l.dropped.Add(1)
		return
	}
	wasEmpty := l.tail == l.head
	l.ring[l.tail%uint64(len(l.ring))].copyFrom(r)
	l.tail++
	l.mu.Unlock()
	if wasEmpty {
		select {
		case l.wake <- struct{}{}:
		default:
		}
	}
}

// grow doubles the full ring, up to l.size, its records moved to the slots
// their numbers take in the new one. The writer may be reading the old
// ring's meanwhile: it took the ring with the records it writes, and Log
// writes only to the new one. l.mu is held.
func (l *Logger) grow() {
	old := l.ring
	ring := make([]Record, min(2*len(old), l.size))
	for i := l.head; i < l.tail; i++ {
		ring[i%uint64(len(ring))].copyFrom(&old[i%uint64(len(old))])
	}
	l.ring = ring
}

// copyFrom copies src into r, of the request line only the bytes used.
func (r *Record) copyFrom(src *Record) {
	r.Flavour = src.Flavour
	r.Accepted = src.Accepted
	r.Client, r.Frontend, r.MemberAddr = src.Client, src.Frontend, src.MemberAddr
	r.ProjectID = src.ProjectID
	r.LoadBalancer, r.Listener, r.Pool, r.Member = src.LoadBalancer, src.Listener, src.Pool, src.Member
	r.Status = src.Status
	r.BytesIn, r.BytesOut = src.BytesIn, src.BytesOut
	r.WaitRequest, r.Connect, r.Response, r.Total = src.WaitRequest, src.Connect, src.Response, src.Total
	r.Termination = src.Termination
	r.TLS = src.TLS
	r.requestLen = uint16(copy(r.request[:], src.request[:src.requestLen]))
}

// Stats reads the counters.
func (l *Logger) Stats() Stats {
	if l == nil {
		return Stats{}
	}
	return Stats{Written: l.written.Load(), Dropped: l.dropped.Load(), Failed: l.failed.Load()}
}

// Reopen asks the writer to reopen the sinks' files (after logrotate moved
// them) and returns without waiting.
func (l *Logger) Reopen() {
	if l == nil {
		return
	}
	select {
	case l.reopen <- struct{}{}:
	default:
	}
}

// Close stops taking records, writes those queued and closes the sinks, or
// gives up when ctx ends.
func (l *Logger) Close(ctx context.Context) error {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	if !l.closed {
		l.closed = true
		close(l.stop)
	}
	l.mu.Unlock()
	select {
	case <-l.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("access log: %d lines not written: %w", l.queued(), ctx.Err())
	}
}

func (l *Logger) queued() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.tail - l.head
}

// batch is how many records the writer takes before it frees their slots.
const batch = 64

// run is the writer: it takes queued records, formats them into each sink
// and flushes the sinks whenever the queue runs empty.
func (l *Logger) run() {
	defer close(l.done)
	defer func() {
		for _, s := range l.sinks {
			s.flush()
			s.close()
		}
	}()
	for {
		l.mu.Lock()
		head, avail := l.head, min(l.tail-l.head, batch)
		stopping := l.closed
		ring := l.ring // Log may grow l.ring: these records stay in this one
		l.mu.Unlock()
		n := uint64(len(ring))
		if avail == 0 {
			for _, s := range l.sinks {
				l.check(s, s.flush())
			}
			if stopping {
				return
			}
			select {
			case <-l.wake:
			case <-l.reopen:
				l.reopenSinks()
			case <-l.stop:
			}
			continue
		}
		select {
		case <-l.reopen:
			l.reopenSinks()
		default:
		}
		for i := head; i < head+avail; i++ {
			r := &ring[i%n]
			ok := true
			for _, s := range l.sinks {
				if !l.check(s, s.write(r)) {
					ok = false
				}
			}
			if ok {
				l.written.Add(1)
			} else {
				l.failed.Add(1)
			}
		}
		l.mu.Lock()
		l.head += avail
		l.mu.Unlock()
	}
}

func (l *Logger) reopenSinks() {
	for _, s := range l.sinks {
		s.flush()
		if err := s.reopen(); err != nil {
			l.errLog.Error("access log: reopen failed; still writing to the old file", "sink", s.name, "err", err.Error())
		} else if s.reopens() {
			l.errLog.Info("access log reopened", "sink", s.name)
		}
	}
}

// check reports a sink's first failure and its recovery, not every line.
func (l *Logger) check(s *Sink, err error) bool {
	if err == nil {
		if !s.failingSince.IsZero() {
			l.errLog.Info("access log sink recovered", "sink", s.name, "failing_for", time.Since(s.failingSince).Round(time.Millisecond).String())
			s.failingSince = time.Time{}
		}
		return true
	}
	if s.failingSince.IsZero() {
		s.failingSince = time.Now()
		l.errLog.Error("access log sink failing; lines are lost until it recovers", "sink", s.name, "err", err.Error())
	}
	return false
}
