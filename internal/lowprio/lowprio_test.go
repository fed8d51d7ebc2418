package lowprio

import (
	"runtime"
	"runtime/debug"
	"testing"

	"golang.org/x/sys/unix"
)

// nice is the calling thread's nice value (getpriority's raw answer is
// 20 - nice).
func nice(t *testing.T) int {
	t.Helper()
	p, err := unix.Getpriority(unix.PRIO_PROCESS, unix.Gettid())
	if err != nil {
		t.Fatal(err)
	}
	return 20 - p
}

func TestDoRunsOnALowPriorityThreadWithMorePs(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	callerNice := nice(t)
	before := runtime.GOMAXPROCS(0)
	var r Runner
	var workNice, workProcs, innerProcs int
	var workTID int
	r.Do(func() {
		workNice, workProcs, workTID = nice(t), runtime.GOMAXPROCS(0), unix.Gettid()
		r.Do(func() { innerProcs = runtime.GOMAXPROCS(0) }) // two works under way at once
	})
	if workNice != Nice {
		t.Errorf("the work ran at nice %d, want %d", workNice, Nice)
	}
	if workTID == unix.Gettid() {
		t.Error("the work ran on the caller's thread")
	}
	if workProcs != before+extraPs || innerProcs != before+2*extraPs {
		t.Errorf("GOMAXPROCS during one work %d, during two %d; want %d and %d", workProcs, innerProcs, before+extraPs, before+2*extraPs)
	}
	if after := runtime.GOMAXPROCS(0); after != before {
		t.Errorf("GOMAXPROCS after the work is %d, want %d as before", after, before)
	}
	if n := nice(t); n != callerNice {
		t.Errorf("the caller's thread is at nice %d after the work, want %d as before", n, callerNice)
	}
}

func TestDoRaisesTheWorksPanicInTheCaller(t *testing.T) {
	before := runtime.GOMAXPROCS(0)
	var r Runner
	got := func() (v any) {
		defer func() { v = recover() }()
		r.Do(func() { panic("boom") })
		return nil
	}()
	if got != "boom" {
		t.Errorf("recovered %v from Do, want the work's panic", got)
	}
	if after := runtime.GOMAXPROCS(0); after != before {
		t.Errorf("GOMAXPROCS after a panicking work is %d, want %d", after, before)
	}
}

// forcedGCs counts the collections runtime.GC started.
func forcedGCs() uint64 { return readUint64("/gc/cycles/forced:gc-cycles") }

var sink []byte

func TestDoCollectsTheGarbageOfAWorkThatAllocatedMuch(t *testing.T) {
	var r Runner
	n0 := forcedGCs()
	r.Do(func() { sink = make([]byte, 1) })
	if n := forcedGCs(); n != n0 {
		t.Errorf("a work that allocated nothing was followed by %d collections, want none", n-n0)
	}
	n0 = forcedGCs()
	goal := heapGoal()
	r.Do(func() {
		for range 64 {
			sink = make([]byte, goal/128) // half the goal in all
		}
	})
	sink = nil
	if n := forcedGCs(); n != n0+1 {
		t.Errorf("a work that allocated half the heap's goal was followed by %d collections, want 1", n-n0)
	}
}

// gcCycles counts the collections so far, of every kind.
func gcCycles() uint64 { return readUint64("/gc/cycles/total:gc-cycles") }

var garbage [][]byte

func TestDoStartsNoCollectionWhileTheWorkRuns(t *testing.T) {
	gogc := debug.SetGCPercent(100)
	defer debug.SetGCPercent(gogc)
	limit := debug.SetMemoryLimit(-1)
	var r Runner
	goal := heapGoal()
	var during uint64
	r.Do(func() {
		n0 := gcCycles()
		for range 4 { // four times the heap's goal, as garbage
			for i := range 256 {
				garbage = append(garbage[:i%16], make([]byte, goal/256))
			}
		}
		during = gcCycles() - n0
		garbage = nil
	})
	if during != 0 {
		t.Errorf("a work that allocated four times the heap's goal started %d collections while it ran, want none", during)
	}
	if p := debug.SetGCPercent(100); p != 100 {
		t.Errorf("GOGC after the work is %d, want 100 as before", p)
	}
	if l := debug.SetMemoryLimit(-1); l != limit {
		t.Errorf("the memory limit after the work is %d, want %d as before", l, limit)
	}
}
