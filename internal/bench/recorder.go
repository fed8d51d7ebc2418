package bench

import (
	"sync/atomic"
	"time"

	"lbd/internal/loadgen"
)

// recorder accumulates what one run's requests saw: it is the load
// generator's Observer. Every method is lock-free and allocation-free:
// workers call them once per request.
type recorder struct {
	members int
	names   []string // the members' names, as their X-Backend says them
	bucket  int64    // timeline bucket width, ns

	latency   *Histogram // every response, from its intended send time
	lag       *Histogram // how late requests were sent after they were due
	memberLat []*Histogram

	done         atomic.Uint64                      // requests that ended, answered or not
	status       [6]atomic.Uint64                   // by class, as stats.Traffic counts them
	failures     [loadgen.NumFailures]atomic.Uint64 // by how they failed; OK unused
	memberReq    []atomic.Uint64
	memberErr    []atomic.Uint64 // 5xx answered by that member
	unattributed atomic.Uint64   // responses no member signed: lbd's own
	clientMember []atomic.Uint32 // [client*members+member] responses
	timeline     []atomic.Uint32 // [bucket*members+member] by send time
	timelineErr  []atomic.Uint32 // [bucket] errors (5xx or no answer) by send time
	events       []*eventTrack
}

// eventTrack follows one event's member after the event took effect.
type eventTrack struct {
	member  int
	applied atomic.Int64 // ns into the run, -1 until applied
	next    *eventTrack  // the member's next event, which ends this one's window
	after   atomic.Uint64
	last    atomic.Int64 // send time of the member's last request after it
}

func newRecorder(s *Scenario, clients int, events []Event) *recorder {
	n := len(s.Members)
	r := &recorder{
		members:      n,
		names:        s.memberNames(),
		latency:      NewHistogram(11),
		lag:          NewHistogram(7),
		memberLat:    make([]*Histogram, n),
		memberReq:    make([]atomic.Uint64, n),
		memberErr:    make([]atomic.Uint64, n),
		clientMember: make([]atomic.Uint32, clients*n),
	}
	for i := range r.memberLat {
		r.memberLat[i] = NewHistogram(8)
	}
	// 100 buckets over the run, no narrower than 10ms, and room for
	// requests sent late, after the sending window.
	r.bucket = max(int64(s.Duration/100), int64(10*time.Millisecond))
	buckets := int((s.Duration+s.Timeout)/time.Duration(r.bucket)) + 2
	r.timeline = make([]atomic.Uint32, buckets*n)
	r.timelineErr = make([]atomic.Uint32, buckets)
	for _, e := range events {
		t := &eventTrack{member: s.member(e.Member)}
		t.applied.Store(-1)
		t.last.Store(-1)
		r.events = append(r.events, t)
	}
	// Events apply in time order; link each to the member's next one.
	for i, t := range r.events {
		var best time.Duration = -1
		for j, u := range r.events {
			at, bt := events[j].At.In(s.Duration), events[i].At.In(s.Duration)
			if j != i && u.member == t.member && (at > bt || at == bt && j > i) && (best < 0 || at < best) {
				best, t.next = at, u
			}
		}
	}
	return r
}

// Observe records one request's outcome.
func (r *recorder) Observe(o *loadgen.Outcome) {
	if o.Sent >= 0 {
		r.lag.Record(int64(o.Sent - o.Due))
	}
	if o.Failure != loadgen.OK {
		at := o.Sent
		if at < 0 {
			at = o.Due
		}
		r.failure(o.Failure, int64(at))
		return
	}
	member := -1
	for i, n := range r.names {
		if string(o.Backend) == n { // compiled without a conversion
			member = i
			break
		}
	}
	r.response(o.Client, member, o.Status, int64(o.Due), int64(o.Sent), int64(o.Done))
}

// response records an answer from member (-1: lbd answered itself) to a
// request due at intended and sent at sent; done is when it completed. All
// times are ns into the run.
func (r *recorder) response(client, member, status int, intended, sent, done int64) {
	r.done.Add(1)
	lat := done - intended
	r.latency.Record(lat)
	class := status / 100
	if class < 1 || class > 5 {
		class = 0
	}
	r.status[class].Add(1)
	if class == 5 {
		r.timelineErr[r.bucketOf(sent)].Add(1)
	}
	if member < 0 {
		r.unattributed.Add(1)
		return
	}
	r.memberReq[member].Add(1)
	if class == 5 {
		r.memberErr[member].Add(1)
	}
	r.memberLat[member].Record(lat)
	r.clientMember[client*r.members+member].Add(1)
	r.timeline[r.bucketOf(sent)*r.members+member].Add(1)
	for _, e := range r.events {
		if e.member != member {
			continue
		}
		if at := e.applied.Load(); at >= 0 && sent >= at && !e.ended(sent) {
			e.after.Add(1)
			for l := e.last.Load(); sent > l && !e.last.CompareAndSwap(l, sent); l = e.last.Load() {
			}
		}
	}
}

// ended reports whether the member's next event had taken effect by t.
func (e *eventTrack) ended(t int64) bool {
	if e.next == nil {
		return false
	}
	at := e.next.applied.Load()
	return at >= 0 && t >= at
}

// failure records a request that got no response; at is when it was sent
// (or due, if it never was).
func (r *recorder) failure(kind loadgen.Failure, at int64) {
	r.done.Add(1)
	r.failures[kind].Add(1)
	r.timelineErr[r.bucketOf(at)].Add(1)
}

// bucketOf is the timeline bucket of a time into the run.
func (r *recorder) bucketOf(t int64) int {
	return min(max(int(t/r.bucket), 0), len(r.timelineErr)-1)
}

// errors counts requests that failed or were answered with 5xx.
func (r *recorder) errors() uint64 {
	n := r.status[5].Load()
	for i := range r.failures {
		n += r.failures[i].Load()
	}
	return n
}
