package balancer

import (
	"container/heap"
	"net/netip"
	"sync/atomic"
)

// maxSchedule caps the precomputed weighted schedule (entries), whose
// earliest-deadline-first build costs O(entries × log members). Longer
// cycles use a stride over the cumulative weights, built in O(members).
const maxSchedule = 1 << 12

// roundRobin is smooth weighted round robin. Equal weights need only a
// counter. Unequal weights use a schedule precomputed when the snapshot is
// built if the cycle is short: each member's picks are spread evenly over
// one cycle (earliest deadline first, deadline k/w), so a heavy member never
// gets a burst. A longer cycle of T slots, member i owning w_i consecutive
// ones, is walked with a stride coprime with T near T/φ, which visits every
// slot once per cycle and spreads each member's slots evenly over it (the
// three-gap theorem); the slot's member is found through an index of
// buckets, O(1) for most picks and O(log n) at worst.
type roundRobin struct {
	members []*Member
	sched   []uint32 // member index per slot; nil when weights are equal
	cum     []uint64 // cumulative weights, for cycles too long to schedule
	index   []uint32 // first member whose cumulative weight passes bucket b's first slot
	shift   uint     // slot >> shift is its bucket
	total   uint64
	stride  uint64
	next    atomic.Uint64
}

func newRoundRobin(ready []*Member, start uint64) *roundRobin {
	rr := &roundRobin{members: ready}
	// Start at a random offset so a rebuild does not send the next requests
	// to the first member (gRPC's picker does the same).
	rr.next.Store(start)
	g := 0
	equal := true
	for _, m := range ready {
		g = gcd(g, m.Weight)
		equal = equal && m.Weight == ready[0].Weight
	}
	if equal {
		return rr
	}
	var total uint64
	for _, m := range ready {
		total += uint64(m.Weight / g)
	}
	if total <= maxSchedule {
		rr.sched = smoothSchedule(ready, g, int(total))
		return rr
	}
	rr.cum = make([]uint64, len(ready))
	for i, m := range ready {
		rr.total += uint64(m.Weight / g)
		rr.cum[i] = rr.total
	}
	// A stride coprime with the cycle length visits every slot once per
	// cycle while jumping far between consecutive picks.
	rr.stride = rr.total*618/1000 | 1
	for gcd64(rr.stride, rr.total) != 1 {
		rr.stride += 2
	}
	// About two buckets per member: most buckets hold one boundary or none.
	for uint64(len(ready))*2<<rr.shift < rr.total {
		rr.shift++
	}
	buckets := (rr.total-1)>>rr.shift + 1
	rr.index = make([]uint32, buckets+1)
	i := 0
	for b := range buckets {
		first := b << rr.shift
		for rr.cum[i] <= first {
			i++
		}
		rr.index[b] = uint32(i)
	}
	rr.index[buckets] = uint32(len(ready) - 1)
	return rr
}

func (rr *roundRobin) acquire(_ netip.AddrPort, except *State) *Member {
	m := rr.pick()
	if m.State == except {
		m = rr.retry(except)
	}
	m.addActive()
	m.picks.Add(1)
	return m
}

func (rr *roundRobin) pick() *Member {
	n := rr.next.Add(1)
	switch {
	case rr.sched != nil:
		return rr.members[rr.sched[n%uint64(len(rr.sched))]]
	case rr.cum != nil:
		slot := (n % rr.total) * rr.stride % rr.total
		b := slot >> rr.shift
		lo, hi := int(rr.index[b]), int(rr.index[b+1])
		// The first cumulative weight above slot lies in [lo, hi].
		for lo < hi {
			mid := int(uint(lo+hi) >> 1)
			if rr.cum[mid] <= slot {
				lo = mid + 1
			} else {
				hi = mid
			}
		}
		return rr.members[lo]
	default:
		return rr.members[n%uint64(len(rr.members))]
	}
}

// retry picks again to avoid a member that just failed; a member that
// holds most of the weight may come up again, and then the next member in
// order takes it.
func (rr *roundRobin) retry(except *State) *Member {
	for range 4 {
		if m := rr.pick(); m.State != except {
			return m
		}
	}
	for i, m := range rr.members {
		if m.State == except {
			return rr.members[(i+1)%len(rr.members)]
		}
	}
	return rr.members[0]
}

// smoothSchedule lays out one cycle in which member i appears w_i/g times,
// earliest deadline first with deadlines (k+φ_i)/w_i. The phases φ_i differ
// per member so light members do not all land at the same point of the cycle
// and leave the heavy member a burst around it.
func smoothSchedule(ready []*Member, g, total int) []uint32 {
	h := make(deadlineHeap, len(ready))
	n := float64(len(ready))
	for i, m := range ready {
		w := float64(m.Weight / g)
		phase := (float64(i) + 0.5) / n
		h[i] = deadline{at: phase / w, step: 1 / w, idx: uint32(i)}
	}
	heap.Init(&h)
	sched := make([]uint32, total)
	for s := range sched {
		sched[s] = h[0].idx
		h[0].at += h[0].step
		heap.Fix(&h, 0)
	}
	return sched
}

type deadline struct {
	at, step float64
	idx      uint32
}

type deadlineHeap []deadline

func (h deadlineHeap) Len() int { return len(h) }
func (h deadlineHeap) Less(i, j int) bool {
	if h[i].at != h[j].at {
		return h[i].at < h[j].at
	}
	return h[i].idx < h[j].idx
}
func (h deadlineHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *deadlineHeap) Push(x any)   { *h = append(*h, x.(deadline)) }
func (h *deadlineHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

func gcd64(a, b uint64) uint64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}
