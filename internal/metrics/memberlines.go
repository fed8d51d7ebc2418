package metrics

// A member's series are written with its label pairs written once for
// the block of members it is in (blockLabels), and, in a gzip scrape,
// with a note of where each line has its member's ID and its value
// (memberLine), for the compressor.

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

// memberLine notes where the line of a member's series just written to f
// (from start, its value from value) has its ID, in a gzip scrape; pre is
// the length of the labels before the member's.
func (x *exposition) memberLine(f *family, start, value int, suffix string, pre int, kind uint8) {
	if x.cache == nil {
		return
	}
	idStart := start + len(f.name) + len(suffix) + 1 + pre + len(`member="`)
	x.toks[f.id] = append(x.toks[f.id], lineTok{
		start:    int32(start),
		idStart:  int32(idStart),
		idEnd:    int32(idStart + x.idLen),
		valStart: int32(value),
		id:       x.curID,
		kind:     kind,
	})
}

// labelled writes one series of a family labelled pool and member (and,
// if extra is not empty, one more label that sorts after them) with the
// labels memberAt returned.
func (x *exposition) labelled(f *family, v float64, labels []byte, extra, extraValue string) {
	start, value := x.line(f, "", labels, extra, extraValue, v)
	x.memberLine(f, start, value, "", 0, 0)
}

// labelledBefore writes one series of a family labelled pool, member and
// one more label that sorts before them (first, a response's code), with
// the labels memberAt returned.
// kind tells the lines of the member apart (lineTok).
func (x *exposition) labelledBefore(f *family, v float64, first, firstValue string, labels []byte, kind uint8) {
	x.labels = appendLabel(x.labels[:0], first, firstValue)
	x.labels = append(x.labels, ',')
	pre := len(x.labels)
	x.labels = append(x.labels, labels...)
	start, value := x.line(f, "", x.labels, "", "", v)
	x.memberLine(f, start, value, "", pre, kind)
}

// stateLabelled is state for a family labelled pool, member and state,
// with the labels memberAt returned.
func (x *exposition) stateLabelled(f *family, states []string, current string, labels []byte) {
	for i, s := range states {
		v := 0.0
		if s == current {
			v = 1
		}
		start, value := x.line(f, "", labels, "state", s, v)
		x.memberLine(f, start, value, "", 0, uint8(i))
	}
}

// histogramLabelled is histogramOf for a family labelled pool and member,
// with the labels memberAt returned.
func (x *exposition) histogramLabelled(f *family, cum []uint64, count uint64, sum float64, labels []byte) {
	line := func(suffix, extra, extraValue string, v float64, kind int) {
		start, value := x.line(f, suffix, labels, extra, extraValue, v)
		x.memberLine(f, start, value, suffix, 0, uint8(kind))
	}
	for i, n := range cum {
		line("_bucket", "le", x.le[i], float64(n), i)
	}
	line("_bucket", "le", "+Inf", float64(count), len(cum))
	line("_sum", "", "", sum, len(cum)+1)
	line("_count", "", "", float64(count), len(cum)+2)
}
