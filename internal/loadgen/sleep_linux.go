package loadgen

import (
	"runtime"
	"syscall"
	"time"
)

// preciseSleep blocks the calling thread in nanosleep(2), which wakes
// within tens of microseconds where the runtime's timers may be a
// millisecond late. The thread keeps its P while it sleeps (the runtime
// hands a P over only after a syscall outlasts a sysmon tick), so the
// goroutines and timers queued on that P wait too: yield after each sleep
// so they run, instead of the scheduler going straight back to sleep.
func preciseSleep(d time.Duration) {
	if d <= 0 {
		return
	}
	ts := syscall.NsecToTimespec(int64(d))
	for syscall.Nanosleep(&ts, &ts) == syscall.EINTR {
	}
	runtime.Gosched()
}
