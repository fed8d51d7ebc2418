package proxy

import (
	"bufio"
	"context"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"lbd/internal/balancer"
)

const (
	// maxIdlePerMember bounds the keep-alive connections kept per member.
	maxIdlePerMember = 256
	// idleUpstreamTTL drops pooled connections older than this: members
	// close idle keep-alive connections after a while (Apache's default is
	// 5s), and a connection found dead costs a retry.
	idleUpstreamTTL = 4 * time.Second
	upstreamBufSize = 16 << 10
)

// upstreamConn is a keep-alive HTTP connection to one member.
type upstreamConn struct {
	tc        timedConn
	br        *bufio.Reader
	bw        *bufio.Writer
	state     *balancer.State // which member it belongs to
	idleSince time.Time
	used      bool // has carried a request before: it may have gone stale
	// private: it began with a PROXY header naming one client, so it
	// serves that client's connection only and is never shared.
	private bool
}

func newUpstreamConn(c net.Conn, st *balancer.State, private bool) *upstreamConn {
	uc := &upstreamConn{tc: newTimedConn(c), state: st, private: private}
	uc.br = bufio.NewReaderSize(&uc.tc, upstreamBufSize)
	uc.bw = bufio.NewWriterSize(&uc.tc, upstreamBufSize)
	return uc
}

func (uc *upstreamConn) close() { uc.tc.Close() }

// idlePool keeps keep-alive connections to a pool's members for reuse by any
// client connection. Client connections also cache a few of their own (see
// httpConn.cache), so this shared pool is touched when a client connection
// starts, misses or ends, not on every request.
type idlePool struct {
	// known holds every member of the pool that may take traffic; a
	// connection to any other is closed when offered back. retain replaces
	// it whole, without the lock.
	known atomic.Pointer[map[*balancer.State]struct{}]

	mu sync.Mutex
	// conns holds the idle connections of the members that have some: what
	// the lock covers stays as small as the connections, whatever the size
	// of the pool.
	conns map[*balancer.State][]*upstreamConn
}

func newIdlePool() *idlePool {
	ip := &idlePool{conns: map[*balancer.State][]*upstreamConn{}}
	ip.known.Store(&map[*balancer.State]struct{}{})
	return ip
}

// get returns the most recently used live connection to the member, or nil.
func (ip *idlePool) get(st *balancer.State, now time.Time) *upstreamConn {
	ip.mu.Lock()
	defer ip.mu.Unlock()
	list := ip.conns[st]
	for len(list) > 0 {
		uc := list[len(list)-1]
		list = list[:len(list)-1]
		if now.Sub(uc.idleSince) < idleUpstreamTTL {
			ip.conns[st] = list
			return uc
		}
		uc.close()
	}
	if list != nil {
		delete(ip.conns, st)
	}
	return nil
}

// put offers a connection back; it is closed when the member's list is
// full or the member is gone.
func (ip *idlePool) put(uc *upstreamConn, now time.Time) {
	if uc.private {
		uc.close()
		return
	}
	uc.idleSince = now
	ip.mu.Lock()
	// known is read under the lock: retain cleans up after replacing it,
	// under the lock, so no connection to a member gone slips in.
	_, known := (*ip.known.Load())[uc.state]
	list := ip.conns[uc.state]
	if !known || len(list) >= maxIdlePerMember {
		ip.mu.Unlock()
		uc.close()
		return
	}
	ip.conns[uc.state] = append(list, uc)
	ip.mu.Unlock()
}

// retain sets the members the pool keeps connections for and closes the idle
// connections of every other member. nil closes everything. The set is
// built before the lock is taken, which then covers only the members that
// have idle connections.
func (ip *idlePool) retain(members []*balancer.Member) {
	keep := make(map[*balancer.State]struct{}, len(members))
	for _, m := range members {
		if m.Enabled && m.Weight > 0 {
			keep[m.State] = struct{}{}
		}
	}
	ip.known.Store(&keep)
	ip.mu.Lock()
	defer ip.mu.Unlock()
	for st, list := range ip.conns {
		if _, ok := keep[st]; !ok {
			for _, uc := range list {
				uc.close()
			}
			delete(ip.conns, st)
		}
	}
}

// reap closes connections idle longer than idleUpstreamTTL every
// idleUpstreamTTL until ctx is done. Without it, connections left in the
// pool when traffic stops stay open for good, most of them in CLOSE_WAIT
// once their members time them out.
func (ip *idlePool) reap(ctx context.Context) {
	t := time.NewTicker(idleUpstreamTTL)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			ip.expire(now.Add(-idleUpstreamTTL))
		}
	}
}

// expire closes the connections idle since before cutoff.
func (ip *idlePool) expire(cutoff time.Time) {
	ip.mu.Lock()
	defer ip.mu.Unlock()
	for st, list := range ip.conns {
		keep := list[:0]
		for _, uc := range list {
			if uc.idleSince.Before(cutoff) {
				uc.close()
			} else {
				keep = append(keep, uc)
			}
		}
		clear(list[len(keep):])
		if len(keep) == 0 {
			delete(ip.conns, st)
		} else {
			ip.conns[st] = keep
		}
	}
}
