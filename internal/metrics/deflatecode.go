package metrics

import "math/bits"

// codeBits is a code and its extra bits, in the order deflate writes them.
type codeBits struct {
	bits uint32
	n    uint8
}

// distCode is the code of a distance (1..maxDist) and its extra bits.
func distCode(dist int) codeBits {
	d1 := uint32(dist - 1)
	code, extra, nextra := d1, uint32(0), uint(0)
	if d1 >= 4 {
		nextra = uint(bits.Len32(d1)) - 2
		code = 2*uint32(nextra) + 2 + (d1>>nextra)&1
		extra = d1 & (1<<nextra - 1)
	}
	c := deflateTable.dist[code]
	return codeBits{c.bits | extra<<c.n, c.n + uint8(nextra)}
}

// deflateTable is lineDeflater's code, the same for every block, and the
// block header that sends it.
var deflateTable = newDeflateCode()

type deflateCode struct {
	lit    [257]uint16 // literals and end of block, bit-reversed
	litLen [257]uint8
	length [maxMatch + 1]codeBits // a match length's code and extra bits
	dist   [30]codeBits
	// header is a dynamic block's header, 32 bits a word, then
	// headerTailBits more.
	header         []uint32
	headerTail     uint32
	headerTailBits uint
}

// hotBytes are the bytes left as literals in the exposition's lines:
// member IDs (UUIDs: hex digits and '-'), values and line ends.
const hotBytes = "0123456789abcdef-\n.\""

func newDeflateCode() *deflateCode {
	// Code lengths: Kraft's sum is exactly 1 (in 2048ths: 20 × 64 for the
	// hot bytes, 29 × 16 for the lengths, 67 × 2 + 170 × 1 for the other
	// bytes and the end of block), as inflaters want a complete code.
	var litLen [286]uint8
	for i := range 257 {
		litLen[i] = 11
	}
	for _, c := range []byte(hotBytes) {
		litLen[c] = 5
	}
	ten := 67
	for c := 0x20; c < 0x7f && ten > 0; c++ { // other printable bytes first
		if litLen[c] == 11 {
			litLen[c] = 10
			ten--
		}
	}
	for i := 257; i < 286; i++ {
		litLen[i] = 7
	}
	var distLen [30]uint8
	for i := range distLen {
		distLen[i] = 5
	}
	distLen[14], distLen[15] = 4, 4 // distances 129-256: a line up

	t := &deflateCode{}
	litCodes := canonicalCodes(litLen[:])
	for i := range 257 {
		t.lit[i], t.litLen[i] = uint16(litCodes[i]), litLen[i]
	}
	// Length codes 257..285: base lengths and extra bits (RFC 1951 3.2.5).
	base, extra := 3, uint8(0)
	for code := 257; code < 285; code++ {
		if code >= 265 && (code-265)%4 == 0 {
			extra++
		}
		for e := range 1 << extra {
			if base+e <= maxMatch {
				t.length[base+e] = codeBits{litCodes[code] | uint32(e)<<litLen[code], litLen[code] + extra}
			}
		}
		base += 1 << extra
	}
	t.length[maxMatch] = codeBits{litCodes[285], litLen[285]}
	for i, c := range canonicalCodes(distLen[:]) {
		t.dist[i] = codeBits{c, distLen[i]}
	}

	// The header: BFINAL 0, BTYPE 10, HLIT, HDIST, HCLEN, the code length
	// code's lengths, then the code lengths coded with it (16: repeat the
	// last length 3 to 6 times).
	var w bitList
	w.put(0, 1)
	w.put(2, 2)
	w.put(286-257, 5)
	w.put(30-1, 5)
	w.put(19-4, 4)
	// The code length code: 2 bits for 16 and 11, 3 for 4, 5, 7 and 10.
	var clLen [19]uint8
	clLen[16], clLen[11] = 2, 2
	clLen[4], clLen[5], clLen[7], clLen[10] = 3, 3, 3, 3
	clCodes := canonicalCodes(clLen[:])
	for _, s := range [19]int{16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15} {
		w.put(uint32(clLen[s]), 3)
	}
	for _, lengths := range [][]uint8{litLen[:], distLen[:]} {
		for i := 0; i < len(lengths); {
			l := lengths[i]
			run := 1
			for i+run < len(lengths) && lengths[i+run] == l {
				run++
			}
			i += run
			w.put(clCodes[l], uint(clLen[l]))
			for rest := run - 1; rest > 0; {
				if rest < 3 {
					w.put(clCodes[l], uint(clLen[l]))
					rest--
					continue
				}
				r := min(rest, 6)
				w.put(clCodes[16]|uint32(r-3)<<clLen[16], uint(clLen[16])+2)
				rest -= r
			}
		}
	}
	t.header, t.headerTail, t.headerTailBits = w.words, uint32(w.acc), w.n
	return t
}

// bitList collects bits, first in the lowest, 32 a word.
type bitList struct {
	words []uint32
	acc   uint64
	n     uint
}

func (w *bitList) put(v uint32, n uint) {
	w.acc |= uint64(v) << w.n
	w.n += n
	if w.n >= 32 {
		w.words = append(w.words, uint32(w.acc))
		w.acc >>= 32
		w.n -= 32
	}
}

// canonicalCodes are the codes of a canonical Huffman code with these
// lengths (RFC 1951 3.2.2), bit-reversed to be written first bit lowest.
func canonicalCodes(lengths []uint8) []uint32 {
	var count [16]int
	for _, l := range lengths {
		if l > 0 {
			count[l]++
		}
	}
	var next [16]uint32
	code := uint32(0)
	for l := 1; l < 16; l++ {
		code = (code + uint32(count[l-1])) << 1
		next[l] = code
	}
	codes := make([]uint32, len(lengths))
	for i, l := range lengths {
		if l > 0 {
			codes[i] = bits.Reverse32(next[l]) >> (32 - l)
			next[l]++
		}
	}
	return codes
}
