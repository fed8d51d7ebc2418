package balancer

import (
	"cmp"
	"encoding/binary"
	"hash/fnv"
	"math"
	"math/bits"
	"net/netip"
	"slices"
	"strings"
)

// sourceHash maps a client to a member through a lookup table: the top bits
// of the client's hash select one of 2^k slots, and the slot names the
// member. A pick is a hash and two loads, whatever the pool's size.
//
// Each member holds a share of the slots proportional to its weight: its
// quota, within one slot (at least one slot each). A pool keeps its table
// and derives the next one from it when the ready set or the weights
// change, moving as few slots as the new quotas allow: the slots of a
// member that left go to members below their quota, and a member that
// joins takes only what it needs from members above theirs. So when one of
// N members leaves or joins, about 1/N of the clients move, the ones it
// had or takes, and no other. A member that comes back (its health checks
// pass again, its weight is restored) is given back the very slots it held,
// so its clients return to it.
//
// The first table of a pool, at start-up or when SOURCE_IP is chosen, is a
// Maglev table (Eisenbud et al., "Maglev: A Fast and Reliable Software
// Network Load Balancer", NSDI 2016), a function of the ready members' IDs
// and weights alone: lbd processes that start with the same members agree,
// and restarting with one member less or more moves a few times 1/N of the
// clients (Maglev's own churn; TestSourceIPMovesAboutOneNth states it). A
// running lbd's table also depends on the changes it went through since.
type sourceHash struct {
	members  []*Member // in seed order; the table holds indices into it
	seeds    []uint64  // the members' seeds and States, for deriving the next table
	states   []*State
	table    []uint32
	shift    uint // slot = hash >> shift
	withPort bool
	// departed remembers the slots of members that left, newest last, so
	// that they get them back if they return; at most len(table) slots.
	departed []departure
}

// departure is what a member that left held: its slots, at a table size.
type departure struct {
	id    string
	seed  uint64
	size  int
	slots []uint32
}

// Table sizes: a table has 32 to 64 slots per member, so that a member's
// share is within about 5% of its weight's (1.5 slots); it grows, each slot
// split in two (which moves no client), when the pool outgrows that. At
// least 2^minSlotBits slots keep weights fine-grained in small pools.
const (
	minSlotBits    = 12
	maxSlotBits    = 22
	slotsPerMember = 32
	freeSlot       = ^uint32(0)
)

// newSourceHash builds the table for ready, which is in seed order (see
// Pool.bySeed), from the pool's previous one when it has one.
func newSourceHash(prev *sourceHash, ready []*Member, withPort bool) *sourceHash {
	s := &sourceHash{members: ready, withPort: withPort,
		seeds: make([]uint64, len(ready)), states: make([]*State, len(ready))}
	for i, m := range ready {
		s.seeds[i], s.states[i] = m.seed, m.State
	}
	b := &tableBuild{s: s, counts: make([]int32, len(ready))}
	if prev == nil || prev.withPort != withPort {
		bits := uint(minSlotBits)
		for bits < maxSlotBits && 1<<bits < slotsPerMember*len(ready) {
			bits++
		}
		s.shift = 64 - bits
		s.table = maglevFill(ready, 1<<bits)
		for _, o := range s.table {
			b.counts[o]++
		}
	} else {
		b.derive(prev)
	}
	b.balance()
	return s
}

// tableBuild is the scratch state of one table's construction.
type tableBuild struct {
	s      *sourceHash
	counts []int32  // slots per member
	free   []uint32 // free slots (some may have been taken since)
}

// maglevFill runs Maglev's population over size slots (a power of two):
// members take turns in seed order, each claiming the next free slot of its
// own walk (an offset and an odd step from its seed). Members are grouped by
// weight: a group of weight w takes its t-th turn in the first round r with
// r·w ≥ t·wmax, so the heaviest take one every round and the others in
// proportion (Envoy's weighted Maglev).
func maglevFill(ms []*Member, size int) []uint32 {
	table := make([]uint32, size)
	mask := uint64(size - 1)
	type walk struct{ next, skip uint64 }
	walks := make([]walk, len(ms))
	g, wmax := 0, 0
	for i, m := range ms {
		walks[i] = walk{next: m.seed & mask, skip: mix(m.seed)&mask | 1}
		g = gcd(g, m.Weight)
		wmax = max(wmax, m.Weight)
	}
	type group struct {
		w, turns uint64
		members  []uint32
	}
	var groups []*group
	byWeight := map[int]*group{}
	for i, m := range ms {
		gr := byWeight[m.Weight]
		if gr == nil {
			gr = &group{w: uint64(m.Weight / g)}
			byWeight[m.Weight] = gr
			groups = append(groups, gr)
		}
		gr.members = append(gr.members, uint32(i))
	}
	taken := make([]uint64, (size+63)/64)
	filled := 0
	for round := uint64(1); ; round++ {
		for _, gr := range groups {
			if round*gr.w < gr.turns*uint64(wmax/g) {
				continue
			}
			gr.turns++
			for _, i := range gr.members {
				w := &walks[i]
				c := w.next
				for taken[c>>6]&(1<<(c&63)) != 0 {
					c = (c + w.skip) & mask
				}
				taken[c>>6] |= 1 << (c & 63)
				table[c] = i
				w.next = (c + w.skip) & mask
				if filled++; filled == size {
					return table
				}
			}
		}
	}
}

// derive starts the table from prev's: members that stay keep their slots
// (the table doubles, each slot split in two, if the pool outgrew it), and
// the slots of members that left are freed and remembered.
func (b *tableBuild) derive(prev *sourceHash) {
	s := b.s
	size := len(prev.table)
	for size < 1<<maxSlotBits && size < slotsPerMember*len(s.members) {
		size *= 2
	}
	f := size / len(prev.table)
	s.table = make([]uint32, size)
	s.shift = prev.shift
	for 1<<(64-s.shift) < size {
		s.shift--
	}
	// Both member lists are in seed order: one merge maps old indices to
	// new ones. A member matches by its State, or by ID when it was
	// removed and added again, and then gets its slots back too.
	remap := make([]uint32, len(prev.members))
	gone := 0
	j := 0
	for i, seed := range prev.seeds {
		for j < len(s.seeds) && s.seeds[j] < seed {
			j++
		}
		remap[i] = freeSlot
		for k := j; k < len(s.seeds) && s.seeds[k] == seed; k++ {
			if s.states[k] == prev.states[i] || s.members[k].ID == prev.members[i].ID {
				remap[i] = uint32(k)
			}
		}
		if remap[i] == freeSlot {
			gone++
		}
	}
	var left map[uint32]*departure
	if gone > 0 {
		left = make(map[uint32]*departure, gone)
	}
	counts := b.counts
	for i, o := range prev.table {
		r := remap[o]
		if r != freeSlot {
			if f == 1 {
				s.table[i] = r
			} else {
				for k := range f {
					s.table[i*f+k] = r
				}
			}
			counts[r] += int32(f)
			continue
		}
		for k := range f {
			s.table[i*f+k] = freeSlot
			b.free = append(b.free, uint32(i*f+k))
		}
		d := left[o]
		if d == nil {
			m := prev.members[o]
			d = &departure{id: m.ID, seed: m.seed, size: len(prev.table)}
			left[o] = d
		}
		d.slots = append(d.slots, uint32(i))
	}
	// Remember the newest departures, up to a table's worth of slots.
	s.departed = slices.Clone(prev.departed)
	for o := range prev.members { // in seed order, for a deterministic order
		if d := left[uint32(o)]; d != nil {
			s.departed = append(s.departed, *d)
		}
	}
	total, keep := 0, len(s.departed)
	for keep > 0 && total+len(s.departed[keep-1].slots)*size/s.departed[keep-1].size <= size {
		keep--
		total += len(s.departed[keep].slots) * size / s.departed[keep].size
	}
	s.departed = s.departed[keep:]
}

// balance brings every member's slot count near its quota, moving as few
// slots as it can: members that return reclaim the slots they held, members
// that hold too many give up their surplus, and the free slots go to the
// members furthest below their quota.
//
// A member's quota is q = size·w/W. It must hold between t-1 and t+1 slots,
// where t = q + φ - ½ and φ in [0,1) is fixed by its seed: so within 1.5
// slots of its quota. The band is that wide, and shifted per member, so that
// the small drift of every quota when one member joins or leaves pushes
// only a few members out of their bands, as many as the change calls for,
// rather than all members of one weight at once.
func (b *tableBuild) balance() {
	s := b.s
	n, size := len(s.members), len(s.table)
	var wsum float64
	for _, m := range s.members {
		wsum += float64(m.Weight)
	}
	target := make([]float64, n)
	for i, m := range s.members {
		phase := float64(mix(m.seed^0x5851f42d4c957f2d)>>11) / (1 << 53)
		target[i] = max(float64(size)*float64(m.Weight)/wsum+phase-0.5, 1)
	}
	counts := b.counts
	free := len(b.free)
	// Members that come back reclaim what they held, newest departure first.
	for k := len(s.departed) - 1; k >= 0; k-- {
		d := &s.departed[k]
		i := s.find(d.id, d.seed)
		if i < 0 {
			continue
		}
		f := size / d.size
		for _, slot := range d.slots {
			for x := int(slot) * f; x < int(slot+1)*f && float64(counts[i]+1) <= target[i]+1; x++ {
				switch o := s.table[x]; {
				case o == uint32(i):
				case o == freeSlot:
					s.table[x] = uint32(i)
					counts[i]++
					free--
				case float64(counts[o]-1) >= target[o]-1:
					counts[o]--
					s.table[x] = uint32(i)
					counts[i]++
				}
			}
		}
		d.id = "" // reclaimed
	}
	s.departed = slices.DeleteFunc(s.departed, func(d departure) bool { return d.id == "" })
	// What must move: surplus above the bands, and what members below
	// theirs need beyond the free slots, taken from the members with the
	// most to spare.
	var give []int32
	shed, need := 0, 0
	for i := range n {
		if c := float64(counts[i]); c > target[i]+1 {
			if give == nil {
				give = make([]int32, n)
			}
			give[i] = counts[i] - int32(math.Floor(target[i]+1))
			shed += int(give[i])
		} else if c < target[i]-1 {
			need += int(math.Ceil(target[i]-1)) - int(counts[i])
		}
	}
	if extra := need - free - shed; extra > 0 {
		if give == nil {
			give = make([]int32, n)
		}
		spare := func(i int) (float64, bool) {
			c := float64(counts[i] - give[i])
			return c - target[i], c-1 >= target[i]-1
		}
		h := &slotHeap{}
		for i := range n {
			if key, ok := spare(i); ok {
				h.items = append(h.items, slotItem{key, i})
			}
		}
		h.init()
		for ; extra > 0 && h.len() > 0; extra-- {
			i := h.pop()
			give[i]++
			shed++
			if key, ok := spare(i); ok {
				h.push(i, key)
			}
		}
	}
	for x := size - 1; x >= 0 && shed > 0; x-- {
		if o := s.table[x]; o != freeSlot && give[o] > 0 {
			give[o]--
			counts[o]--
			shed--
			s.table[x] = freeSlot
			b.free = append(b.free, uint32(x))
			free++
		}
	}
	if free == 0 {
		return
	}
	// The free slots go, in slot order, to the member furthest below its
	// target at the time.
	slices.Sort(b.free)
	h := &slotHeap{items: make([]slotItem, n)}
	for i := range n {
		h.items[i] = slotItem{target[i] - float64(counts[i]), i}
	}
	h.init()
	for _, x := range b.free {
		if s.table[x] != freeSlot {
			continue // reclaimed
		}
		i := h.items[0].i
		s.table[x] = uint32(i)
		counts[i]++
		h.items[0].key = target[i] - float64(counts[i])
		h.down(0)
	}
}

// slotHeap is a max-heap of members by a key, ties to the lower index.
type slotHeap struct{ items []slotItem }

type slotItem struct {
	key float64
	i   int
}

func (h *slotHeap) len() int { return len(h.items) }

func (h *slotHeap) less(a, b int) bool {
	x, y := h.items[a], h.items[b]
	return x.key > y.key || x.key == y.key && x.i < y.i
}

func (h *slotHeap) init() {
	for p := len(h.items)/2 - 1; p >= 0; p-- {
		h.down(p)
	}
}

func (h *slotHeap) push(i int, key float64) {
	h.items = append(h.items, slotItem{key, i})
	for c := len(h.items) - 1; c > 0; {
		p := (c - 1) / 2
		if !h.less(c, p) {
			break
		}
		h.items[c], h.items[p] = h.items[p], h.items[c]
		c = p
	}
}

func (h *slotHeap) pop() int {
	top := h.items[0].i
	last := len(h.items) - 1
	h.items[0] = h.items[last]
	h.items = h.items[:last]
	h.down(0)
	return top
}

func (h *slotHeap) down(p int) {
	n := len(h.items)
	for {
		c := 2*p + 1
		if c >= n {
			return
		}
		if c+1 < n && h.less(c+1, c) {
			c++
		}
		if !h.less(c, p) {
			return
		}
		h.items[c], h.items[p] = h.items[p], h.items[c]
		p = c
	}
}

// find is the index of the member with that ID, or -1.
func (s *sourceHash) find(id string, seed uint64) int {
	i, ok := slices.BinarySearchFunc(s.members, seed, func(m *Member, seed uint64) int { return cmp.Compare(m.seed, seed) })
	if !ok {
		return -1
	}
	for ; i < len(s.members) && s.members[i].seed == seed; i++ {
		if s.members[i].ID == id {
			return i
		}
	}
	return -1
}

// compareSeed orders members by seed, then ID: Pool.bySeed's order.
func compareSeed(a, b *Member) int {
	if c := cmp.Compare(a.seed, b.seed); c != 0 {
		return c
	}
	return strings.Compare(a.ID, b.ID)
}

// slot is the table slot of a client.
func (s *sourceHash) slot(src netip.AddrPort) int {
	key := hashAddr(src.Addr())
	if s.withPort {
		key = mum(key^uint64(src.Port()), 0x8ebc6af09c88c6e3)
	}
	return int(key >> s.shift)
}

// acquire picks src's member; when that is except, the member of the next
// slot that has another, so a retry after a failure is as sticky as the
// pick. It reaches the member's State through states, not through the
// Member: the table, the State and the member's pointer are all a pick
// touches, so at 10,000 members (a table of 2 MiB, States spread over the
// heap) it waits for two cache misses, not three.
func (s *sourceHash) acquire(src netip.AddrPort, except *State) *Member {
	i := s.slot(src)
	o := s.table[i]
	st := s.states[o]
	if st == except && len(s.members) > 1 {
		for st == except {
			if i++; i == len(s.table) {
				i = 0
			}
			o = s.table[i]
			st = s.states[o]
		}
	}
	st.addActive()
	st.picks.Add(1)
	return s.members[o]
}

// idSeed is the hash of a member ID that places the member in the table.
func idSeed(id string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(id))
	return mix(h.Sum64())
}

// hashAddr hashes an address; an IPv4-mapped IPv6 address hashes as IPv4
// (As16 gives both the same 16 bytes). It is one 64×64→128-bit multiply of
// the two keyed halves, folded (wyhash's "mum"), and one more multiply so
// that every input bit reaches the top bits the slot is taken from: a few
// cycles, where SplitMix64 twice was about 20 ns of a 100 ns pick
// (TestSourceHashSpreadsStructuredClients checks the spread).
func hashAddr(a netip.Addr) uint64 {
	b := a.As16()
	return mum(binary.LittleEndian.Uint64(b[:8])^0xa0761d6478bd642f, binary.LittleEndian.Uint64(b[8:])^0xe7037ed1a0b428db) * 0x9e3779b97f4a7c15
}

// mum multiplies x by y into 128 bits and folds the halves together.
func mum(x, y uint64) uint64 {
	hi, lo := bits.Mul64(x, y)
	return hi ^ lo
}

// mix is SplitMix64's finalizer: a fast bijection with good avalanche.
func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}
