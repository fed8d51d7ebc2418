package octavia

import (
	"fmt"
	"strconv"
	"strings"
)

// StatusSet is a set of HTTP status codes (000-999), as a health monitor's
// expected_codes describes it. The zero value is empty.
type StatusSet struct {
	bits [16]uint64
}

// Contains reports whether code is in the set.
func (s *StatusSet) Contains(code int) bool {
	if code < 0 || code >= 1000 {
		return false
	}
	return s.bits[code>>6]&(1<<(code&63)) != 0
}

func (s *StatusSet) add(code int) { s.bits[code>>6] |= 1 << (code & 63) }

// ParseExpectedCodes parses expected_codes exactly as Octavia accepts it: a
// single code ("200"), a comma-separated list ("200, 202") or one range
// ("200-204"); lists and ranges do not mix. Octavia's patterns are
// ^(\d{3}(\s*,\s*\d{3})*)$ and ^(\d{3}-\d{3})$.
func ParseExpectedCodes(s string) (StatusSet, error) {
	var set StatusSet
	if lo, hi, ok := strings.Cut(s, "-"); ok {
		a, errA := threeDigits(lo)
		b, errB := threeDigits(hi)
		if errA != nil || errB != nil {
			return set, fmt.Errorf("range must be two 3-digit codes joined by '-', like \"200-204\"")
		}
		if a > b {
			return set, fmt.Errorf("range start %d is after its end %d", a, b)
		}
		for c := a; c <= b; c++ {
			set.add(c)
		}
		return set, nil
	}
	parts := strings.Split(s, ",")
	for i, part := range parts {
		// Whitespace is allowed around the commas only, not at either end.
		if i > 0 {
			part = strings.TrimLeft(part, pythonSpace)
		}
		if i < len(parts)-1 {
			part = strings.TrimRight(part, pythonSpace)
		}
		c, err := threeDigits(part)
		if err != nil {
			return set, fmt.Errorf("must be a 3-digit code, a comma-separated list of them (\"200, 202\") or one range (\"200-204\")")
		}
		set.add(c)
	}
	return set, nil
}

// pythonSpace is the ASCII whitespace Python's \s matches in Octavia's
// pattern. Non-ASCII digits and spaces, which Python would also match, are
// refused: lbd keeps to ASCII.
const pythonSpace = " \t\n\v\f\r\x1c\x1d\x1e\x1f"

func threeDigits(s string) (int, error) {
	if len(s) != 3 {
		return 0, fmt.Errorf("not 3 digits")
	}
	for i := 0; i < 3; i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, fmt.Errorf("not 3 digits")
		}
	}
	return strconv.Atoi(s)
}

// String renders the set compactly ("200-204", "200,202"), for log lines.
func (s *StatusSet) String() string {
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
			parts = append(parts, fmt.Sprintf("%d-%d", c, end))
		} else {
			parts = append(parts, strconv.Itoa(c))
		}
		c = end
	}
	return strings.Join(parts, ",")
}
