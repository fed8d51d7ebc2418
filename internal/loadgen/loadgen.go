// Package loadgen is the load the reliability tests and the soak run put
// through lbd: keep-alive HTTP/1.1 clients sending GET requests in a loop.
// The client never retries (net/http's Transport retries some failures by
// itself, which would hide them), so every failure lbd lets through is
// counted.
//
// It must not import the data plane it loads (internal/proxy,
// internal/balancer, internal/health).
package loadgen

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Failure is one request that did not get a complete 200.
type Failure struct {
	At     time.Time     // when it was sent
	Took   time.Duration // until it failed
	Status int           // 0: no response head
	Err    string
}

// Result counts a load's requests. It is safe to read while the load runs.
type Result struct {
	OK       atomic.Int64
	mu       sync.Mutex
	failures []Failure
	backends map[string]int
}

// Failures returns the failed requests so far.
func (r *Result) Failures() []Failure {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Failure(nil), r.failures...)
}

// Backends counts the successful answers by body (the demo backend's
// "Hello World! from NAME" gives NAME).
func (r *Result) Backends() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]int, len(r.backends))
	for k, v := range r.backends {
		out[k] = v
	}
	return out
}

func (r *Result) String() string {
	f := r.Failures()
	s := fmt.Sprintf("%d ok, %d failed", r.OK.Load(), len(f))
	for i, x := range f {
		if i == 5 {
			s += fmt.Sprintf("; ... %d more", len(f)-5)
			break
		}
		s += fmt.Sprintf("; [%d after %v: %s]", x.Status, x.Took.Round(time.Millisecond), x.Err)
	}
	return s
}

// Run sends GET path to addr from workers keep-alive connections until
// stop closes, and returns when they are all done.
func Run(addr, path string, workers int, stop <-chan struct{}) *Result {
	res, done := Start(addr, path, workers, stop)
	<-done
	return res
}

// Start is Run in the background: res counts as the load goes, done closes
// when the workers have stopped.
func Start(addr, path string, workers int, stop <-chan struct{}) (res *Result, done <-chan struct{}) {
	res = &Result{backends: map[string]int{}}
	finished := make(chan struct{})
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := worker{addr: addr, req: "GET " + path + " HTTP/1.1\r\nHost: load\r\n\r\n", res: res}
			defer w.close()
			for {
				select {
				case <-stop:
					return
				default:
				}
				w.one()
			}
		}()
	}
	go func() { wg.Wait(); close(finished) }()
	return res, finished
}

type worker struct {
	addr, req string
	res       *Result
	c         net.Conn
	br        *bufio.Reader
}

func (w *worker) close() {
	if w.c != nil {
		w.c.Close()
		w.c = nil
	}
}

// one sends one request, on a new connection if the last one ended.
func (w *worker) one() {
	start := time.Now()
	fail := func(status int, err error) {
		w.res.mu.Lock()
		w.res.failures = append(w.res.failures, Failure{At: start, Took: time.Since(start), Status: status, Err: fmt.Sprint(err)})
		w.res.mu.Unlock()
		w.close()
	}
	if w.c == nil {
		c, err := net.DialTimeout("tcp", w.addr, 5*time.Second)
		if err != nil {
			fail(0, err)
			time.Sleep(10 * time.Millisecond) // a refused connect is instant: do not spin
			return
		}
		w.c, w.br = c, bufio.NewReader(c)
	}
	w.c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(w.c, w.req); err != nil {
		fail(0, err)
		return
	}
	resp, err := http.ReadResponse(w.br, nil)
	if err != nil {
		fail(0, err)
		return
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		fail(resp.StatusCode, fmt.Errorf("%v: %.40q", err, body))
		return
	}
	w.res.OK.Add(1)
	name := strings.TrimSpace(strings.TrimPrefix(string(body), "Hello World! from "))
	w.res.mu.Lock()
	w.res.backends[name]++
	w.res.mu.Unlock()
	if resp.Close {
		w.close()
	}
}
