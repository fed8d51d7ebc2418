package balancer

import (
	"net/netip"
	"testing"
)

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

// TestSourceIPMovesOneNthAt10k states the movement at 10,000 members from
// the tables themselves (every slot is an equal share of the clients, so
// the share of slots that change owner is the share of clients that move):
// when one member leaves, only its slots move, and they are about 1/N of
// the table; when it comes back it gets exactly those slots back; when a
// new member joins, only the slots it takes move.
func TestSourceIPMovesOneNthAt10k(t *testing.T) {
	const n = 10000
	ws := make([]int, n+1)
	for i := range ws {
		ws[i] = 1
	}
	cfg := members(ws...)
	newcomer := cfg[n]
	cfg = cfg[:n]
	p := NewPool(SourceIP, cfg)
	owners := func() []string {
		h := p.hash
		out := make([]string, len(h.table))
		for i, o := range h.table {
			out[i] = h.members[o].ID
		}
		return out
	}
	before := owners()
	compare := func(what string, ok func(from, to string) bool) int {
		t.Helper()
		now := owners()
		if len(now) != len(before) {
			t.Fatalf("%s: the table went from %d to %d slots", what, len(before), len(now))
		}
		moved := 0
		for i := range now {
			if now[i] != before[i] {
				moved++
				if !ok(before[i], now[i]) {
					t.Fatalf("%s: slot %d moved from %s to %s", what, i, before[i], now[i])
				}
			}
		}
		return moved
	}
	const leaver = "m5000"
	held := 0
	for _, id := range before {
		if id == leaver {
			held++
		}
	}
	slots := float64(len(before))
	p.SetHealthy(leaver, false)
	moved := compare("leave", func(from, _ string) bool { return from == leaver })
	if moved != held {
		t.Errorf("leave: %d slots moved, %s held %d", moved, leaver, held)
	}
	if f := float64(moved) / slots; f < 0.5/n || f > 1.5/n {
		t.Errorf("leave: %.6f of the clients moved, want about 1/N = %.6f", f, 1.0/n)
	}
	p.SetHealthy(leaver, true)
	if back := compare("back", func(string, string) bool { return false }); back != 0 {
		t.Errorf("back: %d slots are not on their member", back)
	}
	p.Update(SourceIP, append(cfg[:n:n], newcomer))
	joined := compare("join", func(_, to string) bool { return to == newcomer.ID })
	if f := float64(joined) / slots; f < 0.5/(n+1) || f > 1.5/(n+1) {
		t.Errorf("join: %.6f of the clients moved, want about 1/(N+1) = %.6f", f, 1.0/(n+1))
	}
	t.Logf("%d members, %d slots: %.6f of the clients moved when one left (1/N = %.6f, %.2f×), %.6f when one joined (1/(N+1) = %.6f, %.2f×); all came back when it returned",
		n, len(before), float64(moved)/slots, 1.0/n, float64(moved)/slots*n, float64(joined)/slots, 1.0/(n+1), float64(joined)/slots*(n+1))
}

// TestSourceHashSpreadsStructuredClients: the slot hash spreads clients that
// differ in a few bits only (a /24, the /24s of a /16, the hosts of an IPv6
// /64, one address's ports) evenly over 64 buckets of the slot bits, and an
// IPv4-mapped IPv6 client lands where its IPv4 address does.
func TestSourceHashSpreadsStructuredClients(t *testing.T) {
	const buckets = 64
	sets := map[string][]netip.AddrPort{}
	for i := range 4096 {
		sets["10.1.0.0/20 hosts"] = append(sets["10.1.0.0/20 hosts"], netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}), 80))
		sets["/24s of 10.0.0.0/8, host .1"] = append(sets["/24s of 10.0.0.0/8, host .1"], netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 1}), 80))
		a6 := netip.MustParseAddr("2001:db8::").As16()
		a6[14], a6[15] = byte(i>>8), byte(i)
		sets["2001:db8::/116 hosts"] = append(sets["2001:db8::/116 hosts"], netip.AddrPortFrom(netip.AddrFrom16(a6), 80))
		a6 = netip.MustParseAddr("2001:db8::1").As16()
		a6[6], a6[7] = byte(i>>8), byte(i)
		sets["the /64s of a /48, host ::1"] = append(sets["the /64s of a /48, host ::1"], netip.AddrPortFrom(netip.AddrFrom16(a6), 80))
		sets["the /16s of 0.0.0.0/0, .0.1"] = append(sets["the /16s of 0.0.0.0/0, .0.1"], netip.AddrPortFrom(netip.AddrFrom4([4]byte{byte(i >> 4), byte(i << 4), 0, 1}), 80))
		a6 = netip.MustParseAddr("::1").As16()
		a6[0], a6[1] = byte(i>>8), byte(i)
		sets["the /16s of ::/0, host ::1"] = append(sets["the /16s of ::/0, host ::1"], netip.AddrPortFrom(netip.AddrFrom16(a6), 80))
		a6 = netip.MustParseAddr("2001:db8::1").As16()
		a6[8], a6[9] = byte(i>>8), byte(i)
		sets["2001:db8::X:0:0:1"] = append(sets["2001:db8::X:0:0:1"], netip.AddrPortFrom(netip.AddrFrom16(a6), 80))
		sets["ports of 192.0.2.7"] = append(sets["ports of 192.0.2.7"], netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 0, 2, 7}), uint16(30000+i)))
	}
	for _, withPort := range []bool{false, true} {
		s := &sourceHash{shift: 64 - 6, withPort: withPort, table: make([]uint32, buckets)}
		for i := range s.table {
			s.table[i] = uint32(i)
		}
		for name, clients := range sets {
			if name == "ports of 192.0.2.7" && !withPort {
				continue
			}
			var counts [buckets]float64
			for _, c := range clients {
				counts[s.slot(c)]++
			}
			// Chi-square with 63 degrees of freedom: 0.1% of uniform
			// samples exceed 103.4.
			exp := float64(len(clients)) / buckets
			chi := 0.0
			for _, c := range counts {
				chi += (c - exp) * (c - exp) / exp
			}
			if chi > 103.4 {
				t.Errorf("withPort=%v, %s: chi-square %.1f over %d buckets (uniform: below 103.4)", withPort, name, chi, buckets)
			}
		}
	}
	v4 := netip.AddrPortFrom(netip.MustParseAddr("198.51.100.9"), 5000)
	mapped := netip.AddrPortFrom(netip.AddrFrom16(v4.Addr().As16()), 5000)
	if hashAddr(v4.Addr()) != hashAddr(mapped.Addr()) {
		t.Errorf("%v and %v hash apart", v4, mapped)
	}
}
