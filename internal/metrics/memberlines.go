package metrics

// A member's series are written with its label pairs written once for
// the block of members it is in (blockLabels), and, in a gzip scrape,
// coded as they are written, knowing where each line has its member's ID
// and its value (memberLine).

// memberLabels are the label pairs of a block's members' series, member
// and pool, as appendLabels writes them for a family labelled pool and
// member: written once a member and reused for each of its series
// (labelled), instead of escaping the same two values again for every
// line. In a gzip scrape they also hold each member's ID coded as deflate
// literals (ids, in idWords), and a block kept compressed keeps them for
// the next scrape that writes it again with the same members (they are
// then immutable).
type memberLabels struct {
	pairs   []byte
	ends    []int // where each member's pairs end
	idLens  []int
	ids     []codedID
	idWords []uint64
}

// blockLabels writes the label pairs of a block of members into l, for
// memberAt.
func (x *exposition) blockLabels(pool string, views []memberView, l *memberLabels) {
	*l = memberLabels{pairs: l.pairs[:0], ends: l.ends[:0], idLens: l.idLens[:0], ids: l.ids[:0], idWords: l.idWords[:0]}
	for i := range views {
		start := len(l.pairs)
		l.pairs = appendLabel(l.pairs, "member", views[i].id)
		idLen := len(l.pairs) - start - len(`member=""`)
		l.pairs = append(l.pairs, ',')
		l.pairs = appendLabel(l.pairs, "pool", pool)
		l.ends = append(l.ends, len(l.pairs))
		l.idLens = append(l.idLens, idLen)
		if x.cache != nil {
			off := len(l.idWords)
			var n int
			l.idWords, n = appendLiterals(l.idWords, l.pairs[start+len(`member="`):][:idLen])
			l.ids = append(l.ids, codedID{int32(off), uint32(n)})
		}
	}
	x.useLabels(pool, l)
}

// useLabels makes l, written by blockLabels, the labels of the block being
// written.
func (x *exposition) useLabels(pool string, l *memberLabels) {
	x.pool, x.blk = pool, l
}

// memberAt makes member i of the block being written the one being
// written, and returns its label pairs.
func (x *exposition) memberAt(i int) []byte {
	l := x.blk
	x.idLen, x.curID = l.idLens[i], int32(i)
	start := 0
	if i > 0 {
		start = l.ends[i-1]
	}
	return l.pairs[start:l.ends[i]]
}

// codeLines starts coding family f's lines of the block being written as
// they are written (memberLine), in a gzip scrape; endLines ends it.
func (x *exposition) codeLines(f *family) {
	if x.cache == nil {
		return
	}
	x.codeFam, x.codeFrom, x.codeBefore = f.id, len(x.samples[f.id]), x.lines[f.id]
	x.run.has, x.run.n = 0, 0
	x.store.drop()
}

// endLines makes the chunk of the lines of family f coded since
// codeLines, in place of their text, for b's chunks. If the run is not
// all of the family's text since mark (a line was written that was not
// coded), it leaves that text to keep instead.
func (x *exposition) endLines(f *family, chunks []*chunk) {
	if x.codeFam != f.id {
		return
	}
	x.codeFam = -1
	i, from := f.id, x.codeFrom
	if x.run.n == 0 || x.run.n != x.lines[i]-x.codeBefore || from != x.marks[i] || f.volatile {
		x.store.drop()
		return
	}
	x.store.end()
	x.cut(i, from)
	c := x.cache.newChunk(i)
	x.store.chunkOf(c, x.samples[i][from:])
	chunks[i] = c
	x.parts[i] = append(x.parts[i], part{chunk: c})
	x.samples[i] = x.samples[i][:from]
}

// memberLine codes the line of a member's series just written to f (from
// start, its value from value) in a gzip scrape; head is the length of
// the line before the member's label pairs.
func (x *exposition) memberLine(f *family, start, value, head int, kind uint8) {
	if x.codeFam != f.id {
		return
	}
	idStart := start + head + len(`member="`)
	x.store.codeLine(x.samples[f.id], start, idStart, idStart+x.idLen, value, kind, x.curID, &x.run, x.blk)
}

// memberText writes one line of a member's series of f: head (f's name,
// its suffix, '{' and the label pairs that sort before the member's, a
// comma after them: family.open, lineHeads), the member's label pairs
// (memberAt's), tail (pairs that sort after them, a comma before them,
// then "} ": labelPairs(..., closeLabels)) and the value; and codes it in
// a gzip scrape. kind tells the member's lines of f apart (lineAt). The
// text around the member's pairs comes written once, not escaped or put
// together again for every line.
func (x *exposition) memberText(f *family, head string, labels []byte, tail string, v float64, kind uint8) {
	x.lines[f.id]++
	b := x.samples[f.id]
	start := len(b)
	b = append(b, head...)
	b = append(b, labels...)
	b = append(b, tail...)
	value := len(b)
	b = appendValue(b, v)
	x.samples[f.id] = append(b, '\n')
	x.memberLine(f, start, value, len(head), kind)
}

// closeLabels ends a line's labels, before its value.
const closeLabels = "} "

// labelPairs is the label pair name="value" of each of values, escaped,
// with before and after around it: the pairs memberText writes around a
// member's.
func labelPairs(before, name string, values []string, after string) []string {
	pairs := make([]string, len(values))
	for i, v := range values {
		pairs[i] = before + string(appendLabel(nil, name, v)) + after
	}
	return pairs
}

// labelled writes one series of a family labelled pool and member with
// the labels memberAt returned.
func (x *exposition) labelled(f *family, v float64, labels []byte) {
	x.memberText(f, f.open[0], labels, closeLabels, v, 0)
}

// labelledBefore writes one series of a family labelled pool, member and
// one more label that sorts before them (a response's code), with the
// labels memberAt returned; head is the line up to the member's pairs
// (lineHeads), kind tells the member's lines apart.
func (x *exposition) labelledBefore(f *family, v float64, head string, labels []byte, kind uint8) {
	x.memberText(f, head, labels, closeLabels, v, kind)
}

// stateLabelled is state for a family labelled pool, member and state,
// with the labels memberAt returned; pairs are the states' label pairs, a
// comma before each (labelPairs).
func (x *exposition) stateLabelled(f *family, states, pairs []string, current string, labels []byte) {
	for i, s := range states {
		v := 0.0
		if s == current {
			v = 1
		}
		x.memberText(f, f.open[0], labels, pairs[i], v, uint8(i))
	}
}

// histogramLabelled is histogramOf for a family labelled pool and member,
// with the labels memberAt returned.
func (x *exposition) histogramLabelled(f *family, cum []uint64, count uint64, sum float64, labels []byte) {
	for i, n := range cum {
		x.memberText(f, f.open[1], labels, x.lePairs[i], float64(n), uint8(i))
	}
	x.memberText(f, f.open[1], labels, infPair, float64(count), uint8(len(cum)))
	x.memberText(f, f.open[2], labels, closeLabels, sum, uint8(len(cum)+1))
	x.memberText(f, f.open[3], labels, closeLabels, float64(count), uint8(len(cum)+2))
}

// infPair is the +Inf bucket's label pair after a member's, and
// closeLabels.
const infPair = `,le="+Inf"` + closeLabels

// lineHeads are the starts of f's lines with a label pair name="value"
// for each of values before the member's: f's name, '{', the pair and a
// comma.
func lineHeads(f *family, name string, values []string) []string {
	return labelPairs(f.open[0], name, values, ",")
}
