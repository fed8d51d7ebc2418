package proxy

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"lbd/internal/demo"
	"lbd/internal/health"
	"lbd/internal/octavia"
)

const monitoredPool = `
loadbalancers:
  - name: lb
    vip_address: 127.0.0.1
    listeners:
      - name: web
        protocol: HTTP
        protocol_port: {{.Port}}
        default_pool:
          name: pool
          protocol: HTTP
          lb_algorithm: ROUND_ROBIN
          healthmonitor: {type: HTTP, delay: 1, timeout: 1, max_retries: 2, max_retries_down: 2, url_path: /health}
          members:
          {{- range .Backends}}
            - {address: 127.0.0.1, protocol_port: {{port .}}}
          {{- end}}
`

// TestMemberStopsAndReturnsUnderLoad: with clients sending all along, a
// member that stops leaves the pool within about delay×max_retries_down +
// timeout, no client sees an error (retries and redispatch cover the
// requests in flight and the health checks the rest), and when it starts
// again it is back after max_retries passing checks and takes traffic.
func TestMemberStopsAndReturnsUnderLoad(t *testing.T) {
	for _, passive := range []bool{true, false} {
		t.Run(fmt.Sprintf("passive=%v", passive), func(t *testing.T) { memberStopsAndReturns(t, passive) })
	}
}

func memberStopsAndReturns(t *testing.T, passive bool) {
	keep := startBackend(t, "keep", demo.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	flaky, err := demo.Start(ctx, "127.0.0.1:0", demo.Options{Name: "flaky"}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	flakyAddr := flaky.Addr()
	p := freePort(t)
	rt := New(testLogger(t), Options{DrainTimeout: 5 * time.Second, Passive: health.Passive{Disabled: !passive}, NoEventLoop: goroutinesOnly()})
	if err := rt.Apply(ctx, config(t, monitoredPool, poolData{Port: p, Backends: []string{keep.Addr(), flakyAddr}})); err != nil {
		t.Fatal(err)
	}
	defer rt.Shutdown(context.Background())
	cfg := rt.Config()
	pool := cfg.LoadBalancers[0].Pools[0]
	flakyID := pool.Members[1].ID
	status := func() octavia.OperatingStatus { s, _ := rt.OperatingStatus(flakyID); return s }

	var mu sync.Mutex
	var failures []string
	var served = map[string]*atomic.Int64{"keep": {}, "flaky": {}}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := clientFrom(fmt.Sprintf("127.0.0.%d", 10+i))
			for {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := c.Get(fmt.Sprintf("http://127.0.0.1:%d/", p))
				if err != nil {
					mu.Lock()
					failures = append(failures, err.Error())
					mu.Unlock()
					continue
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					mu.Lock()
					failures = append(failures, fmt.Sprintf("status %d: %s", resp.StatusCode, body))
					mu.Unlock()
					continue
				}
				served[backendName(string(body))].Add(1)
			}
		}()
	}
	waitFor(t, func() bool { return served["flaky"].Load() > 50 }, "traffic to both members")
	mustf(t, status() == octavia.OperatingOnline, "flaky member status %s, want ONLINE", status())

	stopped := time.Now()
	flaky.Close()
	waitFor(t, func() bool { return status() == octavia.OperatingError }, "the stopped member to go ERROR")
	took := time.Since(stopped)
	// delay 1s × max_retries_down 2 + timeout 1s, and one delay of phase.
	mustf(t, took < 4*time.Second, "member went ERROR after %v, want within about 3s", took)
	mustf(t, rt.poolOf(pool.ID).bal.Ready()[0].ID != flakyID && len(rt.poolOf(pool.ID).bal.Ready()) == 1, "stopped member still in the ready set")
	psOut, _ := rt.OperatingStatus(pool.ID)
	mustf(t, psOut == octavia.OperatingDegraded, "pool status %s with one member down, want DEGRADED", psOut)

	// Start it again on the same address.
	flaky2, err := demo.Start(ctx, flakyAddr, demo.Options{Name: "flaky"}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer flaky2.Close()
	restarted := time.Now()
	waitFor(t, func() bool { return status() == octavia.OperatingOnline }, "the restarted member to come back")
	mustf(t, time.Since(restarted) < 4*time.Second, "member came back after %v, want about max_retries × delay", time.Since(restarted))
	before := flaky2.Served()
	waitFor(t, func() bool { return flaky2.Served() > before+50 }, "traffic to the returned member")
	close(stop)
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	mustf(t, len(failures) == 0, "%d client errors while a member stopped and returned, first: %v", len(failures), failures)
	t.Logf("out after %v; served keep=%d flaky=%d", took, served["keep"].Load(), served["flaky"].Load())
}

// TestPassiveHealthEjectsAHangingMember: without an active monitor, a
// member that accepts requests and never answers costs a 504 for each of the
// first few (passive health's failure count), then is ejected, and the
// requests that follow all go to the member that answers.
func TestPassiveHealthEjectsAHangingMember(t *testing.T) {
	good := startBackend(t, "good", demo.Options{})
	hanging, _ := rawMember(t, func(c net.Conn) { io.Copy(io.Discard, c) })
	p := freePort(t)
	startRuntime(t, config(t, oneHTTPPool, poolData{Port: p, Algorithm: "ROUND_ROBIN",
		Backends: []string{good.Addr(), hanging}, Extra: "timeout_member_data: 200"}))
	c := clientFrom("127.0.0.1")
	timeouts := 0
	for i := range 40 {
		code, body := get(t, c, fmt.Sprintf("http://127.0.0.1:%d/", p))
		switch {
		case code == http.StatusGatewayTimeout:
			timeouts++
			mustf(t, i < 20, "request %d still went to the hanging member", i)
		case code != http.StatusOK || backendName(body) != "good":
			t.Fatalf("request %d: %d %q", i, code, body)
		}
	}
	mustf(t, timeouts == health.DefaultPassiveFailures, "%d requests timed out, want exactly %d before the ejection", timeouts, health.DefaultPassiveFailures)
}

// TestEjectedMemberServesWhenNoReadyMemberCan: passive health may eject at
// most half the pool, so when the member it ejected comes back and the
// other one goes down, the down one stays in the ready set and the one that
// is up stays out until its ejection ends. Requests then go to the ejected
// member as a last resort instead of failing with 503.
func TestEjectedMemberServesWhenNoReadyMemberCan(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a, err := demo.Start(ctx, "127.0.0.1:0", demo.Options{Name: "a"}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	aAddr := a.Addr()
	b := startBackend(t, "b", demo.Options{})
	p := freePort(t)
	rt := startRuntime(t, config(t, oneHTTPPool, poolData{Port: p, Algorithm: "ROUND_ROBIN", Backends: []string{aAddr, b.Addr()}}))
	aID := rt.Config().LoadBalancers[0].Pools[0].Members[0].ID
	url := fmt.Sprintf("http://127.0.0.1:%d/", p)
	c := clientFrom("127.0.0.1")

	a.Close() // a goes down and is ejected; b serves
	for i := 0; ; i++ {
		code, body := get(t, c, url)
		mustf(t, code == http.StatusOK && backendName(body) == "b", "request %d while a is down: %d %q", i, code, body)
		if st, _ := rt.OperatingStatus(aID); st == octavia.OperatingError {
			break
		}
		mustf(t, i < 100, "a was never ejected")
	}
	a2, err := demo.Start(ctx, aAddr, demo.Options{Name: "a"}, testLogger(t)) // a is back, still ejected
	if err != nil {
		t.Fatal(err)
	}
	defer a2.Close()
	b.Close() // b goes down: the ejection cap keeps it in the ready set
	for i := range 20 {
		code, body := get(t, c, url)
		mustf(t, code == http.StatusOK && backendName(body) == "a", "request %d with b down and a ejected but up: %d %q", i, code, body)
	}
	st, _ := rt.OperatingStatus(aID)
	mustf(t, st == octavia.OperatingError, "a is %s: the test needs it still ejected", st)
}
