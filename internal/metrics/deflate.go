package metrics

import (
	"bytes"
	"encoding/binary"
	"math/bits"
)

// lineDeflater compresses the exposition's text into deflate blocks
// (RFC 1951) knowing how that text is made: lines that repeat a line a few
// lines up but for a member's ID and a value. Two series of one family
// differ only there, so a line is, nearly always, a back-reference to the
// line above it resembles most up to the ID, the ID as literals, a
// back-reference for the labels after it and the value as literals. It
// looks for matches only at the same column of three lines above (the one
// with the longest common start, the one with the longest common end and
// the one just above with its labels lined up on the '{'): no hash table,
// no search. It codes with a Huffman table of its own, made for this text
// (hex digits, digits, '-', '.', '"' and '\n' in 5 bits) and the same in
// every block, so no block is counted before it is coded.
//
// compress/flate at BestSpeed hashes every position and builds a table
// per block (a chunk of 64 members' series of one family): on exposition
// text it costs 2.3 times the CPU of write (BenchmarkDeflate), and more
// than that of codeLine, which does not search at all, for a stream
// about 0.7 times the size (6.01 MB against 8.28 for a busy scrape of
// 10,000 members); klauspost/compress at level 1 was only about 15 %
// cheaper than compress/flate (docs/performance.md, "Scrapes.").
//
// It writes plain bytes anywhere (a line that resembles nothing is
// literals), so its output is valid deflate for any text; it is only good
// at the exposition's.
type lineDeflater struct {
	out   []byte
	acc   uint64 // bits not yet in out, the first in the lowest bits
	nacc  uint
	block bool // a block is open
}

// How many lines up a line may look for lines it resembles: a histogram's
// member repeats its _bucket, _sum and _count lines three lines down, a
// state family's every state (there are 5) one line down for the member's
// labels and five lines down for the state's.
const lineRefs = 6

// The longest match deflate codes, and the farthest back.
const (
	maxMatch = 258
	maxDist  = 32768
)

func (d *lineDeflater) put(v uint64, n uint) {
	d.acc |= v << d.nacc
	d.nacc += n
	if d.nacc >= 32 {
		d.out = binary.LittleEndian.AppendUint32(d.out, uint32(d.acc))
		d.acc >>= 32
		d.nacc -= 32
	}
}

// begin opens a block: its header and code table.
func (d *lineDeflater) begin() {
	if d.block {
		return
	}
	d.block = true
	for _, w := range deflateTable.header {
		d.put(uint64(w), 32)
	}
	d.put(uint64(deflateTable.headerTail), deflateTable.headerTailBits)
}

// end closes the open block and aligns the stream on a byte with an empty
// stored block (a sync flush), so that what follows may be another
// piece's deflate data. out then holds every bit written.
func (d *lineDeflater) end() {
	if !d.block {
		return
	}
	d.block = false
	d.put(uint64(deflateTable.lit[256]), uint(deflateTable.litLen[256]))
	d.put(0, 3) // BFINAL 0, BTYPE 00: stored
	for d.nacc > 0 {
		d.out = append(d.out, byte(d.acc))
		d.acc >>= 8
		d.nacc -= min(d.nacc, 8)
	}
	d.acc = 0
	d.out = append(d.out, 0, 0, 0xff, 0xff)
}

// write codes b into the open block (opening one if none is). Matches
// refer only to b itself.
func (d *lineDeflater) write(b []byte) {
	d.begin()
	var starts [lineRefs]int
	lines := 0
	brace := -1 // where the line above's labels start ('{'), -1 if none
	for s := 0; s < len(b); {
		e := bytes.IndexByte(b[s:], '\n')
		if e < 0 {
			e = len(b)
		} else {
			e += s + 1
		}
		// The lines whose bytes the line's matches refer to, at the same
		// distance all along: the line above with the longest common
		// start (same name, same member), the one with the longest
		// common end (same labels but the member, same value), and the
		// line just above with the labels lined up (another series of
		// the same member: a histogram's _bucket, _sum and _count).
		var refs [3]lineRef
		nrefs := 0
		best, bestEnd := -1, -1
		var p, q int // their distances
		lineEnd := s // where the line below k starts
		for k := 1; k <= min(lines, lineRefs); k++ {
			r := starts[(lines-k)%lineRefs]
			if s-r > maxDist {
				break
			}
			if n := longerPrefix(b, s, r, e, best); n > best {
				p, best = s-r, n
			}
			if n := longerSuffix(b, e, lineEnd, s, bestEnd); n > bestEnd {
				q, bestEnd = e-lineEnd, n
			}
			lineEnd = r
		}
		if p != 0 {
			refs[0] = lineRef{dist: p}
			nrefs = 1
			if q != p && q <= s {
				refs[1] = lineRef{dist: q}
				nrefs = 2
			}
		}
		bc := bytes.IndexByte(b[s:e], '{')
		if bc >= 0 && brace >= 0 {
			if dist := s + bc - brace; dist != p && dist != q && dist <= s && dist <= maxDist {
				refs[nrefs] = lineRef{dist: dist}
				nrefs++
			}
		}
		if bc >= 0 {
			brace = s + bc
		} else {
			brace = -1
		}
		d.line(b, s, e, refs[:nrefs], best)
		starts[lines%lineRefs] = s
		lines++
		s = e
	}
}

// lineRef is how far back a line's matches refer, and the distance's code
// once needed.
type lineRef struct {
	dist int
	code codeBits
}

// commonPrefix is how many bytes b[i:end] and b[j:] have in common at
// their start (j < i).
func commonPrefix(b []byte, i, j, end int) int {
	n := 0
	for i+n+8 <= end {
		if x := binary.LittleEndian.Uint64(b[i+n:]) ^ binary.LittleEndian.Uint64(b[j+n:]); x != 0 {
			return n + bits.TrailingZeros64(x)/8
		}
		n += 8
	}
	for i+n < end && b[i+n] == b[j+n] {
		n++
	}
	return n
}

// longerPrefix is commonPrefix(b, i, j, end) if it is more than best, and
// -1 otherwise; a look at 8 bytes rules most out.
func longerPrefix(b []byte, i, j, end, best int) int {
	if best >= 0 {
		if i+best >= end {
			return -1
		}
		if o := best - 7; o >= 0 && binary.LittleEndian.Uint64(b[i+o:]) != binary.LittleEndian.Uint64(b[j+o:]) {
			return -1
		}
	}
	if n := commonPrefix(b, i, j, end); n > best {
		return n
	}
	return -1
}

// longerSuffix is how many bytes b[lo:e] and b[:f] have in common at their
// end (f < e) if that is more than best, and -1 otherwise.
func longerSuffix(b []byte, e, f, lo, best int) int {
	lo = max(lo, e-f) // and no further back than b's start
	if best >= 0 {
		if e-best-1 < lo {
			return -1
		}
		if o := e - best - 1; best >= 7 && binary.LittleEndian.Uint64(b[o:]) != binary.LittleEndian.Uint64(b[o-(e-f):]) {
			return -1
		}
	}
	n := 0
	for e-n-8 >= lo {
		if x := binary.LittleEndian.Uint64(b[e-n-8:]) ^ binary.LittleEndian.Uint64(b[f-n-8:]); x != 0 {
			n += bits.LeadingZeros64(x) / 8
			if n > best {
				return n
			}
			return -1
		}
		n += 8
	}
	for e-n-1 >= lo && b[e-n-1] == b[f-n-1] {
		n++
	}
	if n > best {
		return n
	}
	return -1
}

// line codes b[s:e], one line, as literals and matches refs' distances
// back (the first preferred); its first start bytes are the first ref's.
func (d *lineDeflater) line(b []byte, s, e int, refs []lineRef, start int) {
	lit := s // the literals not yet written start here
	i := s
	if len(refs) == 0 {
		i = e
	} else if start >= 4 {
		refs[0].code = distCode(refs[0].dist)
		d.match(start, refs[0].code)
		i += start
		lit = i
	}
	for e-i >= 4 { // a match is 4 bytes or more
		at := 8 // where from i the next match starts, or how far none can
		if i+8 > len(b) {
			// The last bytes of b: a match here, or a byte further.
			at = 1
			for _, r := range refs {
				if binary.LittleEndian.Uint32(b[i:]) == binary.LittleEndian.Uint32(b[i-r.dist:]) {
					at = 0
					break
				}
			}
		} else {
			w := binary.LittleEndian.Uint64(b[i:])
			for _, r := range refs {
				if at = min(at, matchAt(w^binary.LittleEndian.Uint64(b[i-r.dist:]))); at == 0 {
					break
				}
			}
		}
		if at > 0 {
			i += at
			continue
		}
		// A match at i: the longest of the refs', as long as the line
		// lets it.
		end := min(e, i+maxMatch)
		k, n := -1, 3
		for j := range refs {
			if m := longerPrefix(b, i, i-refs[j].dist, end, n); m > n {
				k, n = j, m
			}
		}
		r := &refs[k]
		if r.code.n == 0 {
			r.code = distCode(r.dist)
		}
		d.literals(b[lit:i])
		d.match(n, r.code)
		i += n
		lit = i
	}
	d.literals(b[lit:e])
}

// matchAt is where, in 8 bytes whose xor with those a line above is x, 4
// equal bytes in a row start: 0 to 4, or how far no match can start.
func matchAt(x uint64) int {
	if x&0xffffffff == 0 {
		return 0
	}
	z := zeroBytes(x)
	if four := z & (z >> 8) & (z >> 16) & (z >> 24); four != 0 {
		return bits.TrailingZeros64(four) / 8
	}
	// None: the equal bytes at the top of the word may start one.
	return 8 - bits.LeadingZeros64(x)/8
}

// lineAt is where, in its family's buffer, a line of a member's series
// starts and ends, and its member's ID and its value. Two lines of one
// family and kind (a histogram's bucket, a state, a code: what the line
// says besides the member and its value) in one block differ only in the
// ID and the value.
type lineAt struct {
	start, idStart, idEnd, valStart, end int32
}

// set makes l the line from s to e. It stores field by field: a lineAt
// literal is made on the stack 4 bytes at a time and copied 16 at a time,
// which stalls the copy (store forwarding), a tenth of codeLine's time.
func (l *lineAt) set(s, idS, idE, vs, e int) {
	l.start, l.idStart, l.idEnd, l.valStart, l.end = int32(s), int32(idS), int32(idE), int32(vs), int32(e)
}

// lineRun is what codeLine keeps of the lines it coded in one run, one
// family's lines of a block: the last line of each kind, and the member
// and ID of the line before.
type lineRun struct {
	last        [64]lineAt
	has         uint64 // bit k: last[k] holds a line
	prevID      int32  // the member of the line before (n > 0)
	prevIDStart int32  // where its ID starts
	n           int    // lines coded
	// dist holds, by kind, the distance to the line of the same kind
	// above last coded and its code, and the match up to the ID (head
	// bytes that distance back) coded: mostly the next line's too.
	dist [64]struct {
		d, head   int32
		code      codeBits
		headMatch uint64
		headBits  uint8
	}
}

// codeLine codes the line of b (a family's buffer) from s to its end, a
// member's series whose ID is b[idS:idE] and value b[vs:], into the open
// block (opening one if none is), as it is written and without looking
// for matches: the line of the same kind of the member before (the same
// bytes but the ID and the value, by how the exposition writes them) up
// to the ID, the ID (from the member's line above, or its literals, coded
// once a member: l.ids[id]), the same line again up to the value, and the
// value as literals, or as part of the match if it is the same. The first
// line of each kind is literals. Its arguments are scalars, not a lineAt
// written just before: reading a struct stored field by field a moment
// earlier stalls (store forwarding), and this runs for every line.
func (d *lineDeflater) codeLine(b []byte, s, idS, idE, vs int, kind uint8, id int32, r *lineRun, l *memberLabels) {
	if !d.block {
		d.begin()
	}
	e := len(b)
	first := r.n == 0
	prevID, prevIDStart := r.prevID, int(r.prevIDStart)
	r.prevID, r.prevIDStart = id, int32(idS)
	r.n++
	k := uint(kind)
	if k >= uint(len(r.last)) {
		d.literals(b[s:e])
		return
	}
	p := &r.last[k]
	if r.has&(1<<k) == 0 || s-int(p.start) > maxDist {
		d.literals(b[s:e])
		p.set(s, idS, idE, vs, e)
		r.has |= 1 << k
		return
	}
	rs, re := int(p.start), int(p.end)
	rIDS, rIDE, rvs := int(p.idStart), int(p.idEnd), int(p.valStart)
	p.set(s, idS, idE, vs, e)
	if idS-s != rIDS-rs || vs-idE != rvs-rIDE || idE-rIDE > maxDist {
		d.literals(b[s:e]) // not the same kind of line after all
		return
	}
	dm := &r.dist[k]
	if int(dm.d) != s-rs || int(dm.head) != idS-s {
		dm.d, dm.code = int32(s-rs), distCode(s-rs)
		dm.head, dm.headBits = int32(idS-s), 0
		if n := idS - s; n >= 3 && n <= maxMatch {
			l := deflateTable.length[n]
			dm.headMatch = uint64(l.bits) | uint64(dm.code.bits)<<l.n
			dm.headBits = l.n + dm.code.n
		}
	}
	start := dm.code
	if dm.headBits != 0 {
		d.put(dm.headMatch, uint(dm.headBits))
	} else {
		d.match(idS-s, start)
	}
	if !first && prevID == id && idE-idS >= 3 && idS-prevIDStart <= maxDist {
		// The member's line above has the ID too.
		d.match(idE-idS, distCode(idS-prevIDStart))
	} else {
		c := l.ids[id]
		d.putBits(l.idWords[c.off:], uint(c.n))
	}
	after := start
	if idE-rIDE != s-rs {
		after = distCode(idE - rIDE)
	}
	if e-vs == re-rvs && bytes.Equal(b[vs:e], b[rvs:re]) {
		d.match(e-idE, after) // the same value too
	} else {
		d.match(vs-idE, after)
		d.literals(b[vs:e])
	}
}

// drop forgets what d coded since its output was last taken.
func (d *lineDeflater) drop() {
	*d = lineDeflater{out: d.out[:0]}
}

// putBits writes n bits from words, the first in the lowest.
func (d *lineDeflater) putBits(words []uint64, n uint) {
	// Whole words go out 8 bytes at a time: fewer than 32 bits wait in
	// acc between puts, so acc and a word make 64 bits to write and the
	// word's top nacc bits to keep.
	for ; n >= 64; n -= 64 {
		w := words[0]
		words = words[1:]
		d.out = binary.LittleEndian.AppendUint64(d.out, d.acc|w<<d.nacc)
		d.acc = 0
		if d.nacc > 0 {
			d.acc = w >> (64 - d.nacc)
		}
	}
	if n == 0 {
		return
	}
	w := words[0]
	if n > 32 {
		d.put(w&(1<<32-1), 32)
		w >>= 32
		n -= 32
	}
	d.put(w&(1<<n-1), n)
}

// appendLiterals appends text coded as literals to words (64 bits a word,
// the first in the lowest) and says how many bits that is.
func appendLiterals(words []uint64, text []byte) ([]uint64, int) {
	var acc uint64
	var n uint // bits in acc
	total := 0
	for _, c := range text {
		code, l := uint64(deflateTable.lit[c]), uint(deflateTable.litLen[c])
		acc |= code << n
		if n+l >= 64 {
			words = append(words, acc)
			acc = code >> (64 - n)
			n = n + l - 64
		} else {
			n += l
		}
		total += int(l)
	}
	if n > 0 {
		words = append(words, acc)
	}
	return words, total
}

// zeroBytes has the top bit of each byte of x that is zero set, and no
// other bit.
func zeroBytes(x uint64) uint64 {
	const lo7 = 0x7f7f7f7f7f7f7f7f
	t := (x & lo7) + lo7
	return ^(t | x | lo7)
}

func (d *lineDeflater) literals(b []byte) {
	acc, nacc := d.acc, d.nacc
	for _, c := range b {
		acc |= uint64(deflateTable.lit[c]) << nacc
		nacc += uint(deflateTable.litLen[c])
		if nacc >= 32 {
			d.out = binary.LittleEndian.AppendUint32(d.out, uint32(acc))
			acc >>= 32
			nacc -= 32
		}
	}
	d.acc, d.nacc = acc, nacc
}

// match codes a match of n bytes (n ≥ 3) dc's distance back, in pieces of
// at most maxMatch.
func (d *lineDeflater) match(n int, dc codeBits) {
	for n > 0 {
		m := n
		if m > maxMatch {
			m = maxMatch
			if n-m < 3 {
				m = n - 3
			}
		}
		l := deflateTable.length[m]
		d.put(uint64(l.bits)|uint64(dc.bits)<<l.n, uint(l.n)+uint(dc.n))
		n -= m
	}
}
