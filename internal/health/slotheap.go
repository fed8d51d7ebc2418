package health

import "time"

// slotHeap is a min-heap of members by slot.at. Each entry carries its
// key beside the member, so that ordering reads the heap's own array: at
// 10,000 members, comparing through the members (scattered over the heap
// memory) missed the cache at every step, a quarter of the prober's CPU
// with TCP checks by SYN (docs/performance.md, "TCP checks by SYN").
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
	if i != n {
		h.swap(i, n)
	}
	h.e[n] = slotEntry{}
	h.e = h.e[:n]
	mem.slot.idx = -1
	if i != n {
		if !h.down(i) {
			h.up(i)
		}
	}
}

func (h *slotHeap) less(i, j int) bool { return h.e[i].at < h.e[j].at }

func (h *slotHeap) swap(i, j int) {
	e := h.e
	e[i], e[j] = e[j], e[i]
	e[i].mem.slot.idx, e[j].mem.slot.idx = i, j
}

func (h *slotHeap) up(i int) {
	for i > 0 {
		parent := (i - 1) / 2
		if !h.less(i, parent) {
			return
		}
		h.swap(i, parent)
		i = parent
	}
}

// down sifts i down and reports whether it moved.
func (h *slotHeap) down(i int) bool {
	start := i
	for {
		l := 2*i + 1
		if l >= len(h.e) {
			break
		}
		c := l
		if r := l + 1; r < len(h.e) && h.less(r, l) {
			c = r
		}
		if !h.less(c, i) {
			break
		}
		h.swap(i, c)
		i = c
	}
	return i > start
}
