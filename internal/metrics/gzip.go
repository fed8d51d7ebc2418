package metrics

import (
	"encoding/binary"
	"hash/crc32"
	"io"
	"slices"
	"sync"
)

// A gzip scrape of a big pool is mostly the same text as the scrape before:
// members that had no traffic print the same lines. The exposition keeps
// those lines compressed, a block of members and one family at a time
// (chunks), and splices the compressed bytes into the next scrape's stream
// instead of writing and compressing the text again. A deflate stream may be
// cut into pieces that each start afresh and end on a byte boundary (a sync
// flush), so pieces compressed at different times concatenate into one
// valid stream; the gzip trailer's CRC-32 of the whole text is combined from
// the pieces' CRCs.

// chunk is a piece of the exposition's text kept compressed: deflate blocks
// that start with an empty dictionary and end with a sync flush.
type chunk struct {
	deflate []byte
	crc     uint32 // CRC-32 of the text
	n       int    // length of the text
	shift   uint32 // x^(8n) mod P, to combine CRCs past the text (crc32Combine)
}

// gzipStream writes one gzip member (RFC 1952) to w from plain text and
// chunks in any order.
type gzipStream struct {
	w   io.Writer
	d   lineDeflater // the open piece's compressor (deflate.go)
	crc uint32
	n   int
	err error
}

// gzipHeader is a gzip member header: deflate, no name, no time, unknown OS.
var gzipHeader = []byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255}

// gzipFlushAt is how many compressed bytes the stream holds before it
// writes them out.
const gzipFlushAt = 64 << 10

func (g *gzipStream) reset(w io.Writer) {
	g.w, g.crc, g.n, g.err = w, 0, 0, nil
	g.d.out = append(g.d.out[:0], gzipHeader...)
}

func (g *gzipStream) write(b []byte) {
	if g.err == nil {
		_, g.err = g.w.Write(b)
	}
}

// flush writes out the compressed bytes the stream holds.
func (g *gzipStream) flush() {
	if len(g.d.out) > 0 {
		g.write(g.d.out)
		g.d.out = g.d.out[:0]
	}
}

// Write compresses plain text into the open piece, opening one if needed.
func (g *gzipStream) Write(b []byte) (int, error) {
	if g.err != nil {
		return 0, g.err
	}
	g.crc = crc32.Update(g.crc, crc32.IEEETable, b)
	g.n += len(b)
	g.d.write(b)
	if len(g.d.out) >= gzipFlushAt {
		g.flush()
	}
	return len(b), g.err
}

// closePiece ends the open piece on a byte boundary.
func (g *gzipStream) closePiece() {
	g.d.end()
}

// chunk splices a compressed chunk into the stream.
func (g *gzipStream) chunk(c *chunk) {
	g.closePiece()
	g.flush()
	g.write(c.deflate)
	g.crc = crc32Combine(g.crc, c.crc, c.shift)
	g.n += c.n
}

// makeChunk compresses text with d into c.
func (d *lineDeflater) makeChunk(c *chunk, text []byte) {
	d.out = d.out[:0]
	d.write(text)
	d.end()
	d.chunkOf(c, text)
}

// chunkOf makes c the chunk of text that d's output holds.
func (d *lineDeflater) chunkOf(c *chunk, text []byte) {
	*c = chunk{deflate: append(c.deflate[:0], d.out...), crc: crc32.ChecksumIEEE(text), n: len(text), shift: crc32Shift(len(text))}
}

// close ends the deflate stream with a final block and writes the trailer.
func (g *gzipStream) close() error {
	g.closePiece()
	// A final block with no data: BFINAL 1, BTYPE 01 (fixed codes), end of
	// block.
	g.d.out = append(g.d.out, 3, 0)
	g.d.out = binary.LittleEndian.AppendUint32(g.d.out, g.crc)
	g.d.out = binary.LittleEndian.AppendUint32(g.d.out, uint32(g.n))
	g.flush()
	return g.err
}

// CRC-32 combination (the algorithm of zlib's crc32_combine): the CRC of
// A followed by B is the CRC of A "multiplied" by x^(8·len(B)) modulo the
// CRC polynomial, xor the CRC of B, in the reflected bit order CRC-32 uses.

const crcPoly = 0xedb88320 // IEEE, reflected

// crcPow2 holds x^(2^k) mod P for k = 0..31.
var crcPow2 = func() (t [32]uint32) {
	p := uint32(1) << 30 // x^1
	for k := range t {
		t[k] = p
		p = crcMul(p, p)
	}
	return t
}()

// crcMul multiplies a and b modulo P.
func crcMul(a, b uint32) uint32 {
	if a == 0 {
		return 0
	}
	m := uint32(1) << 31
	p := uint32(0)
	for {
		if a&m != 0 {
			p ^= b
			if a&(m-1) == 0 {
				return p
			}
		}
		m >>= 1
		if b&1 != 0 {
			b = b>>1 ^ crcPoly
		} else {
			b >>= 1
		}
	}
}

// crc32Shift is x^(8n) mod P: what a CRC is multiplied by to move it past
// n bytes.
func crc32Shift(n int) uint32 {
	p := uint32(1) << 31 // x^0
	k := 3               // 8n = n << 3
	for n > 0 {
		if n&1 != 0 {
			p = crcMul(crcPow2[k&31], p)
		}
		n >>= 1
		k++
	}
	return p
}

// crc32Combine is the CRC-32 of A followed by B, from A's and B's CRCs and
// crc32Shift(len(B)).
func crc32Combine(crcA, crcB, shiftB uint32) uint32 {
	return crcMul(shiftB, crcA) ^ crcB
}

// blockCache keeps, per block of a pool's members, what they printed at the
// last gzip scrape and the chunks that hold it. Blocks that a scrape did
// not use are dropped after it. A block whose members changed is written
// again, but each of its families is written and compressed again only if
// its values changed (memberFamily.same): under traffic a member's
// counters move, its status, weight, error counters and info do not.
type blockCache struct {
	mu     sync.Mutex
	blocks map[blockKey]*cachedBlock
	scrape uint64
	// reused and made count the blocks of the scrapes since the last
	// commit; last holds them as of that commit.
	reused, made int
	// spliced counts the families of changed blocks whose text had not
	// changed, their chunks spliced in again.
	spliced int
	last    struct{ reused, made, spliced int }
	// inflight counts the gzip scrapes under way (begin to end). The
	// blocks a commit replaces while no other scrape is under way are
	// referred to by nothing any more: their views and the chunks the new
	// blocks did not splice again serve the next scrape's new blocks
	// (spare) instead of becoming garbage, which under traffic was most
	// of what a scrape allocated (12.6 MB at 10,000 members).
	inflight int
	spare    struct {
		views  [][]memberView
		chunks [][]*chunk // by family
		blocks []*cachedBlock
	}
}

// begin notes a gzip scrape under way, until end.
func (bc *blockCache) begin() {
	bc.mu.Lock()
	bc.inflight++
	bc.mu.Unlock()
}

func (bc *blockCache) end() {
	bc.mu.Lock()
	bc.inflight--
	bc.mu.Unlock()
}

// spareViews returns a spare slice for a block's views, or nil.
func (bc *blockCache) spareViews() []memberView {
	bc.mu.Lock()
	defer bc.mu.Unlock()
	n := len(bc.spare.views)
	if n == 0 {
		return nil
	}
	s := bc.spare.views[n-1]
	bc.spare.views[n-1] = nil
	bc.spare.views = bc.spare.views[:n-1]
	return s[:0]
}

// newChunk returns a chunk for a new block's family i to fill: a spare
// one, whose buffer most likely fits, if there is one.
func (bc *blockCache) newChunk(i int) *chunk {
	bc.mu.Lock()
	defer bc.mu.Unlock()
	if i < len(bc.spare.chunks) {
		if s := bc.spare.chunks[i]; len(s) > 0 {
			c := s[len(s)-1]
			s[len(s)-1] = nil
			bc.spare.chunks[i] = s[:len(s)-1]
			return c
		}
	}
	return &chunk{}
}

// newBlock returns a block for views and n families' chunks: a spare one
// (its slice of chunks and its buffers of the members' volatile series,
// lastChange) if there is one.
func (bc *blockCache) newBlock(views []memberView, n int) *cachedBlock {
	var b *cachedBlock
	bc.mu.Lock()
	if k := len(bc.spare.blocks); k > 0 {
		b = bc.spare.blocks[k-1]
		bc.spare.blocks[k-1] = nil
		bc.spare.blocks = bc.spare.blocks[:k-1]
	}
	bc.mu.Unlock()
	if b == nil {
		b = &cachedBlock{}
	}
	b.views = views
	if cap(b.chunks) < n {
		b.chunks = make([]*chunk, n)
	}
	b.chunks = b.chunks[:n]
	if cap(b.lastChange) < len(views) {
		b.lastChange = append(b.lastChange[:cap(b.lastChange)], make([][]byte, len(views)-cap(b.lastChange))...)
	}
	b.lastChange = b.lastChange[:len(views)]
	return b
}

// recycle makes what old, replaced by b, holds that b does not spare.
func (bc *blockCache) recycle(old, b *cachedBlock) {
	bc.spare.views = append(bc.spare.views, old.views)
	if len(bc.spare.chunks) < len(old.chunks) {
		bc.spare.chunks = append(bc.spare.chunks, make([][]*chunk, len(old.chunks)-len(bc.spare.chunks))...)
	}
	for i, c := range old.chunks {
		if c != nil && b.chunks[i] != c {
			bc.spare.chunks[i] = append(bc.spare.chunks[i], c)
		}
	}
	clear(old.chunks)
	*old = cachedBlock{chunks: old.chunks, lastChange: old.lastChange}
	bc.spare.blocks = append(bc.spare.blocks, old)
}

// blockKey names a block: the pool label (pool and listener) and the
// block's number in the pool.
type blockKey struct {
	pool  string
	block int
}

// cachedBlock is one block's views and chunks (indexed by family); both
// are immutable once the block is in the cache.
type cachedBlock struct {
	views  []memberView
	chunks []*chunk
	labels *memberLabels // the members' label pairs (exposition.blockLabels)
	used   uint64
	// lastChange holds each member's volatile series up to its value.
	lastChange [][]byte
}

// madeBlock is a block a scrape compressed, for the cache once written.
type madeBlock struct {
	key blockKey
	b   *cachedBlock
}

// get returns block k as the last scrape left it (nil if none) and
// whether its members print what views say.
func (bc *blockCache) get(k blockKey, views []memberView) (b *cachedBlock, same bool) {
	bc.mu.Lock()
	b = bc.blocks[k]
	bc.mu.Unlock()
	if b == nil || !slices.Equal(b.views, views) {
		return b, false
	}
	bc.mu.Lock()
	b.used = bc.scrape
	bc.reused++
	bc.mu.Unlock()
	return b, true
}

// commit adds the blocks a scrape made, now that their chunks are written,
// and drops those no scrape used since the last commit; spliced is the
// scrape's count of families spliced into blocks it made.
func (bc *blockCache) commit(made []madeBlock, spliced int) {
	bc.mu.Lock()
	defer bc.mu.Unlock()
	if bc.blocks == nil {
		bc.blocks = map[blockKey]*cachedBlock{}
	}
	alone := bc.inflight == 1
	if alone { // what the scrape before left spare goes; this one's replaces it
		clear(bc.spare.views)
		bc.spare.views = bc.spare.views[:0]
		for i := range bc.spare.chunks {
			clear(bc.spare.chunks[i])
			bc.spare.chunks[i] = bc.spare.chunks[i][:0]
		}
		clear(bc.spare.blocks)
		bc.spare.blocks = bc.spare.blocks[:0]
	}
	for _, m := range made {
		if old := bc.blocks[m.key]; alone && old != nil && old != m.b {
			bc.recycle(old, m.b)
		}
		m.b.used = bc.scrape
		bc.blocks[m.key] = m.b
	}
	for k, b := range bc.blocks {
		if b.used < bc.scrape {
			delete(bc.blocks, k)
		}
	}
	bc.made += len(made)
	bc.spliced += spliced
	bc.last.reused, bc.last.made, bc.last.spliced = bc.reused, bc.made, bc.spliced
	bc.reused, bc.made, bc.spliced = 0, 0, 0
	bc.scrape++
}
