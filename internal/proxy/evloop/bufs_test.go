package evloop

import (
	"testing"
	"time"
)

const bufSize = 16 << 10

// TestBufsTrim: buffers a steady load keeps taking stay; those left
// spare since the last trim go, half at a time.
func TestBufsTrim(t *testing.T) {
	p := Bufs{size: bufSize}
	held := make([][]byte, 8)
	for i := range held {
		held[i] = p.get()
	}
	for _, b := range held {
		p.put(b)
	}
	p.trim() // a first trim sees the burst's 8 spare at their fewest: 0
	mustf(t, len(p.free) == 8, "after the burst: %d spare, want 8", len(p.free))
	for range 3 { // a steady load of 2 at a time
		a, b := p.get(), p.get()
		p.put(a)
		p.put(b)
	}
	p.trim() // 6 stayed spare: 3 go
	mustf(t, len(p.free) == 5, "after a trim: %d spare, want 5", len(p.free))
	p.trim() // nobody took any since: half of 5 go
	mustf(t, len(p.free) == 2, "after an idle trim: %d spare, want 2", len(p.free))
	p.put(make([]byte, 0, 2*bufSize))
	mustf(t, len(p.free) == 2, "a grown buffer was kept: %d spare", len(p.free))
	for i := range 3 {
		if b := p.get(); cap(b) != bufSize || len(b) != 0 {
			t.Fatalf("get %d: len %d cap %d, want an empty buffer of %d", i, len(b), cap(b), bufSize)
		}
	}
}

func mustf(t *testing.T, ok bool, format string, args ...any) {
	t.Helper()
	if !ok {
		t.Fatalf(format, args...)
	}
}

// TestLoopTrimsBuffersEveryBufTrimEvery: a loop's ticks leave the spare
// buffers of a burst alone until bufTrimEvery has passed, and then trim
// them half at a time. Trimming at every tick made a busy loop with
// thousands of clients let go of buffers between two bursts and make them
// again for the next.
func TestLoopTrimsBuffersEveryBufTrimEvery(t *testing.T) {
	const tick = 5 * time.Millisecond
	l, err := New(Options{BufSize: bufSize, Tick: tick, Yield: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer l.closeFds()
	t0 := time.Now()
	l.now, l.nextTrim = t0, t0.Add(bufTrimEvery)
	held := make([][]byte, 8)
	for i := range held {
		held[i] = l.bufs.get()
	}
	for _, b := range held {
		l.bufs.put(b)
	}
	for i := range int(bufTrimEvery/tick) - 1 {
		l.now = t0.Add(time.Duration(i+1) * tick)
		l.tick()
	}
	mustf(t, len(l.bufs.free) == 8, "%d of the burst's 8 spare buffers left before bufTrimEvery, want 8", len(l.bufs.free))
	l.now = t0.Add(bufTrimEvery)
	l.tick() // the first trim sees the burst's 8 spare at their fewest: 0
	l.now = t0.Add(2 * bufTrimEvery)
	l.tick() // none taken for a whole period: half go
	mustf(t, len(l.bufs.free) == 4, "%d spare buffers after two trims, want 4", len(l.bufs.free))
}
