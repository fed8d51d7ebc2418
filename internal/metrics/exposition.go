package metrics

import (
	"bytes"
	"io"
	"math"
	"sort"
	"strconv"
	"time"

	"lbd/internal/proxy"
	"lbd/internal/stats"
)

// lbd writes its own families in the Prometheus text format (0.0.4)
// straight from the data plane's counters, into buffers it keeps from one
// scrape to the next. client_golang's const metrics cost an allocation per
// series, a label sort per family and a second pass to encode: a pool of
// 1000 members took 183 ms of CPU per gzipped scrape, all of it on the P that
// serves traffic. The Go runtime's and the process's families still come
// from client_golang's collectors (handler.go).

// kind is a family's Prometheus type.
type kind uint8

const (
	kindGauge kind = iota
	kindCounter
	kindHistogram
)

var kindNames = [...]string{kindGauge: "gauge", kindCounter: "counter", kindHistogram: "histogram"}

// family is one metric family: name, help, type and label names. The
// catalog numbers them in the order they are declared, which is the order
// they are written in.
type family struct {
	id     int
	name   string
	help   string
	kind   kind
	labels []string
	// sorted lists the labels' indices by name: series carry their labels
	// in that order, as client_golang writes them (and a grep expects).
	sorted []int
	// volatile marks a family whose values change at every scrape: its
	// series are never kept compressed (gzip.go).
	volatile bool
	// open is how its series' lines start, up to their labels: its name
	// and '{', and a histogram's with the suffixes _bucket, _sum and
	// _count.
	open [4]string
}

// catalog is the list of families lbd exports, filled while the package
// initialises and read-only afterwards.
type catalog struct{ families []*family }

func (c *catalog) add(k kind, name, help string, labels ...string) *family {
	f := &family{id: len(c.families), name: name, help: help, kind: k, labels: labels}
	f.open[0] = name + "{"
	if k == kindHistogram {
		for i, suffix := range []string{"_bucket", "_sum", "_count"} {
			f.open[1+i] = name + suffix + "{"
		}
	}
	for i := range labels {
		f.sorted = append(f.sorted, i)
	}
	sort.Slice(f.sorted, func(a, b int) bool { return labels[f.sorted[a]] < labels[f.sorted[b]] })
	c.families = append(c.families, f)
	return f
}

// changing marks f volatile.
func (f *family) changing() *family {
	f.volatile = true
	return f
}

func (c *catalog) gauge(name, help string, labels ...string) *family {
	return c.add(kindGauge, name, help, labels...)
}

func (c *catalog) counter(name, help string, labels ...string) *family {
	return c.add(kindCounter, name, help, labels...)
}

func (c *catalog) histogram(name, help string, labels ...string) *family {
	return c.add(kindHistogram, name, help, labels...)
}

// exposition is one scrape's samples, a buffer per family of its catalog.
// Its buffers keep their capacity across scrapes; it is not safe for
// concurrent use.
type exposition struct {
	cat     *catalog
	samples [][]byte
	// le holds the histogram bucket bounds as label values, formatted once.
	le []string
	// lePairs holds them as label pairs after others, then closeLabels:
	// ,le="…"} .
	lePairs []string
	head    []byte
	labels  []byte   // the label pairs of the series being written
	values  []string // label values being put together
	// ints holds the integers written as label values (ports), formatted
	// once, by value: a scrape allocates no more for a thousand members than
	// for two, and looks them up without hashing (a map cost 1 ms in an
	// uncompressed scrape of 10,000 members).
	ints []string

	// For a gzip scrape (gzip.go), parts lists per family the pieces of its
	// series in order: ranges of its buffer and chunks, kept from an
	// earlier scrape or made by this one. A family without parts is its
	// buffer alone. ends is where each family's last part ended.
	parts [][]part
	ends  []int
	marks []int
	store lineDeflater // makes the chunks (keep)
	// cache is the handler's block cache in a gzip scrape, nil otherwise;
	// made lists the blocks this scrape compressed, for it. views and
	// changes are the collector's scratch space.
	cache   *blockCache
	made    []madeBlock
	spliced int // families of made blocks whose chunks were spliced again
	views   []memberView
	changes []time.Time
	pviews  []proxy.MemberView
	// other holds the text of client_golang's families in a gzip scrape.
	other bytes.Buffer

	// In a gzip scrape, the lines of a block's members' series are coded
	// as they are written, one family at a time (codeLines), so that a
	// block's text is compressed without being searched or read again
	// (lineDeflater.codeLine). lines counts every family's lines.
	lines      []int
	run        lineRun
	codeFam    int // the family being coded, -1 if none
	codeFrom   int // where its run's text starts in its buffer
	codeBefore int // its lines before the run
	// The block being written: its pool label and its members' labels
	// (blockLabels: own's, or a cached block's); idLen and curID are the
	// length of the ID of the member being written and its number in the
	// block.
	pool  string
	blk   *memberLabels
	own   memberLabels
	idLen int
	curID int32
}

// codedID is a member ID's literals: n bits from idWords[off].
type codedID struct {
	off int32
	n   uint32
}

// part is a piece of a family's series: its buffer's text from..to, or a
// chunk, kept from an earlier scrape or made by this one (keep).
type part struct {
	from, to int
	chunk    *chunk
}

// itoa is strconv.Itoa for label values, from the exposition's cache for
// those of a port.
func (x *exposition) itoa(n int) string {
	if n < 0 || n > 65535 {
		return strconv.Itoa(n)
	}
	if n >= len(x.ints) {
		x.ints = append(x.ints, make([]string, n+1-len(x.ints))...)
	}
	s := x.ints[n]
	if s == "" {
		s = strconv.Itoa(n)
		x.ints[n] = s
	}
	return s
}

func newExposition(cat *catalog) *exposition {
	n := len(cat.families)
	x := &exposition{cat: cat, samples: make([][]byte, n), parts: make([][]part, n), ends: make([]int, n), marks: make([]int, n),
		lines: make([]int, n), codeFam: -1}
	for _, b := range stats.LatencyBuckets {
		x.le = append(x.le, strconv.FormatFloat(b.Seconds(), 'g', -1, 64))
	}
	x.lePairs = labelPairs(",", "le", x.le, closeLabels)
	return x
}

// reset empties the buffers for the next scrape.
func (x *exposition) reset() {
	for i := range x.samples {
		x.samples[i] = x.samples[i][:0]
		x.parts[i] = x.parts[i][:0]
		x.ends[i] = 0
		x.lines[i] = 0
	}
	clear(x.made)
	x.made = x.made[:0]
	x.spliced = 0
}

// mark notes where every family's buffer ends, for keep.
func (x *exposition) mark() {
	for i, b := range x.samples {
		x.marks[i] = len(b)
	}
}

// keep compresses what each family (but the volatile ones, and those
// whose lines were coded as they were written: endLines) got since mark
// into a chunk, chunks[family], and puts it where that text was: the
// text is compressed and its CRC taken while it is still in the CPU's
// cache, and its buffer is written over by the next block's, where
// compressing it after the whole scrape read back tens of megabytes from
// memory.
func (x *exposition) keep(chunks []*chunk) {
	for _, f := range x.cat.families {
		i := f.id
		from := x.marks[i]
		if f.volatile || len(x.samples[i]) == from {
			continue
		}
		x.cut(i, from)
		text := x.samples[i][from:]
		c := x.cache.newChunk(i)
		x.store.makeChunk(c, text)
		chunks[i] = c
		x.parts[i] = append(x.parts[i], part{chunk: c})
		x.samples[i] = x.samples[i][:from]
	}
}

// reuseChunk puts a chunk kept from the scrape before where family i's
// series it holds belong, in a block written again.
func (x *exposition) reuseChunk(i int, c *chunk) {
	x.cut(i, len(x.samples[i]))
	x.parts[i] = append(x.parts[i], part{chunk: c})
	x.spliced++
}

// reuse puts kept chunks where the series they hold belong.
func (x *exposition) reuse(chunks []*chunk) {
	for i, c := range chunks {
		if c != nil {
			x.cut(i, len(x.samples[i]))
			x.parts[i] = append(x.parts[i], part{chunk: c})
		}
	}
}

// cut ends family i's text before a part: its buffer up to `to` is a part.
func (x *exposition) cut(i, to int) {
	if to > x.ends[i] {
		x.parts[i] = append(x.parts[i], part{from: x.ends[i], to: to})
		x.ends[i] = to
	}
}

// value writes one series of a gauge or counter family.
func (x *exposition) value(f *family, v float64, labels ...string) {
	x.labels = appendLabels(x.labels[:0], f, labels)
	x.line(f, "", x.labels, "", "", v)
}

// series appends to b the text of one series of f up to its value: its
// name and labels and the space after them.
func (x *exposition) series(b []byte, f *family, labels ...string) []byte {
	x.labels = appendLabels(x.labels[:0], f, labels)
	b = append(b, f.name...)
	b = append(b, '{')
	b = append(b, x.labels...)
	return append(b, '}', ' ')
}

// valueAfter writes one series of f from its text up to the value
// (series) and the value.
func (x *exposition) valueAfter(f *family, series []byte, v float64) {
	b := append(x.samples[f.id], series...)
	b = appendValue(b, v)
	x.samples[f.id] = append(b, '\n')
}

// state writes one series per possible state, 1 for the current one, as
// HAProxy's promex does since 2.4; the state is the family's last label.
func (x *exposition) state(f *family, states []string, current string, labels ...string) {
	x.values = append(x.values[:0], labels...)
	for _, s := range states {
		v := 0.0
		if s == current {
			v = 1
		}
		x.values = append(x.values[:len(labels)], s)
		x.value(f, v, x.values...)
	}
}

// histogram writes a latency histogram's cumulative buckets, sum and count.
func (x *exposition) histogram(f *family, h *stats.Histogram, labels ...string) {
	cum, count, sum := h.Snapshot()
	x.histogramOf(f, cum[:], count, sum, labels...)
}

func (x *exposition) histogramOf(f *family, cum []uint64, count uint64, sum float64, labels ...string) {
	x.labels = appendLabels(x.labels[:0], f, labels)
	for i, n := range cum {
		x.line(f, "_bucket", x.labels, "le", x.le[i], float64(n))
	}
	x.line(f, "_bucket", x.labels, "le", "+Inf", float64(count))
	x.line(f, "_sum", x.labels, "", "", sum)
	x.line(f, "_count", x.labels, "", "", float64(count))
}

// line appends one line: the family's name and suffix, its label pairs
// (written by appendLabels) and one more label after them if extra is not
// empty (a histogram's le), and the value.
func (x *exposition) line(f *family, suffix string, labels []byte, extra, extraValue string, v float64) (start, value int) {
	x.lines[f.id]++
	b := x.samples[f.id]
	start = len(b)
	b = append(b, f.name...)
	b = append(b, suffix...)
	if len(labels) > 0 || extra != "" {
		b = append(b, '{')
		b = append(b, labels...)
		if extra != "" {
			if len(labels) > 0 {
				b = append(b, ',')
			}
			b = appendLabel(b, extra, extraValue)
		}
		b = append(b, '}')
	}
	b = append(b, ' ')
	value = len(b)
	b = appendValue(b, v)
	x.samples[f.id] = append(b, '\n')
	return start, value
}

// appendLabels writes f's label pairs with values, without braces, in
// the order of their names.
func appendLabels(b []byte, f *family, values []string) []byte {
	for n, i := range f.sorted {
		if n > 0 {
			b = append(b, ',')
		}
		b = appendLabel(b, f.labels[i], values[i])
	}
	return b
}

func appendLabel(b []byte, name, value string) []byte {
	b = append(b, name...)
	b = append(b, '=', '"')
	b = appendEscaped(b, value, true)
	return append(b, '"')
}

// appendEscaped writes s with backslashes and newlines escaped, and double
// quotes too in a label value (quoted), as the text format wants.
func appendEscaped(b []byte, s string, quoted bool) []byte {
	// A plain loop: strings.ContainsAny builds its set at every call, a
	// fifth of an uncompressed scrape of 10,000 members.
	plain := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '\\' || c == '\n' || c == '"' && quoted {
			plain = false
			break
		}
	}
	if plain {
		return append(b, s...)
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\':
			b = append(b, '\\', '\\')
		case c == '\n':
			b = append(b, '\\', 'n')
		case c == '"' && quoted:
			b = append(b, '\\', '"')
		default:
			b = append(b, c)
		}
	}
	return b
}

// appendValue formats a sample value as the text format's reference
// encoder does (strconv's 'g', shortest).
func appendValue(b []byte, v float64) []byte {
	if v >= 0 && v < 1e6 {
		// Whole numbers (counters, mostly): 'g' writes their digits.
		if u := uint32(v); float64(u) == v && (u != 0 || !math.Signbit(v)) {
			return appendDigits(b, u)
		}
		// Whole nanoseconds in seconds (latency sums): if v is the double
		// nearest ns/1e9, that decimal (at most 15 significant digits) is
		// v's shortest form, and from 1e-4 on 'g' writes it without an
		// exponent.
		if ns := uint64(v*1e9 + 0.5); v >= 1e-4 && float64(ns)/1e9 == v {
			return appendNanos(b, ns)
		}
	}
	switch {
	case math.IsNaN(v):
		return append(b, "NaN"...)
	case math.IsInf(v, 1):
		return append(b, "+Inf"...)
	case math.IsInf(v, -1):
		return append(b, "-Inf"...)
	}
	return strconv.AppendFloat(b, v, 'g', -1, 64)
}

// appendNanos writes ns nanoseconds (< 1e15) in seconds, in decimal,
// without trailing zeros: strconv's 'g' of ns/1e9 (appendValue), at a
// fraction of its cost.
func appendNanos(b []byte, ns uint64) []byte {
	b = appendDigits(b, uint32(ns/1e9))
	frac := uint32(ns % 1e9)
	if frac == 0 {
		return b
	}
	n := 9
	for frac%10 == 0 {
		frac /= 10
		n--
	}
	l := len(b)
	b = append(b, ".000000000"[:n+1]...)
	for i := l + n; i > l; i-- {
		b[i] = byte('0' + frac%10)
		frac /= 10
	}
	return b
}

// appendDigits writes u (< 1e6) in decimal, in place: strconv.AppendUint
// formats into a buffer of its own and copies, and with the checks before
// it was a sixth of an uncompressed scrape of 10,000 members.
func appendDigits(b []byte, u uint32) []byte {
	n := 1
	for p := uint32(10); n < 6 && u >= p; p *= 10 {
		n++
	}
	l := len(b)
	b = append(b, "000000"[:n]...)
	for i := l + n - 1; i > l; i-- {
		b[i] = byte('0' + u%10)
		u /= 10
	}
	b[l] = byte('0' + u)
	return b
}

// writeTo writes the families that have samples, each under its HELP and
// TYPE lines, in catalog order. The exposition must hold no chunks (a
// gzip scrape's, which writeGzip writes).
func (x *exposition) writeTo(w io.Writer) error {
	for _, f := range x.cat.families {
		s := x.samples[f.id]
		if len(s) == 0 && len(x.parts[f.id]) == 0 {
			continue
		}
		if _, err := w.Write(x.header(f)); err != nil {
			return err
		}
		if _, err := w.Write(s); err != nil {
			return err
		}
	}
	return nil
}

// writeGzip writes the families as writeTo does into a gzip stream,
// splicing in the chunks. It does not close the stream.
func (x *exposition) writeGzip(g *gzipStream) error {
	for _, f := range x.cat.families {
		i := f.id
		s := x.samples[i]
		if len(s) == 0 && len(x.parts[i]) == 0 {
			continue
		}
		g.Write(x.header(f))
		for _, p := range x.parts[i] {
			switch {
			case p.chunk != nil:
				g.chunk(p.chunk)
			default:
				g.Write(s[p.from:p.to])
			}
		}
		if x.ends[i] < len(s) {
			g.Write(s[x.ends[i]:])
		}
	}
	return g.err
}

// header renders a family's HELP and TYPE lines.
func (x *exposition) header(f *family) []byte {
	head := append(x.head[:0], "# HELP "...)
	head = append(head, f.name...)
	head = append(head, ' ')
	head = appendEscaped(head, f.help, false)
	head = append(head, "\n# TYPE "...)
	head = append(head, f.name...)
	head = append(head, ' ')
	head = append(head, kindNames[f.kind]...)
	head = append(head, '\n')
	x.head = head
	return head
}
