package main

import (
	"io"
	"strings"
	"testing"
	"time"
)

// --event-loop-linger takes 0 up to maxLinger and --event-loop-nap 0 up
// to maxNap; outside them lbd refuses to start, naming the flag, the value
// and the range.
func TestEventLoopFlags(t *testing.T) {
	for _, c := range []struct {
		arg         string
		linger, nap time.Duration
		err         string
	}{
		{"", 2 * time.Microsecond, 50 * time.Microsecond, ""},
		{"--event-loop-linger=0", 0, 50 * time.Microsecond, ""},
		{"--event-loop-linger=5us", 5 * time.Microsecond, 50 * time.Microsecond, ""},
		{"--event-loop-linger=2ms", 0, 0, "--event-loop-linger 2ms: must be between 0 and 1ms"},
		{"--event-loop-linger=-1us", 0, 0, "--event-loop-linger -1µs: must be between 0 and 1ms"},
		{"--event-loop-nap=0", 2 * time.Microsecond, 0, ""},
		{"--event-loop-nap=200us", 2 * time.Microsecond, 200 * time.Microsecond, ""},
		{"--event-loop-nap=1.5ms", 0, 0, "--event-loop-nap 1.5ms: must be between 0 and 1ms"},
		{"--event-loop-nap=-1ms", 0, 0, "--event-loop-nap -1ms: must be between 0 and 1ms"},
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
		if err != nil || o.loopLinger != c.linger || o.loopNap != c.nap {
			t.Errorf("%q: linger %s, nap %s, %v; want %s, %s", c.arg, o.loopLinger, o.loopNap, err, c.linger, c.nap)
		}
	}
}
