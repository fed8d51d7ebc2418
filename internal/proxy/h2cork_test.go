package proxy

import (
	"bytes"
	"errors"
	"net"
	"os"
	"sync"
	"testing"
	"time"
)

// writeLog is a connection that records each write it is given.
type writeLog struct {
	net.Conn
	mu     sync.Mutex
	writes [][]byte
	wrote  chan struct{}
	fail   error
}

func newWriteLog() *writeLog { return &writeLog{wrote: make(chan struct{}, 100)} }

func (w *writeLog) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.fail != nil {
		return 0, w.fail
	}
	w.writes = append(w.writes, append([]byte(nil), p...))
	w.wrote <- struct{}{}
	return len(p), nil
}

func (w *writeLog) SetWriteDeadline(time.Time) error { return nil }
func (w *writeLog) SetReadDeadline(time.Time) error  { return nil }
func (w *writeLog) SetDeadline(time.Time) error      { return nil }
func (w *writeLog) Close() error                     { return nil }

func (w *writeLog) all() [][]byte {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([][]byte(nil), w.writes...)
}

// Frames written back to back (a response's HEADERS and DATA, other
// streams') while a flush is on its way leave in it, in one write, in
// order. The flush is held back here and run by the test: when the
// scheduled one runs is the runtime's business (on a second P it may run
// between two of these writes), and the gathering is what is tested.
func TestCorkGathersWrites(t *testing.T) {
	w := newWriteLog()
	c := &corkConn{Conn: w}
	c.cork(time.Minute)
	c.mu.Lock()
	c.scheduled = true // a flush is on its way: Write must not send
	c.mu.Unlock()
	var want []byte
	for _, s := range []string{"HEADERS 1", "DATA 1", "HEADERS 3", "DATA 3"} {
		if n, err := c.Write([]byte(s)); err != nil || n != len(s) {
			t.Fatalf("Write(%q) = %d, %v", s, n, err)
		}
		want = append(want, s...)
	}
	if got := w.all(); len(got) != 0 {
		t.Fatalf("socket writes before the flush = %q, want none", got)
	}
	c.flushSoon()
	got := w.all()
	if len(got) != 1 || !bytes.Equal(got[0], want) {
		t.Fatalf("socket writes = %q, want one: %q", got, want)
	}
}

// A write with no flush on its way schedules one: what is held goes out
// with no further write or close.
func TestCorkSchedulesFlush(t *testing.T) {
	w := newWriteLog()
	c := &corkConn{Conn: w}
	c.cork(time.Minute)
	c.Write([]byte("HEADERS 1"))
	select {
	case <-w.wrote:
	case <-time.After(10 * time.Second):
		t.Fatal("a held write was not sent within 10 s")
	}
	if got := w.all(); len(got) != 1 || string(got[0]) != "HEADERS 1" {
		t.Fatalf("socket writes = %q, want the held frame", got)
	}
}

// Not corked (the handshake, HTTP/1.1), every write goes straight out.
func TestCorkOffPassesThrough(t *testing.T) {
	w := newWriteLog()
	c := &corkConn{Conn: w}
	c.Write([]byte("a"))
	c.Write([]byte("b"))
	if got := w.all(); len(got) != 2 {
		t.Fatalf("socket writes = %q, want 2 as written", got)
	}
}

// A large write goes out at once, after what was held, and nothing stays
// held past corkLimit.
func TestCorkLargeWriteGoesAtOnce(t *testing.T) {
	w := newWriteLog()
	c := &corkConn{Conn: w}
	c.cork(time.Minute)
	c.Write([]byte("small"))
	big := bytes.Repeat([]byte("x"), corkLarge)
	c.Write(big)
	got := w.all() // synchronous: no flush to wait for
	if len(got) == 0 {
		t.Fatal("a large write was held")
	}
	if all := bytes.Join(got, nil); !bytes.Equal(all, append([]byte("small"), big...)) {
		t.Fatalf("socket got %d bytes out of order or short", len(all))
	}
	for range corkLimit / 1000 {
		c.Write(make([]byte, 1000))
	}
	c.mu.Lock()
	held := len(c.buf)
	c.mu.Unlock()
	if held > corkLimit {
		t.Fatalf("holds %d bytes, more than %d", held, corkLimit)
	}
}

// A failed socket write closes the connection and every Write after it
// fails: the server learns of it.
func TestCorkFailureSticks(t *testing.T) {
	w := newWriteLog()
	w.fail = errors.New("broken pipe")
	c := &corkConn{Conn: w}
	c.cork(time.Minute)
	c.Write(bytes.Repeat([]byte("x"), corkLarge))
	if _, err := c.Write([]byte("more")); err == nil {
		t.Fatal("Write after a failed socket write succeeded")
	}
}

// A client that stops reading: the held bytes' write ends at the timeout,
// and the next Write fails, as net/http's WriteByteTimeout would have it.
func TestCorkStalledReaderTimesOut(t *testing.T) {
	a, b := net.Pipe() // b is never read
	defer b.Close()
	c := &corkConn{Conn: a}
	c.cork(50 * time.Millisecond)
	big := bytes.Repeat([]byte("x"), corkLarge)
	done := make(chan error, 1)
	go func() {
		_, err := c.Write(big)
		done <- err
	}()
	if err := <-done; !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Write to a stalled reader: %v, want a deadline error", err)
	}
	if _, err := c.Write([]byte("x")); err == nil {
		t.Fatal("Write after a timed-out one succeeded")
	}
}

// Close sends what is held before it closes.
func TestCorkCloseFlushes(t *testing.T) {
	w := newWriteLog()
	c := &corkConn{Conn: w}
	c.cork(time.Minute)
	c.mu.Lock() // hold the flush back: only Close may send
	c.buf = append(c.buf, "GOAWAY"...)
	c.scheduled = true
	c.mu.Unlock()
	c.Close()
	if got := w.all(); len(got) != 1 || string(got[0]) != "GOAWAY" {
		t.Fatalf("socket writes = %q, want GOAWAY sent on close", got)
	}
}
