package balancer

import (
	"net/netip"
	"sync"
)

// leastConn picks the member whose load per unit of weight would be lowest
// after taking the new connection, (a_i+1)/w_i, as HAProxy's leastconn does:
// in-flight counts then settle in proportion to the weights, and an idle pool
// prefers its heaviest member. Products replace the division.
//
// Every pick and every release moves one member, so the order is kept up to
// date rather than found by a scan: members of one weight (a class) sit in
// buckets by in-flight count, each bucket a FIFO list, and the class's best
// member is the head of its lowest non-empty bucket. A pick takes that head
// and appends it to the next bucket, a release appends it to the one below,
// so equally loaded members take turns. A tournament tree over the classes
// (at most 256 weights) finds the best class; between classes whose best
// members tie, the one picked from longest ago wins. A pick or release is
// O(1) for one weight and O(log k) for k weights, under one mutex, as
// HAProxy's leastconn takes its backend's lock.
//
// One leastConn serves a Pool for its whole life: snapshots come and go but
// the in-flight order is the members' live state, so rebuilds sync the set
// of members it holds (sync) instead of starting over.
type leastConn struct {
	mu       sync.Mutex
	classes  []*lcClass
	byWeight map[int]*lcClass
	tree     []int32 // tournament over classes: tree[1] wins; leaves from len(tree)/2; -1 none
	stamp    uint64
	gen      uint64
	held     []*State // members held now
}

// lcClass holds the members of one weight.
type lcClass struct {
	w       int64
	idx     int
	buckets []lcList // members by in-flight count
	min     int      // lowest non-empty bucket, when n > 0
	n       int
	stamp   uint64 // when a member of the class was last picked
}

type lcList struct{ head, tail *State }

// lcNode is a member's place in its pool's leastConn, kept in its State.
type lcNode struct {
	prev, next *State
	m          *Member // the member as last synced
	cls        *lcClass
	pos        int
	gen        uint64
}

func newLeastConn() *leastConn { return &leastConn{byWeight: map[int]*lcClass{}} }

// sync makes lc hold exactly ready, at their live in-flight counts.
func (lc *leastConn) sync(ready []*Member) {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	lc.gen++
	for _, m := range ready {
		s := m.State
		n := &s.lcn
		n.m, n.gen = m, lc.gen
		switch {
		case n.cls == nil:
			// Publish first, then read the count (in insert): a Release
			// that ran before the store is in the count; one after it
			// moves the member itself.
			s.lc.Store(lc)
			lc.insert(s, lc.class(m.Weight))
			lc.held = append(lc.held, s)
		case n.cls.w != int64(m.Weight):
			lc.unlink(s)
			lc.insert(s, lc.class(m.Weight))
		}
	}
	keep := lc.held[:0]
	for _, s := range lc.held {
		if s.lcn.gen == lc.gen {
			keep = append(keep, s)
			continue
		}
		lc.unlink(s)
		s.lcn = lcNode{}
		s.lc.Store(nil)
	}
	clear(lc.held[len(keep):])
	lc.held = keep
}

// class returns the class of weight w, adding it if new.
func (lc *leastConn) class(w int) *lcClass {
	if c := lc.byWeight[w]; c != nil {
		return c
	}
	c := &lcClass{w: int64(w), idx: len(lc.classes)}
	lc.classes = append(lc.classes, c)
	lc.byWeight[w] = c
	leaves := len(lc.tree) / 2
	if len(lc.classes) > leaves {
		size := 1
		for size < len(lc.classes) {
			size *= 2
		}
		lc.tree = make([]int32, 2*size)
		for i := range lc.tree {
			lc.tree[i] = -1
		}
		for _, c := range lc.classes {
			lc.fix(c)
		}
	}
	return c
}

// acquire picks the best member, not except unless it is the only one,
// counts it active and moves it.
func (lc *leastConn) acquire(_ netip.AddrPort, except *State) *Member {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	s := lc.best()
	if s == nil {
		return nil
	}
	if s == except {
		if alt := lc.bestExcept(s); alt != nil {
			s = alt
		}
	}
	s.addActive()
	s.picks.Add(1)
	lc.stamp++
	s.lcn.cls.stamp = lc.stamp
	lc.reposition(s)
	return s.lcn.m
}

// best is the head of the best class's lowest bucket.
func (lc *leastConn) best() *State {
	if len(lc.tree) < 2 || lc.tree[1] < 0 {
		return nil
	}
	c := lc.classes[lc.tree[1]]
	return c.buckets[c.min].head
}

// bestExcept is the best member other than s: the next in s's bucket, or
// the best with s set aside.
func (lc *leastConn) bestExcept(s *State) *State {
	if s.lcn.next != nil {
		return s.lcn.next
	}
	cls, pos := s.lcn.cls, s.lcn.pos
	lc.unlink(s)
	alt := lc.best()
	lc.link(s, cls, pos)
	return alt
}

// moved repositions s after its in-flight count changed outside the lock.
func (lc *leastConn) moved(s *State) {
	lc.mu.Lock()
	if s.lcn.cls != nil {
		lc.reposition(s)
	}
	lc.mu.Unlock()
}

func (lc *leastConn) reposition(s *State) {
	if pos := bucketOf(s); pos != s.lcn.pos {
		cls := s.lcn.cls
		lc.take(s)
		lc.put(s, cls, pos)
	}
	lc.fix(s.lcn.cls) // once for both moves; the class's stamp may also have changed
}

func bucketOf(s *State) int { return max(int(s.active.Load()), 0) }

func (lc *leastConn) insert(s *State, c *lcClass) { lc.link(s, c, bucketOf(s)) }

// link appends s to bucket pos of c.
func (lc *leastConn) link(s *State, c *lcClass, pos int) {
	lc.put(s, c, pos)
	lc.fix(c)
}

// put is link without the tournament's update.
func (lc *leastConn) put(s *State, c *lcClass, pos int) {
	for len(c.buckets) <= pos {
		c.buckets = append(c.buckets, lcList{})
	}
	b := &c.buckets[pos]
	s.lcn.cls, s.lcn.pos, s.lcn.prev, s.lcn.next = c, pos, b.tail, nil
	if b.tail != nil {
		b.tail.lcn.next = s
	} else {
		b.head = s
	}
	b.tail = s
	c.n++
	if c.n == 1 || pos < c.min {
		c.min = pos
	}
}

// unlink takes s out of its bucket; its class stays set.
func (lc *leastConn) unlink(s *State) {
	lc.take(s)
	lc.fix(s.lcn.cls)
}

// take is unlink without the tournament's update.
func (lc *leastConn) take(s *State) {
	n := &s.lcn
	c := n.cls
	b := &c.buckets[n.pos]
	if n.prev != nil {
		n.prev.lcn.next = n.next
	} else {
		b.head = n.next
	}
	if n.next != nil {
		n.next.lcn.prev = n.prev
	} else {
		b.tail = n.prev
	}
	n.prev, n.next = nil, nil
	c.n--
	if c.n > 0 && n.pos == c.min && b.head == nil {
		for c.buckets[c.min].head == nil {
			c.min++
		}
	}
}

// fix recomputes the tournament from c's leaf up.
func (lc *leastConn) fix(c *lcClass) {
	leaves := len(lc.tree) / 2
	if leaves == 0 {
		return
	}
	i := leaves + c.idx
	lc.tree[i] = -1
	if c.n > 0 {
		lc.tree[i] = int32(c.idx)
	}
	for i > 1 {
		i /= 2
		lc.tree[i] = lc.better(lc.tree[2*i], lc.tree[2*i+1])
	}
}

// better returns the class whose best member takes the next connection.
func (lc *leastConn) better(a, b int32) int32 {
	if a < 0 {
		return b
	}
	if b < 0 {
		return a
	}
	ca, cb := lc.classes[a], lc.classes[b]
	ka, kb := int64(ca.min+1)*cb.w, int64(cb.min+1)*ca.w
	switch {
	case ka < kb:
		return a
	case kb < ka:
		return b
	case cb.stamp < ca.stamp:
		return b
	}
	return a
}
