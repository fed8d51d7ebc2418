package metrics_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync"
	"testing"

	"lbd/internal/metrics"
	"lbd/internal/proxy"
)

// readMembers GETs /debug/members and returns each member's in-flight
// count and peak by name.
func readMembers(t *testing.T, h http.Handler) (inFlight, peak map[string]int64) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/debug/members", nil))
	var doc metrics.MemberLoads
	if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
		t.Fatalf("/debug/members: %v\n%s", err, rec.Body.String())
	}
	if len(doc.Pools) != 1 || len(doc.Pools[0].Members) != 2 {
		t.Fatalf("/debug/members: want one pool of two members:\n%s", rec.Body.String())
	}
	inFlight, peak = map[string]int64{}, map[string]int64{}
	for _, m := range doc.Pools[0].Members {
		inFlight[m.Name], peak[m.Name] = m.InFlight, m.PeakInFlight
		if m.Weight != 1 || !m.Healthy || m.Address == "" {
			t.Errorf("member %s: %+v", m.Name, m)
		}
	}
	return inFlight, peak
}

// TestMembersPeakInFlight: /debug/members reports the highest number of
// requests in flight to each member since the previous read, not just the
// number now: six held requests show as a peak of three per member while
// held, still three at the next read after they finished, then nothing.
func TestMembersPeakInFlight(t *testing.T) {
	arrived := make(chan struct{}, 16)
	release := make(chan struct{})
	// Two members (a and b) that hold every request until released.
	var ports [2]int
	for i := range ports {
		member := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			arrived <- struct{}{}
			<-release
			io.WriteString(w, "ok")
		})}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		go member.Serve(ln)
		t.Cleanup(func() { member.Close() })
		ports[i] = portOf(ln.Addr().String())
	}

	ctx := context.Background()
	rt := proxy.New(slog.New(slog.DiscardHandler), proxy.Options{})
	t.Cleanup(func() { rt.Shutdown(ctx) })
	d := cfgData{Web: freePort(t), Prom: freePort(t), A: ports[0], B: ports[1], WeightB: 1}
	if err := rt.Apply(ctx, load(t, d)); err != nil {
		t.Fatal(err)
	}
	h := metrics.MembersHandler(rt)
	url := fmt.Sprintf("http://127.0.0.1:%d/", d.Web)
	get := func() {
		resp, err := http.Get(url)
		if err != nil {
			t.Error(err)
			return
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}

	var wg sync.WaitGroup
	for range 6 {
		wg.Add(1)
		go func() { defer wg.Done(); get() }()
	}
	for range 6 {
		<-arrived
	}
	in, peak := readMembers(t, h)
	if in["a"] != 3 || in["b"] != 3 || peak["a"] != 3 || peak["b"] != 3 {
		t.Errorf("six requests held: in flight %v, peaks %v; want 3 and 3 each", in, peak)
	}
	close(release)
	wg.Wait()
	// A client can have its whole answer before lbd counts the request
	// done (it sends, then releases the member): read until nothing is in
	// flight. Each read reports the peak since the one before, so the
	// highest of them is the peak since the read above.
	most := map[string]int64{}
	for {
		in, peak = readMembers(t, h)
		for _, m := range []string{"a", "b"} {
			most[m] = max(most[m], peak[m])
		}
		if in["a"] == 0 && in["b"] == 0 {
			break
		}
		runtime.Gosched()
	}
	if most["a"] != 3 || most["b"] != 3 {
		t.Errorf("after they finished: peaks %v; want 3 each since the read while held", most)
	}
	if _, peak = readMembers(t, h); peak["a"] != 0 || peak["b"] != 0 {
		t.Errorf("a read later, nothing sent in between: peaks %v, want 0", peak)
	}
	get()
	get()
	if _, peak = readMembers(t, h); peak["a"] != 1 || peak["b"] != 1 {
		t.Errorf("two requests one after the other: peaks %v, want 1 each", peak)
	}
}
