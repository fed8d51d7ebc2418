package proxy

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// scriptedMember is an HTTP member whose behaviour the request target
// picks, for the hostile scenarios: each connection serves one request.
func scriptedMember(t *testing.T) string {
	addr, _ := rawMember(t, func(c net.Conn) {
		c.SetDeadline(time.Now().Add(20 * time.Second)) // a stuck test ends
		br := bufio.NewReader(c)
		line, err := br.ReadString('\n')
		if err != nil {
			return
		}
		for {
			l, err := br.ReadString('\n')
			if err != nil {
				return
			}
			if l == "\r\n" {
				break
			}
		}
		target := strings.Fields(line)[1]
		big := strings.Repeat("x", 64<<10)
		switch target {
		case "/early":
			// Answers before the body, then reads what comes.
			io.WriteString(c, "HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
			io.Copy(io.Discard, br)
		case "/early-close":
			io.WriteString(c, "HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
		case "/big":
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 8388608\r\n\r\n")
			for range 128 {
				if _, err := io.WriteString(c, big); err != nil {
					return
				}
			}
		case "/reset":
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 8388608\r\n\r\n"+big+big)
			c.(*net.TCPConn).SetLinger(0)
		case "/upgrade":
			io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
			io.Copy(struct{ io.Writer }{c}, br) // no splice: the runtime's pipes wait for a GC
		case "/interim":
			for {
				if _, err := io.WriteString(c, "HTTP/1.1 102 Processing\r\n\r\n"); err != nil {
					return
				}
				time.Sleep(20 * time.Millisecond) // a member's pace
			}
		default:
			io.Copy(io.Discard, br)
		}
	})
	return addr
}

// echoMember echoes what it reads until EOF.
func echoMember(t *testing.T) string {
	// Not io.Copy(c, c): it would splice through the runtime's pipes,
	// which only a garbage collection closes.
	addr, _ := rawMember(t, func(c net.Conn) { io.Copy(struct{ io.Writer }{c}, c) })
	return addr
}

// fdSummary counts the process's descriptors by kind (socket, pipe...).
func fdSummary() (int, string) {
	ents, _ := os.ReadDir("/proc/self/fd")
	kinds := map[string]int{}
	for _, e := range ents {
		l, _ := os.Readlink("/proc/self/fd/" + e.Name())
		if i := strings.IndexAny(l, ":["); i > 0 {
			l = l[:i]
		}
		kinds[l]++
	}
	var parts []string
	for k, n := range kinds {
		parts = append(parts, fmt.Sprintf("%s %d", k, n))
	}
	sort.Strings(parts)
	return len(ents), strings.Join(parts, ", ")
}

// TestNoDescriptorLeftForTheCollector: with the garbage collector off,
// every hostile scenario ends with the process holding the descriptors it
// held before: each socket and pipe lbd opened was closed by the code that
// ended its exchange, none is waiting for a finalizer (issue 18: a slow
// POST answered early left two descriptors per client until a GC). Idle
// member connections and spare pipes are closed as their reapers would,
// without waiting for them.
func TestNoDescriptorLeftForTheCollector(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	httpPort, fastPort, tcpPort := freePort(t), freePort(t), freePort(t)
	cfg := config(t, `
loadbalancers:
  - name: lb
    vip_address: 127.0.0.1
    listeners:
      - name: web
        protocol: HTTP
        protocol_port: {{.HTTP}}
        timeout_client_data: 400
        timeout_member_data: 1000
        default_pool: {name: web, protocol: HTTP, lb_algorithm: ROUND_ROBIN, members: [{address: 127.0.0.1, protocol_port: {{port .Web}}}]}
      - name: fast
        protocol: HTTP
        protocol_port: {{.Fast}}
        default_pool: {name: fast, protocol: HTTP, lb_algorithm: ROUND_ROBIN, members: [{address: 127.0.0.1, protocol_port: {{port .Fixed}}}]}
      - name: tcp
        protocol: TCP
        protocol_port: {{.TCP}}
        timeout_client_data: 400
        timeout_member_data: 400
        default_pool: {name: echo, protocol: TCP, lb_algorithm: ROUND_ROBIN, members: [{address: 127.0.0.1, protocol_port: {{port .Echo}}}]}
`, map[string]any{"HTTP": httpPort, "TCP": tcpPort, "Web": scriptedMember(t), "Echo": echoMember(t),
		"Fast": fastPort, "Fixed": fixedServer(t)})
	rt := startRuntime(t, cfg)
	web, tcp := fmt.Sprintf("127.0.0.1:%d", httpPort), fmt.Sprintf("127.0.0.1:%d", tcpPort)
	fast := fmt.Sprintf("127.0.0.1:%d", fastPort)

	dial := func(t *testing.T, addr string) net.Conn {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		return c
	}
	post := func(target string) string {
		return "POST " + target + " HTTP/1.1\r\nHost: x\r\nContent-Length: 1048576\r\n\r\n" + strings.Repeat("a", 100)
	}
	statusLine := func(c net.Conn) string {
		line, _ := bufio.NewReader(c).ReadString('\n')
		return line
	}
	scenarios := []struct {
		name   string
		client func(t *testing.T)
	}{
		{"slow POST answered early, then the client closes", func(t *testing.T) {
			c := dial(t, web)
			defer c.Close()
			io.WriteString(c, post("/early"))
			statusLine(c)
			io.WriteString(c, strings.Repeat("b", 100))
		}},
		{"slow POST answered early by a member that closes", func(t *testing.T) {
			c := dial(t, web)
			defer c.Close()
			io.WriteString(c, post("/early-close"))
			statusLine(c)
			io.WriteString(c, strings.Repeat("b", 100))
		}},
		{"upload stalled until timeout_client_data", func(t *testing.T) {
			c := dial(t, web)
			defer c.Close()
			io.WriteString(c, post("/sink"))
			io.ReadAll(c)
		}},
		{"upload cut by the client", func(t *testing.T) {
			c := dial(t, web)
			defer c.Close()
			io.WriteString(c, post("/sink"))
			io.WriteString(c, strings.Repeat("b", 64<<10))
		}},
		{"large response the client stops reading", func(t *testing.T) {
			c := dial(t, web)
			defer c.Close()
			io.WriteString(c, "GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
			statusLine(c)
			// Reads nothing more: lbd cuts it after timeout_client_data.
			deadline := time.Now().Add(5 * time.Second)
			for activeConns(rt) != 0 && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
		}},
		{"large response the client closes halfway", func(t *testing.T) {
			c := dial(t, web)
			defer c.Close()
			io.WriteString(c, "GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
			io.CopyN(io.Discard, c, 1<<20)
		}},
		{"member resets mid-response", func(t *testing.T) {
			c := dial(t, web)
			defer c.Close()
			io.WriteString(c, "GET /reset HTTP/1.1\r\nHost: x\r\n\r\n")
			io.ReadAll(c)
		}},
		{"upgraded connection closed by the client", func(t *testing.T) {
			c := dial(t, web)
			defer c.Close()
			io.WriteString(c, "GET /upgrade HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
			statusLine(c)
			io.WriteString(c, strings.Repeat("e", 100<<10))
			io.CopyN(io.Discard, c, 10<<10)
		}},
		{"interim responses forever", func(t *testing.T) {
			c := dial(t, web)
			defer c.Close()
			io.WriteString(c, "GET /interim HTTP/1.1\r\nHost: x\r\n\r\n")
			io.CopyN(io.Discard, c, 1000)
		}},
		{"keep-alive client closes mid-request", func(t *testing.T) {
			c := dial(t, fast)
			defer c.Close()
			br := bufio.NewReader(c)
			for range 50 {
				io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					t.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
			}
			io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		}},
		{"TCP connection closed by the client mid-transfer", func(t *testing.T) {
			c := dial(t, tcp)
			defer c.Close()
			io.WriteString(c, strings.Repeat("t", 200<<10))
			io.CopyN(io.Discard, c, 50<<10)
		}},
		{"TCP connection idle until the timeout", func(t *testing.T) {
			c := dial(t, tcp)
			defer c.Close()
			io.WriteString(c, "ping")
			io.ReadAll(c)
		}},
	}
	settle := func(t *testing.T) {
		deadline := time.Now().Add(10 * time.Second)
		for activeConns(rt) != 0 {
			if time.Now().After(deadline) {
				t.Fatalf("%d client connections still open", activeConns(rt))
			}
			time.Sleep(5 * time.Millisecond)
		}
		closeIdleUpstreams(rt)
		closeLoopIdle(rt)
		rt.pipes.closeSpare()
	}
	settle(t)
	base, baseKinds := fdSummary()
	t.Logf("before: %d descriptors (%s)", base, baseKinds)
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			var wg sync.WaitGroup
			for range 20 {
				wg.Add(1)
				go func() { defer wg.Done(); sc.client(t) }()
			}
			wg.Wait()
			settle(t)
			deadline := time.Now().Add(5 * time.Second)
			for {
				n, kinds := fdSummary()
				if n <= base {
					return
				}
				if time.Now().After(deadline) {
					t.Fatalf("%d descriptors open after the scenario (%s), %d before (%s), with no garbage collection",
						n, kinds, base, baseKinds)
				}
				time.Sleep(10 * time.Millisecond)
				settle(t)
			}
		})
	}
}

// activeConns counts the client connections the runtime's listeners hold.
func activeConns(rt *Runtime) int64 {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	var n int64
	for _, l := range rt.listeners {
		n += l.active.Load()
	}
	return n
}

// closeLoopIdle closes the member connections idle in the event loops, as
// their expiry would idleUpstreamTTL after their last use.
func closeLoopIdle(rt *Runtime) {
	if rt.loops == nil {
		return
	}
	for _, hl := range rt.loops.loops {
		done := make(chan struct{})
		hl.loop.Post(func() {
			defer close(done)
			for _, list := range hl.idle {
				for _, u := range slices.Clone(list) { // dropIdle changes the list
					hl.dropIdle(u)
				}
			}
		})
		<-done
	}
}

// TestSparePipesClosedAfterABurst: the pipes a burst of splices took are
// closed by the pool itself once traffic no longer needs them, within two
// trims, with no garbage collection; while a steady load uses them they
// stay.
func TestSparePipesClosedAfterABurst(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	var pp pipePool
	base, _ := fdSummary()
	var ps []*splicePipe
	for range 50 {
		p, err := pp.get()
		if err != nil {
			t.Fatal(err)
		}
		ps = append(ps, p)
	}
	if n, kinds := fdSummary(); n != base+100 {
		t.Fatalf("50 pipes: %d descriptors (%s), %d before", n, kinds, base)
	}
	for _, p := range ps {
		pp.put(p)
	}
	// A steady user keeps one in use through the first trims.
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond): // a client's pace
			}
			p, _ := pp.get()
			pp.put(p)
		}
	}()
	start := time.Now()
	// A trim takes the pipes out of the pool, then closes them one by one
	// after it lets go of the pool's lock: wait for the closes too.
	for pp.spares() > 1 || pp.made.Load()-pp.closed.Load() > 1 {
		if time.Since(start) > 3*pipeTrimEvery {
			t.Fatalf("%d spare pipes, %d made, %d closed %v after the burst", pp.spares(), pp.made.Load(), pp.closed.Load(), time.Since(start))
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("the burst's pipes closed after %v", time.Since(start).Round(time.Millisecond))
	if n, _ := fdSummary(); n > base+2 {
		t.Errorf("%d descriptors after the trim, %d before", n, base)
	}
	if pp.made.Load()-pp.closed.Load() != 1 {
		t.Errorf("%d pipes made, %d closed: want one left, the steady user's", pp.made.Load(), pp.closed.Load())
	}
}
