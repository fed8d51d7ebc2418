package bench

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"
)

// probeRemap measures how many clients SOURCE_IP moves when a member
// leaves the pool and comes back: Remap.Clients source addresses each make
// one request per phase (before, member removed by a live reload, member
// restored) and the answering members are compared. Rendezvous hashing
// should move only the clients the member had, and put every one of them
// back when it returns.
func probeRemap(ctx context.Context, b *bed) (*RemapResult, error) {
	s := b.s
	name := s.RemapMember()
	idx := s.member(name)
	names := make([]string, len(s.Members))
	for i, m := range s.Members {
		names[i] = m.Name
	}
	ask := func() ([]int, error) { return askAll(ctx, b.target(), s.Path, names, s.Remap.Clients, s.Timeout) }
	before, err := ask()
	if err != nil {
		return nil, err
	}
	if err := b.change(ctx, func(ps *poolState) { ps.absent[idx] = true }); err != nil {
		return nil, err
	}
	left, err := ask()
	if err != nil {
		return nil, err
	}
	if err := b.change(ctx, func(ps *poolState) { ps.absent[idx] = false }); err != nil {
		return nil, err
	}
	back, err := ask()
	if err != nil {
		return nil, err
	}
	res := &RemapResult{Member: name, Clients: s.Remap.Clients}
	var onMember, leave, ret, orig, n int
	for c := range before {
		if before[c] < 0 || left[c] < 0 || back[c] < 0 {
			continue // counted out: the probe failed for this client
		}
		n++
		if before[c] == idx {
			onMember++
		}
		if left[c] != before[c] {
			leave++
		}
		if back[c] != left[c] {
			ret++
		}
		if back[c] == before[c] {
			orig++
		}
	}
	if n == 0 {
		return nil, fmt.Errorf("remap probe: no client got an answer from a member")
	}
	f := func(k int) float64 { return float64(k) / float64(n) }
	res.OnMember, res.MovedOnLeave, res.MovedOnReturn, res.BackToOrigin = f(onMember), f(leave), f(ret), f(orig)
	return res, nil
}

// askAll has clients 0..n-1 make one request each, on a fresh connection,
// and returns the index of the member that answered each (-1: none).
func askAll(ctx context.Context, target, path string, names []string, n int, timeout time.Duration) ([]int, error) {
	out := make([]int, n)
	req := []byte("GET " + path + " HTTP/1.1\r\nHost: lbctl-bench\r\nConnection: close\r\n\r\n")
	var wg sync.WaitGroup
	next := make(chan int)
	for range min(n, 16) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range next {
				out[c] = askOnce(ctx, target, clientAddr(c), req, names, timeout)
			}
		}()
	}
	for c := range n {
		select {
		case next <- c:
		case <-ctx.Done():
		}
	}
	close(next)
	wg.Wait()
	return out, ctx.Err()
}

func askOnce(ctx context.Context, target string, src netip.Addr, req []byte, names []string, timeout time.Duration) int {
	d := net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(src, 0)), Timeout: timeout}
	c, err := d.DialContext(ctx, "tcp", target)
	if err != nil {
		return -1
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(timeout))
	if _, err := c.Write(req); err != nil {
		return -1
	}
	r, err := readResponse(bufio.NewReader(c), names)
	if err != nil {
		return -1
	}
	return r.member
}
