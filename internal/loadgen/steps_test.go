package loadgen

import (
	"context"
	"net"
	"net/http"
	"testing"
	"time"
)

// A stepped run sends each step's rate for its length, a pause sends
// nothing, and the timeline counts every request in the second it fell due.
func TestStepsTimeline(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) })}
	go srv.Serve(ln)
	defer srv.Close()
	var tl Timeline
	l := Open{Target: Target{Addr: ln.Addr().String()}}
	due := l.Steps(context.Background(), time.Now(), []Step{{Rate: 40, For: time.Second}, {Rate: 0, For: time.Second}, {Rate: 80, For: time.Second}}, &tl)
	if due != 120 {
		t.Fatalf("%d requests fell due, want 40 + 80", due)
	}
	secs := tl.Seconds()
	total := 0
	for _, s := range secs {
		total += s.OK
		if s.Failed > 0 {
			t.Errorf("second %v: %d failed: %v", s.At, s.Failed, tl.Failures())
		}
	}
	if total != 120 || len(secs) < 3 || secs[0].OK != 40 || secs[1].OK != 0 {
		t.Fatalf("timeline %+v: want 40 in the first second, none in the pause, 80 after", secs)
	}
	if secs[0].P95 <= 0 || secs[0].P95 > time.Second {
		t.Errorf("p95 of the first second: %v", secs[0].P95)
	}
}
