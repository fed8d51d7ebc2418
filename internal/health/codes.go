package health

import (
	"strconv"
	"strings"
)

// Codes is a set of HTTP status codes, 000 to 999: the responses that pass
// an HTTP check. The zero value is empty.
type Codes struct {
	bits [16]uint64
}

// Add puts the codes from lo to hi, both included, in the set; codes
// outside 000-999 are ignored.
func (s *Codes) Add(lo, hi int) {
	for c := max(lo, 0); c <= min(hi, 999); c++ {
		s.bits[c>>6] |= 1 << (c & 63)
	}
}

// Contains reports whether code is in the set.
func (s *Codes) Contains(code int) bool {
	if code < 0 || code >= 1000 {
		return false
	}
	return s.bits[code>>6]&(1<<(code&63)) != 0
}

// String renders the set compactly ("200-204", "200,202"), for log lines.
func (s *Codes) String() string {
	var parts []string
	for c := 0; c < 1000; c++ {
		if !s.Contains(c) {
			continue
		}
		end := c
		for end+1 < 1000 && s.Contains(end+1) {
			end++
		}
		if end > c {
			parts = append(parts, strconv.Itoa(c)+"-"+strconv.Itoa(end))
		} else {
			parts = append(parts, strconv.Itoa(c))
		}
		c = end
	}
	return strings.Join(parts, ",")
}
