//go:build !linux

package loadgen

import "time"

// preciseSleep falls back to the runtime's timers where nanosleep is not
// wired up: open-loop dispatch is then up to a millisecond coarser.
func preciseSleep(d time.Duration) { time.Sleep(d) }
