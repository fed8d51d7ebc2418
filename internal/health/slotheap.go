package health

// slotHeap is a min-heap of members by slot.at.
type slotHeap []*member

func (h *slotHeap) set(mem *member) {
	if i := mem.slot.idx; i >= 0 {
		if !h.down(i) {
			h.up(i)
		}
		return
	}
	mem.slot.idx = len(*h)
	*h = append(*h, mem)
	h.up(len(*h) - 1)
}

func (h *slotHeap) pop() *member {
	mem := (*h)[0]
	h.remove(mem)
	return mem
}

func (h *slotHeap) remove(mem *member) {
	i := mem.slot.idx
	if i < 0 {
		return
	}
	n := len(*h) - 1
	if i != n {
		h.swap(i, n)
	}
	(*h)[n] = nil
	*h = (*h)[:n]
	mem.slot.idx = -1
	if i != n {
		if !h.down(i) {
			h.up(i)
		}
	}
}

func (h slotHeap) less(i, j int) bool { return h[i].slot.at.Before(h[j].slot.at) }

func (h slotHeap) swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].slot.idx, h[j].slot.idx = i, j
}

func (h slotHeap) up(i int) {
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
func (h slotHeap) down(i int) bool {
	start := i
	for {
		l := 2*i + 1
		if l >= len(h) {
			break
		}
		c := l
		if r := l + 1; r < len(h) && h.less(r, l) {
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
