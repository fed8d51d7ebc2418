package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// The hostile-client part of make soak (issue 18): slow clients, members
// that never finish, and connection storms against a real lbd process,
// each with lbd's RSS, descriptors and goroutines before, during and after,
// and each failing if they do not come back. Skipped unless LBD_SOAK_TIME
// is set, as make soak sets it.

// soakReading is one reading of an lbd process.
type soakReading struct {
	rssKB int
	res   procResources
}

func (r soakReading) String() string {
	return fmt.Sprintf("rss %6.1f MiB, %5d fds, %5d goroutines", float64(r.rssKB)/1024, r.res.fds, r.res.goroutines)
}

// reading reads lbd's RSS and descriptors from /proc and its goroutines
// from the admin server's go_goroutines: a goroutine profile of thousands
// of connections would cost lbd more memory than what is measured.
func (p *proc) reading(t *testing.T) soakReading {
	t.Helper()
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", p.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := apiClient.Get("http://" + p.admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	goroutines := -1
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "go_goroutines "); ok {
			fmt.Sscan(v, &goroutines)
		}
	}
	return soakReading{rssKB: rssKB(t, p.cmd.Process.Pid), res: procResources{fds: len(fds), goroutines: goroutines}}
}

func needSoak(t *testing.T) {
	if os.Getenv("LBD_SOAK_TIME") == "" {
		t.Skip("set LBD_SOAK_TIME (e.g. 3m) to run the soak: make soak")
	}
}

// scriptedMember serves each connection one request, as its target says:
// /early answers 405 before the body and reads on, /endless streams a
// response that never ends, /interim sends 102 Processing every 100 ms and
// nothing else, anything else reads the body (Content-Length) and answers
// 200, with no 100 Continue.
func scriptedMember(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(2 * time.Minute))
				br := bufio.NewReader(c)
				line, err := br.ReadString('\n')
				if err != nil {
					return
				}
				length := 0
				for {
					l, err := br.ReadString('\n')
					if err != nil {
						return
					}
					if l == "\r\n" {
						break
					}
					if k, v, ok := strings.Cut(l, ":"); ok && strings.EqualFold(k, "content-length") {
						fmt.Sscan(strings.TrimSpace(v), &length)
					}
				}
				switch strings.Fields(line)[1] {
				case "/early":
					io.WriteString(c, "HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
					io.Copy(io.Discard, br)
				case "/endless":
					io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 1073741824\r\n\r\n")
					chunk := strings.Repeat("x", 64<<10)
					for {
						if _, err := io.WriteString(c, chunk); err != nil {
							return
						}
					}
				case "/interim":
					for {
						if _, err := io.WriteString(c, "HTTP/1.1 102 Processing\r\n\r\n"); err != nil {
							return
						}
						time.Sleep(100 * time.Millisecond) // the member's pace
					}
				default:
					if _, err := io.CopyN(io.Discard, br, int64(length)); err != nil {
						return
					}
					io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// stormProc starts lbd with two listeners in front of the scripted member,
// web (timeout_client_data 5 s, timeout_member_data 3 s) and stream
// (timeout_client_data 5 s, Octavia's default 50 s for the member), and
// one in front of a demo backend, and returns them once lbd has settled.
func stormProc(t *testing.T) (p *proc, web, stream, fast string, base soakReading) {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	demo := demoAt(t, ctx, "127.0.0.1:0", "m1")
	_, dport := splitAddr(demo.Addr())
	_, sport := splitAddr(scriptedMember(t))
	webPort, streamPort, fastPort := freePort(t), freePort(t), freePort(t)
	cfg := filepath.Join(t.TempDir(), "lbd.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`loadbalancers:
  - name: lb
    vip_address: 127.0.0.1
    listeners:
      - name: web
        protocol: HTTP
        protocol_port: %d
        timeout_client_data: 5000
        timeout_member_data: 3000
        default_pool: {name: scripted, protocol: HTTP, lb_algorithm: ROUND_ROBIN, members: [{address: 127.0.0.1, protocol_port: %d}]}
      - name: stream
        protocol: HTTP
        protocol_port: %d
        timeout_client_data: 5000
        default_pool: {name: scripted2, protocol: HTTP, lb_algorithm: ROUND_ROBIN, members: [{address: 127.0.0.1, protocol_port: %d}]}
      - name: fast
        protocol: HTTP
        protocol_port: %d
        default_pool: {name: demo, protocol: HTTP, lb_algorithm: ROUND_ROBIN, members: [{address: 127.0.0.1, protocol_port: %d}]}
`, webPort, sport, streamPort, sport, fastPort, dport)), 0o644)
	p = startProc(t, "", "", nil, "--config", cfg, "--log-level", "warn")
	web, fast = fmt.Sprintf("127.0.0.1:%d", webPort), fmt.Sprintf("127.0.0.1:%d", fastPort)
	stream = fmt.Sprintf("127.0.0.1:%d", streamPort)
	p.settle(t)
	return p, web, stream, fast, p.reading(t)
}

// runClients runs n clients at once and waits for them.
func runClients(n int, client func(i int)) {
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() { defer wg.Done(); client(i) }()
	}
	wg.Wait()
}

// backToBase waits (up to 30 s) until lbd holds no more descriptors and
// goroutines than base and its RSS is at most rssKB, and returns the
// reading then, or the last one and false.
func backToBase(t *testing.T, p *proc, base soakReading, rssKB int) (soakReading, time.Duration, bool) {
	start := time.Now()
	for {
		r := p.reading(t)
		if r.res.fds <= base.res.fds && r.res.goroutines <= base.res.goroutines+2 && r.rssKB <= rssKB {
			return r, time.Since(start), true
		}
		if time.Since(start) > 30*time.Second {
			return r, time.Since(start), false
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// TestSoakSlowClients: the slow and never-finishing peers, 200 or
// 50 at a time, against one lbd: every one ends as promised, and lbd's
// descriptors and goroutines come back to where they were, promptly and
// without waiting for a garbage collection.
func TestSoakSlowClients(t *testing.T) {
	needSoak(t)
	p, web, stream, _, base := stormProc(t)
	t.Logf("before: %v", base)
	dial := func() net.Conn {
		c, err := net.Dial("tcp", web)
		if err != nil {
			t.Error(err)
			return nil
		}
		c.SetDeadline(time.Now().Add(time.Minute))
		return c
	}
	type scenario struct {
		name    string
		clients int
		// cut: lbd must close the clients' connections (and its member
		// connections) itself, within 20 s of their last byte taken.
		cut bool
		// client runs one client; it reports what it saw, "" when as
		// promised. holding is closed once every client holds its
		// connection, for the reading during.
		client func(holding <-chan struct{}, ready func()) string
	}
	scenarios := []scenario{
		{"slow POST answered early (405), then the client closes", 200, false, func(holding <-chan struct{}, ready func()) string {
			c := dial()
			if c == nil {
				return "no connection"
			}
			defer c.Close()
			io.WriteString(c, "POST /early HTTP/1.1\r\nHost: x\r\nContent-Length: 1048576\r\n\r\n"+strings.Repeat("a", 100))
			line, _ := bufio.NewReader(c).ReadString('\n')
			ready()
			<-holding
			io.WriteString(c, strings.Repeat("b", 100))
			if !strings.HasPrefix(line, "HTTP/1.1 405 ") {
				return fmt.Sprintf("answer %q", line)
			}
			return ""
		}},
		{"client that stops reading a large response (timeout_client_data 5 s, timeout_member_data 50 s)", 50, true, func(holding <-chan struct{}, ready func()) string {
			c, err := net.Dial("tcp", stream)
			if err != nil {
				return err.Error()
			}
			defer c.Close()
			io.WriteString(c, "GET /endless HTTP/1.1\r\nHost: x\r\n\r\n")
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			if _, err := c.Read(make([]byte, 4096)); err != nil {
				return err.Error()
			}
			ready()
			<-holding // reading nothing more until lbd has cut them all
			return ""
		}},
		{"member sending 102 Processing forever (timeout_member_data 3 s)", 50, false, func(holding <-chan struct{}, ready func()) string {
			c := dial()
			if c == nil {
				return "no connection"
			}
			defer c.Close()
			start := time.Now()
			io.WriteString(c, "GET /interim HTTP/1.1\r\nHost: x\r\n\r\n")
			br := bufio.NewReader(c)
			br.ReadString('\n')
			ready()
			for {
				line, err := br.ReadString('\n')
				if err != nil {
					return fmt.Sprintf("no final answer after %v: %v", time.Since(start).Round(time.Second), err)
				}
				if strings.HasPrefix(line, "HTTP/1.1 504 ") {
					if took := time.Since(start); took > 5*time.Second {
						return fmt.Sprintf("504 after %v", took.Round(100*time.Millisecond))
					}
					return ""
				}
			}
		}},
		{"Expect: 100-continue to a member that sends no 100", 50, false, func(holding <-chan struct{}, ready func()) string {
			c := dial()
			if c == nil {
				return "no connection"
			}
			defer c.Close()
			start := time.Now()
			io.WriteString(c, "POST /upload HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
			ready()
			<-holding
			time.Sleep(200 * time.Millisecond) // the client's wait for a 100 (curl's is 1 s)
			io.WriteString(c, "hello")
			line, _ := bufio.NewReader(c).ReadString('\n')
			if !strings.HasPrefix(line, "HTTP/1.1 200 ") || time.Since(start) > 2*time.Second {
				return fmt.Sprintf("answer %q after %v", line, time.Since(start).Round(100*time.Millisecond))
			}
			return ""
		}},
	}
	for _, sc := range scenarios {
		var ready sync.WaitGroup
		ready.Add(sc.clients)
		holding := make(chan struct{})
		var failures sync.Map
		var failed atomic.Int64
		done := make(chan struct{})
		start := time.Now()
		go func() {
			defer close(done)
			runClients(sc.clients, func(i int) {
				once := sync.OnceFunc(ready.Done)
				defer once()
				if msg := sc.client(holding, once); msg != "" {
					failures.Store(msg, true)
					failed.Add(1)
				}
			})
		}()
		ready.Wait()
		during := p.reading(t)
		if sc.cut {
			cutStart := time.Now()
			for p.reading(t).res.fds > base.res.fds {
				if time.Since(cutStart) > 20*time.Second {
					t.Errorf("%s: lbd had not cut the clients after %v", sc.name, time.Since(cutStart).Round(time.Second))
					break
				}
				time.Sleep(250 * time.Millisecond)
			}
			t.Logf("%s: all cut %v after their last read", sc.name, time.Since(cutStart).Round(100*time.Millisecond))
		}
		close(holding)
		<-done
		took := time.Since(start)
		after, settled, ok := backToBase(t, p, base, base.rssKB+64<<10)
		t.Logf("%s, %d clients:\n  during: %v\n  after:  %v (%v after the last client ended; clients took %v)",
			sc.name, sc.clients, during, after, settled.Round(100*time.Millisecond), took.Round(100*time.Millisecond))
		failures.Range(func(k, _ any) bool {
			t.Errorf("%s: %s", sc.name, k)
			return true
		})
		if n := failed.Load(); n > 0 {
			t.Errorf("%s: %d of %d clients not served as promised", sc.name, n, sc.clients)
		}
		if !ok || after.res.fds > base.res.fds {
			t.Errorf("%s: lbd did not come back to %v: %v", sc.name, base, after)
		}
	}
}

// stormSize is how many connections a storm opens: 18,000 (the issue's
// 20,000 less what this process's descriptor limit leaves, lbd's being
// the same), fewer under a lower limit.
func stormSize(t *testing.T) int {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		t.Fatal(err)
	}
	return int(min(18000, rl.Cur-2000))
}

// TestSoakConnectionStorm: storms of short-lived connections, held open a
// few seconds and closed: heads that never end (slowloris), and keep-alive
// clients idle after one request. lbd's descriptors and goroutines come
// back to where they were, and so does most of its memory: within 30 s,
// RSS gives back at least two thirds of what the storm took (issue 18: it
// gave back nothing). What stays is the Go runtime's own per-goroutine
// and per-descriptor bookkeeping, which it never frees (goroutine
// records, poll descriptors, span metadata), reused by the next storm.
func TestSoakConnectionStorm(t *testing.T) {
	needSoak(t)
	p, _, _, fast, base := stormProc(t)
	n := stormSize(t)
	t.Logf("before: %v", base)
	storms := []struct {
		name string
		open func(c net.Conn) error
	}{
		{"heads that never end", func(c net.Conn) error {
			_, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n")
			return err
		}},
		{"keep-alive clients idle after a request", func(c net.Conn) error {
			if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
				return err
			}
			line, err := bufio.NewReader(c).ReadString('\n')
			if err == nil && !strings.HasPrefix(line, "HTTP/1.1 200 ") {
				err = fmt.Errorf("answer %q", line)
			}
			return err
		}},
	}
	for _, storm := range storms {
		before := p.reading(t)
		conns := make([]net.Conn, n)
		var errs atomic.Int64
		var firstErr atomic.Value
		sem := make(chan struct{}, 256)
		var wg sync.WaitGroup
		start := time.Now()
		for i := range conns {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				c, err := net.Dial("tcp", fast)
				if err == nil {
					conns[i] = c
					c.SetDeadline(time.Now().Add(2 * time.Minute))
					err = storm.open(c)
				}
				if err != nil {
					errs.Add(1)
					firstErr.CompareAndSwap(nil, err)
				}
			}()
		}
		wg.Wait()
		opened := time.Since(start)
		// All accepted: lbd holds a descriptor for each.
		deadline := time.Now().Add(30 * time.Second)
		var during soakReading
		for {
			during = p.reading(t)
			if during.res.fds >= base.res.fds+n-int(errs.Load()) || time.Now().After(deadline) {
				break
			}
			time.Sleep(250 * time.Millisecond)
		}
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
		closed := time.Now()
		after, settled, ok := backToBase(t, p, base, before.rssKB+(during.rssKB-before.rssKB)/3)
		t.Logf("%s, %d connections (opened in %v, %d failed):\n  before: %v\n  during: %v\n  after:  %v (%v after they closed)",
			storm.name, n, opened.Round(100*time.Millisecond), errs.Load(), before, during, after, settled.Round(100*time.Millisecond))
		if e := errs.Load(); e > 0 {
			t.Errorf("%s: %d connections failed: %v", storm.name, e, firstErr.Load())
		}
		if !ok {
			t.Errorf("%s: lbd did not come back within %v of the storm's end: %v; before it %v, during %v",
				storm.name, time.Since(closed).Round(time.Second), after, before, during)
		}
	}
}
