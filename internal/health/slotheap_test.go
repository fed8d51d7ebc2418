package health

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// TestSlotHeapOrder drives the heap with random sets (new members and
// moves), removals and pops, and checks after each step that every
// member's idx points at its own entry, and that pops come out in order
// of slot.at.
func TestSlotHeapOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	base := time.Unix(1_000_000, 0)
	var h slotHeap
	mems := make([]*member, 300)
	for i := range mems {
		mems[i] = &member{slot: slot{idx: -1}}
	}
	inHeap := func() []*member {
		var in []*member
		for _, m := range mems {
			if m.slot.idx >= 0 {
				in = append(in, m)
			}
		}
		return in
	}
	check := func(step int) {
		t.Helper()
		if got, want := h.len(), len(inHeap()); got != want {
			t.Fatalf("step %d: heap holds %d entries, %d members think they are in it", step, got, want)
		}
		for i, e := range h.e {
			if e.mem.slot.idx != i {
				t.Fatalf("step %d: entry %d's member has idx %d", step, i, e.mem.slot.idx)
			}
			if e.at != int64(e.mem.slot.at.Sub(h.base)) {
				t.Fatalf("step %d: entry %d's key %d is not its member's slot.at", step, i, e.at)
			}
			if i > 0 && h.e[(i-1)/heapArity].at > e.at {
				t.Fatalf("step %d: entry %d is earlier than its parent", step, i)
			}
		}
	}
	for step := range 20000 {
		m := mems[rng.IntN(len(mems))]
		switch op := rng.IntN(10); {
		case op < 6: // a new slot, or a move, to one of a few times (ties are common: slots are on a grid)
			m.slot.at = base.Add(time.Duration(rng.IntN(50)) * time.Millisecond)
			h.set(m)
		case op < 8:
			h.remove(m)
		default:
			if h.len() == 0 {
				continue
			}
			earliest := slices.MinFunc(inHeap(), func(a, b *member) int { return a.slot.at.Compare(b.slot.at) })
			if got := h.pop(); !got.slot.at.Equal(earliest.slot.at) || got.slot.idx != -1 {
				t.Fatalf("step %d: pop gave a member at %v (idx %d), the earliest is at %v", step, got.slot.at, got.slot.idx, earliest.slot.at)
			}
		}
		check(step)
	}
	var last time.Time
	for h.len() > 0 {
		m := h.pop()
		if m.slot.at.Before(last) {
			t.Fatalf("drain: %v after %v", m.slot.at, last)
		}
		last = m.slot.at
	}
}
