package balancer

import "testing"

// TestSourceTableQuotas: every member holds its weight's share of the
// table within 1.5 slots, through joins, leaves, weight changes and growth.
func TestSourceTableQuotas(t *testing.T) {
	check := func(p *Pool, what string) {
		t.Helper()
		s := p.cur.Load().picker.(*sourceHash)
		counts := make([]int, len(s.members))
		for _, o := range s.table {
			counts[o]++
		}
		var wsum int
		for _, m := range s.members {
			wsum += m.Weight
		}
		for i, m := range s.members {
			q := float64(len(s.table)) * float64(m.Weight) / float64(wsum)
			if float64(counts[i]) < q-1.5 || float64(counts[i]) > q+1.5 {
				t.Fatalf("%s: member %s (weight %d) holds %d of %d slots, quota %.2f", what, m.ID, m.Weight, counts[i], len(s.table), q)
			}
		}
	}
	ws := make([]int, 50)
	for i := range ws {
		ws[i] = 1 + i%7
	}
	cfg := members(ws...)
	p := NewPool(SourceIP, cfg)
	check(p, "new")
	p.Update(SourceIP, cfg[5:])
	check(p, "5 left")
	cfg[10].Weight = 200
	p.Update(SourceIP, cfg)
	check(p, "5 back, one weight 200")
	p.SetHealthy("m3", false)
	check(p, "m3 down")
	big := members(make([]int, 3000)...)
	for i := range big {
		big[i].Weight = 1 + i%3
	}
	copy(big, cfg)
	p.Update(SourceIP, big)
	check(p, "grown to 3000")
	if n := len(p.cur.Load().picker.(*sourceHash).table); n < slotsPerMember*3000 {
		t.Fatalf("table of %d slots for 3000 members", n)
	}
}
