package metrics

import "testing"

// TestReadsSayWhatSameSays: a member family that names the counters it
// reads (memberFamily.reads) is unchanged, by changedCounts, exactly when
// its own same says so, whichever one of a member's counters or other
// values moved; and a family that reads a counter it does not name would
// be caught here.
func TestReadsSayWhatSameSays(t *testing.T) {
	moves := map[string]func(v *memberView){
		"active":       func(v *memberView) { v.n.active++ },
		"sessions":     func(v *memberView) { v.n.sessions++ },
		"picks":        func(v *memberView) { v.n.picks++ },
		"attempts":     func(v *memberView) { v.n.attempts++ },
		"bytesIn":      func(v *memberView) { v.n.bytesIn++ },
		"bytesOut":     func(v *memberView) { v.n.bytesOut++ },
		"connErrors":   func(v *memberView) { v.n.connErrors++ },
		"retries":      func(v *memberView) { v.n.retries++ },
		"redispatches": func(v *memberView) { v.n.redispatches++ },
		"clientAborts": func(v *memberView) { v.n.clientAborts++ },
		"memberAborts": func(v *memberView) { v.n.memberAborts++ },
		"reuses":       func(v *memberView) { v.n.reuses++ },
		"requests":     func(v *memberView) { v.n.requests++ },
		"responses0":   func(v *memberView) { v.n.responses[0]++ },
		"responses5":   func(v *memberView) { v.n.responses[len(v.n.responses)-1]++ },
		"downs":        func(v *memberView) { v.n.downs++ },
		"weight":       func(v *memberView) { v.weight++ },
		"idle":         func(v *memberView) { v.idle++ },
		"checksFailed": func(v *memberView) { v.checksFailed++ },
		"ejections":    func(v *memberView) { v.ejections++ },
		"status":       func(v *memberView) { v.status = "DOWN" },
	}
	named := 0
	for _, s := range memberSeries {
		if s.reads == 0 {
			continue
		}
		named++
		for what, move := range moves {
			for _, at := range []int{0, 2} {
				a := make([]memberView, 3)
				for i := range a {
					a[i] = memberView{id: "m", http: true, monitor: true, health: true, status: "UP", weight: 1}
					a[i].n.sessions = uint64(10 * i)
				}
				b := append([]memberView(nil), a...)
				move(&b[at])
				want := s.same(a, b)
				if got := s.unchanged(changedCounts(a, b), a, b); got != want {
					t.Errorf("%s, %s moved (member %d): unchanged %v, same says %v", s.f.name, what, at, got, want)
				}
			}
		}
	}
	if named < 10 {
		t.Fatalf("%d families name what they read, want the counters'", named)
	}
}
