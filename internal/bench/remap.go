package bench

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"lbd/internal/loadgen"
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
	t := loadgen.Target{Addr: b.target(), Path: s.Path, Clients: s.Remap.Clients, Timeout: s.Timeout}
	ask := func() ([]int, error) { return askAll(ctx, t, s.memberNames()) }
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

// askAll has each of t's clients make one request, on a fresh connection,
// and returns the index of the member that answered each (-1: none).
func askAll(ctx context.Context, t loadgen.Target, names []string) ([]int, error) {
	n := t.Clients
	out := make([]int, n)
	var wg sync.WaitGroup
	next := make(chan int)
	for range min(n, 16) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range next {
				out[c] = -1
				if _, backend, err := loadgen.Ask(ctx, t, c); err == nil {
					out[c] = slices.Index(names, backend)
				}
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
