package octavia

import (
	"fmt"
	"strconv"
	"strings"
)

// CodeRange is a run of HTTP status codes, Lo to Hi, both included; a
// single code is a run of one.
type CodeRange struct{ Lo, Hi int }

// ExpectedCodes is a health monitor's expected_codes, parsed: one range, or
// the codes of a list.
type ExpectedCodes []CodeRange

// Contains reports whether code is expected.
func (e ExpectedCodes) Contains(code int) bool {
	for _, r := range e {
		if r.Lo <= code && code <= r.Hi {
			return true
		}
	}
	return false
}

// ParseExpectedCodes parses expected_codes exactly as Octavia accepts it: a
// single code ("200"), a comma-separated list ("200, 202") or one range
// ("200-204"); lists and ranges do not mix. Octavia's patterns are
// ^(\d{3}(\s*,\s*\d{3})*)$ and ^(\d{3}-\d{3})$.
func ParseExpectedCodes(s string) (ExpectedCodes, error) {
	if lo, hi, ok := strings.Cut(s, "-"); ok {
		a, errA := threeDigits(lo)
		b, errB := threeDigits(hi)
		if errA != nil || errB != nil {
			return nil, fmt.Errorf("range must be two 3-digit codes joined by '-', like \"200-204\"")
		}
		if a > b {
			return nil, fmt.Errorf("range start %d is after its end %d", a, b)
		}
		return ExpectedCodes{{a, b}}, nil
	}
	parts := strings.Split(s, ",")
	codes := make(ExpectedCodes, 0, len(parts))
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
			return nil, fmt.Errorf("must be a 3-digit code, a comma-separated list of them (\"200, 202\") or one range (\"200-204\")")
		}
		codes = append(codes, CodeRange{c, c})
	}
	return codes, nil
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
