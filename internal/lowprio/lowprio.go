// Package lowprio runs work that must not hold up the data plane — a
// config reload's parse, merge, Apply and store, hundreds of milliseconds
// of CPU at 10,000 members — on an OS thread of its own at a low CPU
// priority (nice 10), with more Ps for as long as the work runs.
//
// Why: Go's scheduler lets a running goroutine keep its P for 10 ms or
// more before it is preempted, and an event loop woken meanwhile waits in
// the run queue behind it and behind every other goroutine queued there.
// At GOMAXPROCS=1 a reload of 10,000 members kept the loop waiting 25–100
// ms at a time, and the p99 of the requests during the reload went from
// 14 to 118 ms (docs/performance.md). Here the work holds a P of its own
// and the Ps the data plane had stay free for it: a woken loop finds an
// idle P at once; a second extra P is for the collector's background
// worker, which the work's allocations start. With the work's thread at
// nice 10 the kernel gives the CPU to the loop's thread as soon as it
// wakes, even when all of lbd shares one CPU (pinned, GOMAXPROCS=1). The
// work is the same code, run to its end: it takes the CPU the data plane
// leaves, and takes longer when the data plane is busy.
//
// While works run, the collector starts no cycle of its own (GOGC off,
// under a memory limit): a reload of 10,000 members allocates 80–130 MB,
// two to three times the live heap, and each of the two to four cycles
// that garbage started stopped the world, turned the write barrier on
// under the data plane and ran mark workers on threads at the data
// plane's priority. The limit, the memory in use when the first work
// began plus twice the heap's goal (at least 64 MiB), and never above
// a limit set before, bounds what works can pile up: past it the
// collector runs as it would have. When the works allocated a quarter of
// the heap's goal or more, the last to end collects their garbage, once,
// from Do's caller's thread and with GOMAXPROCS back where it was. At the
// data plane's Ps alone, its worker gives the P to a woken loop within a
// millisecond or two; with the extra Ps still there, a mark worker ran on
// each idle one, each a thread at the data plane's priority on its CPU,
// and a trace showed the loop waiting up to 7 ms for a P. The cost is
// memory: the heap peaks at the live heap plus the works' garbage (at
// 10,000 members the peak RSS of a reload went from 139 to 174 MB), and
// the pages that garbage took go back to the OS only after the next cycle
// (on an idle lbd, the runtime's periodic one within two minutes).
//
// It must not import lbd's packages.
package lowprio

import (
	"math"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"

	"golang.org/x/sys/unix"
)

// Nice is the priority of the work's thread. Against one busy thread at
// nice 0 it gets about a tenth of a CPU (19, the lowest, would get 1.5 %:
// an API change of 100 ms of CPU would take seconds on a saturated lbd),
// and the kernel still runs a woken thread at nice 0 ahead of it.
const Nice = 10

// extraPs is how many Ps each work under way adds to GOMAXPROCS: one the
// work holds, one for the garbage collector's background worker.
const extraPs = 2

// Runner runs work at low priority; its zero value is ready. Make one per
// process and share it: it owns the Ps it adds to GOMAXPROCS.
type Runner struct {
	mu      sync.Mutex
	running int // works under way
	base    int // GOMAXPROCS before the first of them
	// The collector's settings before the first of them, and its heap
	// goal then.
	gcPercent int
	memLimit  int64
	goal      uint64
	collect   bool // a work that ended while others ran left garbage enough to collect
}

// Do runs f on a new OS thread at nice Nice and returns when f has; a panic
// in f is raised again in Do's caller. The thread ends with f: nothing
// else ever runs at its priority.
func (r *Runner) Do(f func()) {
	goal := r.enter()
	big := false // f left garbage enough to collect
	defer func() { r.leave(big) }()
	var panicked any
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer func() { panicked = recover() }()
		runtime.LockOSThread() // never unlocked: the thread ends with this goroutine, its priority with it
		// Best effort: without the right to lower it (a seccomp filter),
		// the work runs at the usual priority, still on a P of its own.
		_ = unix.Setpriority(unix.PRIO_PROCESS, unix.Gettid(), Nice)
		before := allocated()
		f()
		big = allocated()-before >= goal/4
	}()
	<-done
	if panicked != nil {
		panic(panicked)
	}
}

// allocated is how many bytes the process has allocated on the heap so far.
func allocated() uint64 { return readUint64("/gc/heap/allocs:bytes") }

// heapGoal is the heap size at which the next collection is due to end.
func heapGoal() uint64 { return readUint64("/gc/heap/goal:bytes") }

func readUint64(name string) uint64 {
	s := []metrics.Sample{{Name: name}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}

// enter adds a work's Ps and, for the first work, turns the collector's
// own cycles off; it returns the heap's goal before the first work.
func (r *Runner) enter() (goal uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.running == 0 {
		r.base = runtime.GOMAXPROCS(0)
		r.goal = heapGoal()
		r.memLimit = debug.SetMemoryLimit(-1) // -1 reads it
		// What the limit counts: the memory mapped, less what was given back.
		inUse := readUint64("/memory/classes/total:bytes") - readUint64("/memory/classes/heap/released:bytes")
		limit := inUse + max(2*r.goal, minHeadroom)
		debug.SetMemoryLimit(min(r.memLimit, int64(min(limit, math.MaxInt64))))
		r.gcPercent = debug.SetGCPercent(-1)
	}
	r.running++
	runtime.GOMAXPROCS(r.base + extraPs*r.running)
	return r.goal
}

// minHeadroom is the least memory works may pile up above what was in use
// when the first began before the collector runs.
const minHeadroom = 64 << 20

func (r *Runner) leave(big bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.running--
	r.collect = r.collect || big
	if r.running > 0 {
		runtime.GOMAXPROCS(r.base + extraPs*r.running)
		return
	}
	// Back to the runtime's own choice, which follows the CPU limit, when
	// that is what it was; else (GOMAXPROCS set by the environment or by
	// a call) back to the number it was.
	runtime.SetDefaultGOMAXPROCS()
	if runtime.GOMAXPROCS(0) != r.base {
		runtime.GOMAXPROCS(r.base)
	}
	if r.collect {
		// Before GOGC is back, which would start a cycle at the next
		// allocation, and with the Ps back to the data plane's: see the
		// package's comment.
		r.collect = false
		runtime.GC()
	}
	debug.SetGCPercent(r.gcPercent)
	debug.SetMemoryLimit(r.memLimit)
}
