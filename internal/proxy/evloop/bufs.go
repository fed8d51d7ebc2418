package evloop

// Bufs are a loop's spare message buffers, all of one capacity. A
// connection holds one only while a message is on its way in or out, so
// an idle keep-alive client costs the loop about a kilobyte, as it costs
// HAProxy, instead of the 16 KiB or more it would keep otherwise: ten
// thousand idle clients are 10 MiB, not 200. Buffers go round LIFO, so the
// one a request takes is the one the last response left warm in the cache.
type Bufs struct {
	size int
	free [][]byte
	low  int // the fewest spare buffers since the last trim
}

// get returns an empty buffer of capacity size.
func (p *Bufs) get() []byte {
	n := len(p.free)
	if n == 0 {
		p.low = 0
		return make([]byte, 0, p.size)
	}
	b := p.free[n-1]
	p.free[n-1] = nil
	p.free = p.free[:n-1]
	p.low = min(p.low, n-1)
	return b
}

// put takes a buffer back. One that grew past size is left to the garbage
// collector: reads are bounded by a buffer's capacity, which the loop's
// owner relies on.
func (p *Bufs) put(b []byte) {
	if cap(b) != p.size {
		return
	}
	p.free = append(p.free, b[:0])
}

// trim lets go of half the buffers that stayed spare since the last trim:
// what a burst left behind goes in a few trims (the loop trims every
// bufTrimEvery), while a steady load keeps what it keeps taking.
func (p *Bufs) trim() {
	n := len(p.free)
	keep := n - (p.low+1)/2
	clear(p.free[keep:])
	p.free = p.free[:keep]
	p.low = keep
}
