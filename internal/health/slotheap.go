package health

import "time"

// slotHeap is a min-heap of members by slot.at, of heapArity children a
// node. Each entry carries its key beside the member, so that ordering
// reads the heap's own array: at 10,000 members, comparing through the
// members (scattered over the heap memory) missed the cache at every step,
// a quarter of the prober's CPU with TCP checks by SYN; the binary heap's
// 14 levels were still 24 % of it (docs/performance.md, "TCP checks by
// SYN").
type slotHeap struct {
	base time.Time // the keys count from it
	e    []slotEntry
}

// slotEntry is a member in the heap and its key: slot.at, in nanoseconds
// from the heap's base.
type slotEntry struct {
	at  int64
	mem *member
}

func (h *slotHeap) len() int { return len(h.e) }

// first is the member with the earliest slot.at; the heap must not be
// empty.
func (h *slotHeap) first() *member { return h.e[0].mem }

func (h *slotHeap) key(at time.Time) int64 {
	if h.base.IsZero() {
		h.base = at
	}
	return int64(at.Sub(h.base))
}

// set puts mem in the heap at its slot.at, or moves it there.
func (h *slotHeap) set(mem *member) {
	at := h.key(mem.slot.at)
	if i := mem.slot.idx; i >= 0 {
		h.e[i].at = at
		if !h.down(i) {
			h.up(i)
		}
		return
	}
	mem.slot.idx = len(h.e)
	h.e = append(h.e, slotEntry{at, mem})
	h.up(len(h.e) - 1)
}

func (h *slotHeap) pop() *member {
	mem := h.e[0].mem
	h.remove(mem)
	return mem
}

func (h *slotHeap) remove(mem *member) {
	i := mem.slot.idx
	if i < 0 {
		return
	}
	n := len(h.e) - 1
	last := h.e[n]
	h.e[n] = slotEntry{}
	h.e = h.e[:n]
	mem.slot.idx = -1
	if i == n {
		return
	}
	h.e[i] = last // the hole at i takes the last entry, sifted from there
	if !h.down(i) {
		h.up(i)
	}
}

// heapArity is the heap's fan-out: four children a node, so that a pop
// sifts through half the levels a binary heap has (7 at 10,000 members),
// and the children compared at each level are one cache line of entries.
const heapArity = 4

// up sifts the entry at i up: the entries above it that are later move
// down one level each, and it takes the last hole. Each move writes the
// moved member's idx, the one access outside the heap's array.
func (h *slotHeap) up(i int) {
	e := h.e[i]
	for i > 0 {
		parent := (i - 1) / heapArity
		if h.e[parent].at <= e.at {
			break
		}
		h.place(i, h.e[parent])
		i = parent
	}
	h.place(i, e)
}

// down sifts the entry at i down, as up does the other way, and reports
// whether it moved.
func (h *slotHeap) down(i int) bool {
	start, e, n := i, h.e[i], len(h.e)
	for {
		first := heapArity*i + 1
		if first >= n {
			break
		}
		c := first
		for j := first + 1; j < min(first+heapArity, n); j++ {
			if h.e[j].at < h.e[c].at {
				c = j
			}
		}
		if h.e[c].at >= e.at {
			break
		}
		h.place(i, h.e[c])
		i = c
	}
	h.place(i, e)
	return i > start
}

func (h *slotHeap) place(i int, e slotEntry) {
	h.e[i] = e
	e.mem.slot.idx = i
}
