package client

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// diff collects the names of attributes whose wanted and current values
// differ, with both values, for Apply's report.
type diff []string

func (d diff) String() string { return strings.Join(d, ", ") }

func (d *diff) str(field, want, have string) {
	if want != have {
		*d = append(*d, fmt.Sprintf("%s %q -> %q", field, have, want))
	}
}

func (d *diff) num(field string, want, have int) {
	if want != have {
		*d = append(*d, fmt.Sprintf("%s %d -> %d", field, have, want))
	}
}

func (d *diff) flag(field string, want, have bool) {
	if want != have {
		*d = append(*d, fmt.Sprintf("%s %v -> %v", field, have, want))
	}
}

// set compares lists as sets; nil and empty are equal.
func (d *diff) set(field string, want, have []string) {
	w, h := slices.Clone(want), slices.Clone(have)
	slices.Sort(w)
	slices.Sort(h)
	if !slices.Equal(slices.Compact(w), slices.Compact(h)) {
		*d = append(*d, fmt.Sprintf("%s %v -> %v", field, have, want))
	}
}

func (d *diff) headers(field string, want, have map[string]string) {
	if len(want) == 0 && len(have) == 0 {
		return
	}
	if !maps.Equal(want, have) {
		*d = append(*d, fmt.Sprintf("%s %v -> %v", field, have, want))
	}
}

// memberKey identifies a member in its pool: address (canonical form) and
// port.
func memberKey(addr string, port int) string {
	if a, err := netip.ParseAddr(addr); err == nil {
		return netip.AddrPortFrom(a.Unmap(), uint16(port)).String()
	}
	return addr + ":" + strconv.Itoa(port)
}
