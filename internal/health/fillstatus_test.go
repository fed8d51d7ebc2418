package health

import (
	"errors"
	"net/netip"
	"reflect"
	"testing"
	"testing/synctest"
	"time"
)

// FillStatus writes what Status returns, member by member, into the
// caller's storage, stops at n, and allocates nothing.
func TestFillStatusIsStatus(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const delay = 10 * time.Second
		// m1 passes, m2 fails, m3 fails once then passes: the members differ
		// in every counter FillStatus copies.
		results := map[netip.AddrPort]string{target(1).Addr: "P", target(2).Addr: "F", target(3).Addr: "FP"}
		result := func(a netip.AddrPort, n int) (time.Duration, error) {
			if seq := results[a]; seq[min(n, len(seq)-1)] == 'F' {
				return 0, errors.New("scripted failure")
			}
			return time.Duration(n+1) * time.Millisecond, nil
		}
		f := startFixture(t, result, tcpConfig(delay, time.Second, 1, 1), target(1), target(2), target(3))
		time.Sleep(3 * delay)
		synctest.Wait()
		f.stop()

		want := f.mon.Status()
		if len(want) != 3 || want[0].Up == want[1].Up || want[1].ChecksFailed == want[2].ChecksFailed {
			t.Fatalf("Status = %+v, want three members in different states", want)
		}
		got := make([]MemberState, 5)
		at := func(i int) *MemberState { return &got[i] }
		if n := f.mon.FillStatus(len(got), at); n != 3 {
			t.Fatalf("FillStatus(5) wrote %d members, want 3", n)
		}
		if !reflect.DeepEqual(got[:3], want) {
			t.Fatalf("FillStatus wrote\n%+v\nStatus returns\n%+v", got[:3], want)
		}
		if got[3] != (MemberState{}) || got[4] != (MemberState{}) {
			t.Fatalf("FillStatus wrote past the monitor's members: %+v", got[3:])
		}

		// Storage reused from an earlier read is overwritten, and only as
		// far as n.
		got = []MemberState{{ID: "stale", Ejected: true, ChecksFailed: 99}, {ID: "kept"}}
		if n := f.mon.FillStatus(1, at); n != 1 {
			t.Fatalf("FillStatus(1) wrote %d members, want 1", n)
		}
		if !reflect.DeepEqual(got[0], want[0]) || got[1].ID != "kept" {
			t.Fatalf("FillStatus(1) left %+v, want %+v then the untouched second", got, want[0])
		}

		got = make([]MemberState, 3)
		if a := testing.AllocsPerRun(100, func() { f.mon.FillStatus(len(got), at) }); a != 0 {
			t.Errorf("FillStatus of 3 members allocates %v times, want 0", a)
		}
	})
}
