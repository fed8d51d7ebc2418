package main

import (
	"io"
	"strings"
	"testing"
	"time"
)

// --event-loop-linger takes 0 up to maxLinger; outside it lbd refuses to
// start, naming the flag, the value and the range.
func TestEventLoopLingerFlag(t *testing.T) {
	for _, c := range []struct {
		arg  string
		want time.Duration
		err  string
	}{
		{"", 2 * time.Microsecond, ""},
		{"--event-loop-linger=0", 0, ""},
		{"--event-loop-linger=5us", 5 * time.Microsecond, ""},
		{"--event-loop-linger=2ms", 0, "--event-loop-linger 2ms: must be between 0 and 1ms"},
		{"--event-loop-linger=-1us", 0, "--event-loop-linger -1µs: must be between 0 and 1ms"},
	} {
		var args []string
		if c.arg != "" {
			args = []string{c.arg}
		}
		o, _, err := parseFlags(args, io.Discard)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%q: error %v, want %q", c.arg, err, c.err)
			}
			continue
		}
		if err != nil || o.loopLinger != c.want {
			t.Errorf("%q: linger %s, %v; want %s", c.arg, o.loopLinger, err, c.want)
		}
	}
}
