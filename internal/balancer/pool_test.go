package balancer

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"sync"
	"testing"
)

func members(weights ...int) []MemberConfig {
	out := make([]MemberConfig, len(weights))
	for i, w := range weights {
		out[i] = MemberConfig{
			ID:      fmt.Sprintf("m%d", i),
			Addr:    netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), uint16(9000+i)),
			Weight:  w,
			Enabled: true,
		}
	}
	return out
}

// client returns a distinct client address for i: 127.x.y.z.
func client(i int) netip.AddrPort {
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, byte(i >> 16), byte(i >> 8), byte(i)}), uint16(40000+i%20000))
}

var allAlgorithms = []Algorithm{RoundRobin, LeastConnections, SourceIP, SourceIPPort}

// TestDistributionFollowsWeights: over 10,000 picks every algorithm gives
// each member a share within tolerance of its weight.
func TestDistributionFollowsWeights(t *testing.T) {
	weightSets := [][]int{{1, 1}, {1, 1, 1, 1}, {5, 3, 2}, {1, 10}, {256, 1, 0, 7}}
	for _, alg := range allAlgorithms {
		for _, ws := range weightSets {
			t.Run(fmt.Sprintf("%s/%v", alg, ws), func(t *testing.T) {
				t.Parallel()
				p := NewPool(alg, members(ws...))
				const picks = 10000
				counts := map[string]int{}
				for i := range picks {
					m, err := p.Pick(client(i))
					if err != nil {
						t.Fatal(err)
					}
					counts[m.ID]++
					// LEAST_CONNECTIONS balances what is in flight: hold every
					// connection open so the in-flight counts are the shares.
					if alg != LeastConnections {
						m.Release()
					}
				}
				total := 0
				for _, w := range ws {
					total += w
				}
				// Deterministic algorithms are exact up to rounding; the hashes
				// are random per client, so allow a few standard deviations.
				tol := 0.01
				if alg == SourceIP || alg == SourceIPPort {
					tol = 0.03
				}
				for i, w := range ws {
					want := float64(w) / float64(total)
					got := float64(counts[fmt.Sprintf("m%d", i)]) / picks
					if math.Abs(got-want) > tol {
						t.Errorf("member %d (weight %d): share %.4f, want %.4f±%.2f", i, w, got, want, tol)
					}
				}
			})
		}
	}
}

// TestRoundRobinIsSmooth: a heavy member's picks are spread across the cycle,
// not sent in a burst.
func TestRoundRobinIsSmooth(t *testing.T) {
	p := NewPool(RoundRobin, members(5, 1, 1))
	run, maxRun := 0, 0
	var last string
	for i := range 700 {
		m, _ := p.Pick(client(i))
		m.Release()
		if m.ID == last {
			run++
		} else {
			run = 1
		}
		last = m.ID
		maxRun = max(maxRun, run)
	}
	// A naive weighted round robin sends 5 in a row to the heavy member.
	if maxRun > 3 {
		t.Errorf("longest run to one member = %d, want at most 3", maxRun)
	}
}

func TestLongCycleFallback(t *testing.T) {
	// Weights whose cycle is too long to precompute use the stride fallback.
	ws := make([]int, 600)
	for i := range ws {
		ws[i] = 256 - i%200
	}
	testOneCycle(t, ws)
	big := make([]int, 10000)
	for i := range big {
		big[i] = 1 + i%7
	}
	testOneCycle(t, big)
}

// testOneCycle checks that one cycle of a weighted pool picks every member
// as many times as its weight.
func testOneCycle(t *testing.T, ws []int) {
	t.Helper()
	p := NewPool(RoundRobin, members(ws...))
	if rr := p.cur.Load().picker.(*roundRobin); rr.cum == nil {
		t.Fatal("expected the stride fallback for a long cycle")
	}
	counts := make([]int, len(ws))
	var total int
	for _, w := range ws {
		total += w
	}
	for i := range total { // exactly one cycle
		m, _ := p.Pick(client(i))
		m.Release()
		var idx int
		fmt.Sscanf(m.ID, "m%d", &idx)
		counts[idx]++
	}
	for i, w := range ws {
		if counts[i] != w {
			t.Fatalf("member %d: %d picks in one cycle, want %d", i, counts[i], w)
		}
	}
}

// TestLeastConnectionsFollowsInFlight: with requests held open, new picks go
// to the least loaded member per unit of weight.
func TestLeastConnectionsFollowsInFlight(t *testing.T) {
	p := NewPool(LeastConnections, members(1, 1, 2))
	var held []*Member
	for range 40 {
		m, err := p.Pick(client(0))
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, m)
	}
	// 40 held over weights 1:1:2 → 10, 10, 20 in flight, give or take one.
	ms := p.Members()
	for i, want := range []int64{10, 10, 20} {
		if got := ms[i].Active(); got < want-1 || got > want+1 {
			t.Fatalf("in flight = %d %d %d, want about 10 10 20", ms[0].Active(), ms[1].Active(), ms[2].Active())
		}
	}
	// Release five of member 0's: it is now the least loaded and takes the next five.
	released := 0
	for i, m := range held {
		if m.ID == "m0" && released < 5 {
			m.Release()
			held[i] = nil
			released++
		}
	}
	for range 5 {
		m, _ := p.Pick(client(0))
		if m.ID != "m0" {
			t.Fatalf("picked %s, want m0 (fewest in flight)", m.ID)
		}
	}
}

// TestLeastConnectionsTiesRotate: equally loaded members take turns, and
// among members of different weights whose loads per weight tie, the one
// picked longest ago goes first.
func TestLeastConnectionsTiesRotate(t *testing.T) {
	p := NewPool(LeastConnections, members(1, 1, 1, 1, 1))
	seen := map[string]int{}
	for i := range 50 {
		m, _ := p.Pick(client(i))
		m.Release()
		seen[m.ID]++
		if i%5 == 4 && len(seen) != 5 {
			t.Fatalf("after %d picks of an idle pool, %d members had one: %v", i+1, len(seen), seen)
		}
		if i%5 == 4 {
			clear(seen)
		}
	}
	// An idle pool prefers its heaviest members, in turn.
	p = NewPool(LeastConnections, members(1, 3, 3))
	var got []string
	for i := range 6 {
		m, _ := p.Pick(client(i))
		m.Release()
		got = append(got, m.ID)
	}
	if fmt.Sprint(got) != "[m1 m2 m1 m2 m1 m2]" {
		t.Fatalf("idle picks went to %v, want m1 and m2 in turn", got)
	}
	// Held: weight 3 takes three for every one of weight 1.
	p = NewPool(LeastConnections, members(1, 3))
	counts := map[string]int{}
	for i := range 40 {
		m, _ := p.Pick(client(i))
		counts[m.ID]++
	}
	if counts["m0"] != 10 || counts["m1"] != 30 {
		t.Fatalf("40 held picks over weights 1:3 went %v", counts)
	}
}

// TestLeastConnectionsAcrossChanges: in-flight counts keep steering picks
// through updates that drain, restore and reweigh members, and releases
// through *Member values from before an update reach the current order.
func TestLeastConnectionsAcrossChanges(t *testing.T) {
	cfg := members(1, 1, 1)
	p := NewPool(LeastConnections, cfg)
	var held []*Member
	for i := range 30 {
		m, _ := p.Pick(client(i))
		held = append(held, m)
	}
	p.Update(LeastConnections, members(0, 1, 1)) // m0 drains, holding 10
	p.Update(RoundRobin, cfg)                    // another algorithm for a while
	p.Update(LeastConnections, members(1, 1, 2)) // m0 back, m2 reweighed
	// In flight 10, 10, 10; m2 has weight 2: it takes the next 10 alone.
	for i := range 10 {
		m, _ := p.Pick(client(i))
		if m.ID != "m2" {
			t.Fatalf("pick %d went to %s, want m2 (lowest load per weight)", i, m.ID)
		}
		held = append(held, m)
	}
	// Releasing m1's old *Member values makes m1 the least loaded.
	for _, m := range held {
		if m.ID == "m1" {
			m.Release()
		}
	}
	if m, _ := p.Pick(client(0)); m.ID != "m1" {
		t.Fatalf("after m1's releases the pick went to %s", m.ID)
	}
	p.SetHealthy("m1", false)
	for range 5 {
		if m, _ := p.Pick(client(0)); m.ID == "m1" {
			t.Fatal("picked m1 while it is down")
		}
	}
}

// TestSourceIPSticky: one client keeps its member over many picks.
func TestSourceIPSticky(t *testing.T) {
	for _, alg := range []Algorithm{SourceIP, SourceIPPort} {
		p := NewPool(alg, members(1, 1, 1, 1, 1))
		for c := range 200 {
			first, _ := p.Pick(client(c))
			first.Release()
			for range 20 {
				m, _ := p.Pick(client(c))
				m.Release()
				if m.ID != first.ID {
					t.Fatalf("%s: client %d moved from %s to %s with no membership change", alg, c, first.ID, m.ID)
				}
			}
		}
	}
	// SOURCE_IP ignores the port; SOURCE_IP_PORT does not.
	p := NewPool(SourceIP, members(1, 1, 1, 1, 1))
	a := netip.MustParseAddr("127.0.0.9")
	first, _ := p.Pick(netip.AddrPortFrom(a, 1000))
	for port := uint16(1001); port < 1100; port++ {
		if m, _ := p.Pick(netip.AddrPortFrom(a, port)); m.ID != first.ID {
			t.Fatalf("SOURCE_IP moved a client when only its port changed")
		}
	}
}

// TestSourceIPMovesAboutOneNth measures the share of clients that move when
// one of N members leaves, comes back or joins a running pool: only the
// clients of the member that changed move, about 1/N, and a member that
// comes back gets every one of its clients back. A restart rebuilds the
// table from the members alone (Maglev): that moves more, which is logged.
func TestSourceIPMovesAboutOneNth(t *testing.T) {
	const clients = 20000
	for _, n := range []int{3, 5, 10, 20, 100, 1000} {
		ws := make([]int, n+1)
		for i := range ws {
			ws[i] = 1 + i%3
		}
		cfg := members(ws...)
		newcomer := cfg[n]
		cfg = cfg[:n]
		p := NewPool(SourceIP, cfg)
		before := make([]string, clients)
		for c := range clients {
			m, _ := p.Pick(client(c))
			m.Release()
			before[c] = m.ID
		}
		// diff picks every client again and returns how many moved; each
		// move must be allowed by ok(from, to).
		diff := func(what string, ok func(from, to string) bool) (moved int, now []string) {
			t.Helper()
			now = make([]string, clients)
			for c := range clients {
				m, _ := p.Pick(client(c))
				m.Release()
				now[c] = m.ID
				if m.ID != before[c] {
					moved++
					if !ok(before[c], m.ID) {
						t.Fatalf("n=%d, %s: client %d moved from %s to %s", n, what, c, before[c], m.ID)
					}
				}
			}
			return moved, now
		}
		onM0 := 0
		for _, id := range before {
			if id == "m0" {
				onM0++
			}
		}
		for _, leave := range []struct {
			name        string
			out, backIn func()
		}{
			{"removed", func() { p.Update(SourceIP, cfg[1:]) }, func() { p.Update(SourceIP, cfg) }},
			{"down", func() { p.SetHealthy("m0", false) }, func() { p.SetHealthy("m0", true) }},
		} {
			leave.out()
			moved, _ := diff("m0 "+leave.name, func(from, _ string) bool { return from == "m0" })
			if moved != onM0 {
				t.Errorf("n=%d, m0 %s: %d clients moved, m0 had %d", n, leave.name, moved, onM0)
			}
			leave.backIn()
			if back, _ := diff("m0 back", func(string, string) bool { return false }); back != 0 {
				t.Errorf("n=%d, m0 back: %d clients are not on their member", n, back)
			}
		}
		frac := float64(onM0) / clients
		want := float64(ws[0]) / float64(sum(ws[:n]))
		if math.Abs(frac-want) > 0.02 {
			t.Errorf("n=%d: %.4f moved when m0 left, want about %.4f (its weight's share)", n, frac, want)
		}
		// A member joins: only clients that go to it move.
		p.Update(SourceIP, append(cfg[:n:n], newcomer))
		joined, _ := diff("join", func(_, to string) bool { return to == newcomer.ID })
		t.Logf("n=%d: %.4f of clients moved when one member left (its share %.4f), %.4f when one joined; all came back when it returned",
			n, frac, want, float64(joined)/clients)

		// A restart with one member less: a fresh table.
		fresh := NewPool(SourceIP, cfg[1:])
		restart := 0
		for c := range clients {
			m, _ := fresh.Pick(client(c))
			if m.ID != before[c] {
				restart++
			}
		}
		t.Logf("n=%d: a restart without m0 moves %.4f of clients (%.1f× its share)", n, float64(restart)/clients, float64(restart)/float64(onM0))
	}
}

func sum(ws []int) int {
	t := 0
	for _, w := range ws {
		t += w
	}
	return t
}

// TestHealthAndHealthDrain covers weight 0, disabled, unhealthy and backups.
func TestReadySet(t *testing.T) {
	cfg := members(1, 0, 1, 1, 1)
	cfg[2].Enabled = false
	cfg[3].Backup = true
	cfg[4].Backup = true
	p := NewPool(RoundRobin, cfg)
	// Only m0 is a ready primary: weight-0 m1 drains, m2 is disabled.
	for i := range 50 {
		m, _ := p.Pick(client(i))
		m.Release()
		if m.ID != "m0" {
			t.Fatalf("picked %s, want only m0", m.ID)
		}
	}
	// m0 goes down: both backups serve together (option allbackups).
	p.SetHealthy("m0", false)
	seen := map[string]int{}
	for i := range 100 {
		m, _ := p.Pick(client(i))
		m.Release()
		seen[m.ID]++
	}
	if len(seen) != 2 || seen["m3"] != 50 || seen["m4"] != 50 {
		t.Fatalf("with primaries down picks were %v, want m3 and m4 evenly", seen)
	}
	// Backups down too: the sentinel error.
	p.SetHealthy("m3", false)
	p.SetHealthy("m4", false)
	if _, err := p.Pick(client(0)); !errors.Is(err, ErrNoMember) {
		t.Fatalf("err = %v, want ErrNoMember", err)
	}
	// m0 recovers: primaries again.
	p.SetHealthy("m0", true)
	if m, err := p.Pick(client(0)); err != nil || m.ID != "m0" {
		t.Fatalf("after recovery got %v, %v", m, err)
	}
}

// TestUpdateKeepsState: an update keeps the live state of surviving members
// and a drained member keeps its in-flight count.
func TestUpdateKeepsState(t *testing.T) {
	p := NewPool(RoundRobin, members(1, 1))
	var held *Member
	for held == nil {
		m, _ := p.Pick(client(1))
		if m.ID == "m0" {
			held = m
		} else {
			m.Release()
		}
	}
	p.SetHealthy("m1", false)
	cfg := members(0, 1, 1) // m0 drained, m2 new
	p.Update(RoundRobin, cfg)
	ms := p.Members()
	if ms[0].State != held.State || ms[0].Active() != 1 {
		t.Fatalf("m0 lost its state across the update")
	}
	if ms[1].Healthy() {
		t.Fatalf("m1 lost its health state across the update")
	}
	if !ms[2].Healthy() || ms[2].Active() != 0 {
		t.Fatalf("new member m2 should start healthy and idle")
	}
	for i := range 20 {
		m, _ := p.Pick(client(i))
		m.Release()
		if m.ID != "m2" {
			t.Fatalf("picked %s; only m2 is ready", m.ID)
		}
	}
	held.Release()
	if ms[0].Active() != 0 {
		t.Fatalf("release through an old *Member did not reach the shared state")
	}
}

func TestPickExceptAvoidsFailed(t *testing.T) {
	for _, alg := range allAlgorithms {
		p := NewPool(alg, members(1, 1, 1))
		for c := range 100 {
			first, _ := p.Pick(client(c))
			first.Release()
			m, _ := p.PickExcept(client(c), first)
			m.Release()
			if m.ID == first.ID {
				t.Fatalf("%s: PickExcept returned the failed member %s", alg, m.ID)
			}
		}
	}
}

func TestPickAllocatesNothing(t *testing.T) {
	for _, alg := range allAlgorithms {
		for _, ws := range [][]int{{1, 1}, {3, 1, 2}} {
			p := NewPool(alg, members(ws...))
			src := client(7)
			allocs := testing.AllocsPerRun(1000, func() {
				m, err := p.Pick(src)
				if err != nil {
					t.Fatal(err)
				}
				m.Release()
			})
			if allocs != 0 {
				t.Errorf("%s %v: %v allocations per pick", alg, ws, allocs)
			}
		}
	}
}

// TestConcurrentPicksAndChanges is for -race: picks from many goroutines
// while membership, weights and health change underneath.
func TestConcurrentPicksAndChanges(t *testing.T) {
	for _, alg := range allAlgorithms {
		p := NewPool(alg, members(1, 2, 3))
		var wg sync.WaitGroup
		stop := make(chan struct{})
		for g := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					if m, err := p.Pick(client(g*1000 + i%1000)); err == nil {
						m.Release()
					}
				}
			}()
		}
		for i := range 200 {
			p.SetHealthy(fmt.Sprintf("m%d", i%3), i%2 == 0)
			if i%10 == 0 {
				p.Update(alg, members(1+i%3, 2, 3, i%4))
			}
		}
		close(stop)
		wg.Wait()
		for _, m := range p.Members() {
			if m.Active() != 0 {
				t.Errorf("%s: member %s has %d in flight after all releases", alg, m.ID, m.Active())
			}
		}
	}
}

func BenchmarkPick(b *testing.B) {
	for _, alg := range allAlgorithms {
		for _, n := range []int{2, 16, 1000, 10000} {
			for _, weighted := range []bool{false, true} {
				ws := make([]int, n)
				for i := range ws {
					ws[i] = 1
					if weighted {
						ws[i] = 1 + i%7
					}
				}
				name := fmt.Sprintf("%s/n=%d", alg, n)
				if weighted {
					name += "/weighted"
				}
				b.Run(name, func(b *testing.B) {
					p := NewPool(alg, members(ws...))
					src := client(42)
					b.ReportAllocs()
					for b.Loop() {
						m, _ := p.Pick(src)
						m.Release()
					}
				})
			}
		}
	}
}

func BenchmarkPickParallel(b *testing.B) {
	for _, alg := range allAlgorithms {
		b.Run(alg.String(), func(b *testing.B) {
			p := NewPool(alg, members(1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1))
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				src := client(42)
				for pb.Next() {
					m, _ := p.Pick(src)
					m.Release()
				}
			})
		})
	}
}

// TestTakePeakActive: the peak in flight since the last read is exact
// however the picks and releases interleave with the reads, and a read
// starts the next interval from what is in flight then.
func TestTakePeakActive(t *testing.T) {
	p := NewPool(RoundRobin, members(1))
	var held []*Member
	pick := func(n int) {
		for range n {
			m, err := p.Pick(client(0))
			if err != nil {
				t.Fatal(err)
			}
			held = append(held, m)
		}
	}
	release := func(n int) {
		for range n {
			held[len(held)-1].Release()
			held = held[:len(held)-1]
		}
	}
	st := p.Members()[0].State
	pick(5)
	release(4)
	if got := st.TakePeakActive(); got != 5 {
		t.Errorf("peak %d after 5 picks and 4 releases, want 5", got)
	}
	if got := st.TakePeakActive(); got != 1 {
		t.Errorf("peak %d with one in flight and nothing since, want 1", got)
	}
	release(1)
	pick(2)
	release(2)
	p.Members()[0].Acquire()
	if got := st.TakePeakActive(); got != 2 {
		t.Errorf("peak %d after 2 picks, 2 releases and an Acquire, want 2", got)
	}

	// Concurrent picks: 4 goroutines each holding up to 3 at a time can
	// never exceed 12 (13 with the Acquire), and one alone reaches 3.
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 1000 {
				var ms []*Member
				for range 3 {
					m, _ := p.Pick(client(1))
					ms = append(ms, m)
				}
				for _, m := range ms {
					m.Release()
				}
			}
		}()
	}
	wg.Wait()
	p.Members()[0].Release()
	if got := st.TakePeakActive(); got < 3 || got > 13 {
		t.Errorf("peak %d from 4 goroutines holding 3 each (and one Acquire), want 3..13", got)
	}
}
