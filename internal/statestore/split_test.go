package statestore_test

import (
	"fmt"
	"strings"
	"testing"

	"lbd/internal/statestore"
)

func TestSplit(t *testing.T) {
	render := func(parts []statestore.Txn) string {
		var out []string
		for _, p := range parts {
			var b strings.Builder
			for _, c := range p.If {
				fmt.Fprintf(&b, "?%s@%d ", c.Key, c.ModRev)
			}
			for _, op := range p.Ops {
				if op.Delete {
					b.WriteString("-" + op.Key + " ")
				} else {
					b.WriteString("+" + op.Key + " ")
				}
			}
			out = append(out, strings.TrimSpace(b.String()))
		}
		return strings.Join(out, " | ")
	}
	txn := statestore.Txn{
		If: []statestore.Cond{{Key: "lb/a", ModRev: 3}, {Key: "lb/b"}, {Key: "format", ModRev: 1}},
		Ops: []statestore.Op{statestore.Put("lb/a", []byte("12345")), statestore.Put("lb/b", []byte("12345")),
			statestore.Delete("lb/c"), statestore.Put("x", []byte("1"))},
	}
	for _, tc := range []struct {
		l    statestore.Limits
		want string
	}{
		{statestore.Limits{}, "?lb/a@3 ?lb/b@0 ?format@1 +lb/a +lb/b -lb/c +x"},
		{statestore.Limits{MaxOps: 100}, "?lb/a@3 ?lb/b@0 ?format@1 +lb/a +lb/b -lb/c +x"},
		// Each put with its condition is 2 operations; the condition on
		// a key nothing changes goes with the first part.
		{statestore.Limits{MaxOps: 3}, "?lb/a@3 ?format@1 +lb/a | ?lb/b@0 +lb/b -lb/c | +x"},
		// lb/a with its condition costs 4+5+4 = 13 bytes; lb/b, lb/c and
		// x together 19.
		{statestore.Limits{MaxBytes: 20}, "?lb/a@3 ?format@1 +lb/a | ?lb/b@0 +lb/b -lb/c +x"},
		// An operation over the limit alone is left alone, for the store
		// to refuse.
		{statestore.Limits{MaxBytes: 5}, "?lb/a@3 ?format@1 +lb/a | ?lb/b@0 +lb/b | -lb/c | +x"},
	} {
		if got := render(statestore.Split(txn, tc.l)); got != tc.want {
			t.Errorf("Split(%+v) =\n %s\nwant\n %s", tc.l, got, tc.want)
		}
	}
}
