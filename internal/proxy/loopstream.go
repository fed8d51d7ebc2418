package proxy

import (
	"lbd/internal/accesslog"
	"lbd/internal/proxy/evloop"
)

// Responses longer than the event loop's buffer (issue 22, item 3). The
// loop relays a response of known length whatever its size: the head and
// the body bytes that came with it from the buffer, the rest of the body
// spliced from the member's socket into a pipe and from the pipe to the
// client's, as much as each side takes, resumed on each side's next
// epoll report. Such an exchange used to go to a goroutine, and the
// connection stayed there while its responses were long: a 64 KiB answer
// cost a park and a wake-up of the goroutine in Go's poller for each
// socket, a read that found nothing on each, and the scheduler's system
// call bookkeeping, which wakes sysmon from its sleep.
//
// The body is counted as it goes. A member that closes or fails before
// the body's end, or a client that goes, ends both connections, as on the
// goroutine path: the client has part of a response and cannot be told
// otherwise. While the member has nothing to send the exchange waits for
// it timeout_member_data at most, while the client takes nothing
// timeout_client_data at most.

// startStream relays a response whose head u holds and whose body does
// not fit u's buffer.
func (hl *httpLoop) startStream(c *loopClient, u *loopMember) {
	headEnd := u.respEnd
	have := len(u.In) - headEnd // body bytes read with the head
	hl.answered(c, u, 0)
	w := c.Writer()
	writeResponseHead(w, c.cfg, c.p, c.m, &c.req, &u.resp, c.d, &c.scratch)
	// What fits the client's buffer goes with the head; the rest (when the
	// head grew) stays in u.In, sent next.
	n := max(0, min(have, cap(*w)-len(*w)))
	w.Write(u.In[headEnd : headEnd+n])
	u.In = u.In[:copy(u.In, u.In[headEnd+n:])]
	hl.countOut(c, n)
	c.left = c.d.Length - int64(have)
	c.phase = phaseStream
	hl.set.stats.served.Add(1)
	hl.stream(c)
}

// stream moves the response's body on until both sides have to wait, or
// the whole of it is written. The member is read on while the client is
// full, as long as the pipe has room (a whole 1 MiB answer fits): a member
// is never kept waiting for a slow client's window, as nginx's buffers
// keep it. Before, the pipe was filled only once empty, and each of a long
// answer's chunks waited for the client to take the one before; the
// member, stalled on a closed window, was woken again for each (size_1m:
// lbd's requests/s 0.80 of nginx's, on the CPU that runs wrk and the
// members, docs/performance.md).
func (hl *httpLoop) stream(c *loopClient) {
	u := c.up
	clientFull := false
relay:
	for {
		if !clientFull {
			var err error
			if clientFull, err = hl.streamOut(c, u); err != nil {
				hl.streamFailed(c, true, false)
				return
			}
			if !clientFull && c.left == 0 {
				hl.endStream(c)
				return
			}
		}
		if c.left == 0 || len(u.In) > 0 || !u.Readable() {
			break
		}
		if err := c.takePipe(); err != nil {
			hl.streamFailed(c, false, false)
			return
		}
		p := c.pipe
		want := int(min(c.left, int64(p.room()), copyChunk))
		if want == 0 {
			break // full: on with the client's EPOLLOUT
		}
		var n int
		var res evloop.ReadResult
		if p.data == 0 {
			n, res = u.SpliceIn(p.w, want)
		} else {
			n, res = u.SpliceInMore(p.w, want)
		}
		switch res {
		case evloop.ReadData:
			p.data += n
			c.left -= int64(n)
		case evloop.ReadNone:
			break relay
		default: // the member closed or failed before the body's end
			hl.streamFailed(c, false, false)
			return
		}
	}
	// Waiting for the client's EPOLLOUT when it holds output back, else
	// for the member's EPOLLIN (streamExpired says whose timeout it was).
	if clientFull {
		c.SetTimeout(c.cfg.clientTimeout)
	} else {
		c.SetTimeout(c.cfg.memberTimeout)
	}
}

// streamOut writes what the stream holds for the client (the buffered
// head, body bytes read with it, the pipe), as much as the client takes;
// full reports that some of it had to stay.
func (hl *httpLoop) streamOut(c *loopClient, u *loopMember) (full bool, err error) {
	if err := c.Flush(); err != nil {
		return false, err
	}
	if c.Pending() {
		return true, nil
	}
	if len(u.In) > 0 {
		n, err := c.Send(u.In)
		hl.countOut(c, n)
		u.In = u.In[:copy(u.In, u.In[n:])]
		if err != nil {
			return false, err
		}
		if len(u.In) > 0 {
			return true, nil
		}
	}
	u.ReleaseIn() // nothing read is left to send: the buffer goes back
	if p := c.pipe; p != nil && p.data > 0 {
		n, err := c.SpliceOut(p.r, p.data)
		p.data -= n
		hl.countOut(c, n)
		if err != nil {
			return false, err
		}
		if p.data > 0 {
			return true, nil
		}
	}
	return false, nil
}

// countOut counts n body bytes written to the client.
func (hl *httpLoop) countOut(c *loopClient, n int) {
	if n <= 0 {
		return
	}
	c.cfg.traffic.BytesOut.Add(uint64(n))
	c.m.Traffic.BytesOut.Add(uint64(n))
	c.bytesOut += int64(n)
}

// endStream ends a stream whose body is written: the member connection
// goes idle (or is closed) and the exchange ends as any other.
func (hl *httpLoop) endStream(c *loopClient) {
	c.dropPipe()
	u := c.up
	hl.freeMember(c, u, c.d.MemberKeep && u.Drained(), hl.loop.Now())
	c.phase = phaseWrite
	hl.endExchange(c, nil)
}

// streamExpired ends a stream that waited too long for one side: the
// client's when its output is waiting, else the member's.
func (hl *httpLoop) streamExpired(c *loopClient) {
	client := c.Pending() || len(c.up.In) > 0 || (c.pipe != nil && c.pipe.data > 0)
	hl.streamFailed(c, client, true)
}

// streamFailed ends a stream cut short by the client's side (client) or
// the member's, by a timeout if timeout: both connections close.
func (hl *httpLoop) streamFailed(c *loopClient, client, timeout bool) {
	m := c.m
	cause := byte(accesslog.CauseServer)
	if client {
		cause = accesslog.CauseClient
		m.Traffic.ClientAborts.Add(1)
	} else {
		m.Traffic.MemberAborts.Add(1)
	}
	if timeout {
		cause += 'a' - 'A' // lower case: the side's timeout, as termination gives it
	}
	now := hl.loop.Now()
	c.cfg.traffic.RequestTime.Observe(now.Sub(c.start))
	if c.cfg.access != nil {
		hl.logExchange(c, m, now, accesslog.Term(cause, accesslog.PhaseData))
	}
	m.Release()
	c.m = nil
	hl.closeClient(c) // and the member connection with it
}

// takePipe gives c a pipe of its listener's pool for a splice, unless it
// holds one (the body's or the response's, until dropPipe).
func (c *loopClient) takePipe() error {
	if c.pipe != nil {
		return nil
	}
	p, err := c.cfg.pipes.get()
	if err != nil {
		return err
	}
	c.pipe = p
	return nil
}

// dropPipe gives the stream's pipe back; one with bytes left in it is
// closed.
func (c *loopClient) dropPipe() {
	if c.pipe != nil {
		c.cfg.pipes.put(c.pipe)
		c.pipe = nil
	}
}
