package proxy

import (
	"net"
	"syscall"
	"time"
)

// timedConn gives a connection inactivity timeouts on reads and writes
// without a deadline syscall per operation: a deadline is pushed forward
// only when less than 7/8 of its timeout is left, so it fires after between
// 7/8 and all of the timeout without traffic, and a busy connection resets it
// at most every timeout/8. A zero timeout means none, as in HAProxy. The
// connection may be any net.Conn: a client's may be a *tls.Conn.
type timedConn struct {
	net.Conn
	raw                         syscall.RawConn // rawOf(Conn), for spliceN
	readTimeout, writeTimeout   time.Duration
	readDeadline, writeDeadline time.Time
	holdRead                    bool // see beginHead
}

// newTimedConn wraps c, without timeouts yet.
func newTimedConn(c net.Conn) timedConn { return timedConn{Conn: c, raw: rawOf(c)} }

func (t *timedConn) Read(p []byte) (int, error) {
	if t.readTimeout > 0 && !t.holdRead {
		t.armRead(time.Now())
	}
	return t.Conn.Read(p)
}

func (t *timedConn) armRead(now time.Time) {
	if t.readDeadline.Sub(now) < t.readTimeout-t.readTimeout/8 {
		t.readDeadline = now.Add(t.readTimeout)
		t.Conn.SetReadDeadline(t.readDeadline)
	}
}

// beginHead arms the read deadline if it is due and holds it there until
// endHead, so a request head must arrive whole within the timeout, not
// merely without a pause as long as it: a client trickling a byte at a time
// (slowloris) is cut like an idle one.
func (t *timedConn) beginHead() {
	if t.readTimeout > 0 {
		now := time.Now()
		if t.writeTimeout == t.readTimeout && t.due(t.readDeadline, now, t.readTimeout) && t.due(t.writeDeadline, now, t.writeTimeout) {
			// Both due (a new connection, or one idle for a while): one
			// runtime call arms both.
			d := now.Add(t.readTimeout)
			t.readDeadline, t.writeDeadline = d, d
			t.Conn.SetDeadline(d)
		} else {
			t.armRead(now)
		}
		t.holdRead = true
	}
}

// due reports whether a deadline has less than 7/8 of its timeout left.
func (t *timedConn) due(deadline, now time.Time, timeout time.Duration) bool {
	return deadline.Sub(now) < timeout-timeout/8
}

// holdReadDeadline arms the read deadline if it is due and holds it until
// endHead, without beginHead's write side: for a member's response head,
// while a request body may be written to the member from another
// goroutine.
func (t *timedConn) holdReadDeadline() {
	if t.readTimeout > 0 {
		t.armRead(time.Now())
		t.holdRead = true
	}
}

func (t *timedConn) endHead() { t.holdRead = false }

func (t *timedConn) Write(p []byte) (int, error) {
	if t.writeTimeout > 0 {
		now := time.Now()
		if t.writeDeadline.Sub(now) < t.writeTimeout-t.writeTimeout/8 {
			t.writeDeadline = now.Add(t.writeTimeout)
			t.Conn.SetWriteDeadline(t.writeDeadline)
		}
	}
	return t.Conn.Write(p)
}

// setTimeouts changes the timeouts; the next operation arms them.
func (t *timedConn) setTimeouts(read, write time.Duration) {
	if read != t.readTimeout || write != t.writeTimeout {
		t.readTimeout, t.writeTimeout = read, write
		t.forget()
	}
}

// forget makes the next operation set its deadline afresh, after someone
// else (a splice, a drain) changed the connection's deadlines.
func (t *timedConn) forget() {
	t.forgetRead()
	t.forgetWrite()
}

// forgetRead is forget for the read side only; a goroutine copying into the
// connection may use it while another writes to it.
func (t *timedConn) forgetRead() {
	t.readDeadline = time.Time{}
	if t.readTimeout == 0 {
		t.Conn.SetReadDeadline(time.Time{})
	}
}

// forgetWrite is forget for the write side only.
func (t *timedConn) forgetWrite() {
	t.writeDeadline = time.Time{}
	if t.writeTimeout == 0 {
		t.Conn.SetWriteDeadline(time.Time{})
	}
}

// expireRead makes the next read fail with a timeout at once: the event
// loop already waited the timeout out. The remembered deadline is pushed far
// ahead so that the lazy re-arming leaves the expired one in place.
func (t *timedConn) expireRead() {
	t.readDeadline = time.Now().Add(24 * time.Hour)
	t.Conn.SetReadDeadline(time.Unix(1, 0))
}
