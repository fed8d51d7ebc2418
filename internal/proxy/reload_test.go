package proxy

import (
	"bytes"
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
)

const reloadTmpl = `
loadbalancers:
  - name: lb
    vip_address: 127.0.0.1
    listeners:
      - name: web
        protocol: HTTP
        protocol_port: {{.Web}}
        default_pool: {name: webpool}
      - name: stream
        protocol: TCP
        protocol_port: {{.Stream}}
        default_pool:
          name: streampool
          protocol: TCP
          lb_algorithm: ROUND_ROBIN
          members: [{address: 127.0.0.1, protocol_port: {{port .Echo}}}]
      {{- range .Extra}}
      - name: extra{{.}}
        protocol: HTTP
        protocol_port: {{.}}
        default_pool: {name: webpool}
      {{- end}}
      {{- if .Slow}}
      - name: slow
        protocol: HTTP
        protocol_port: {{.SlowPort}}
        default_pool:
          name: slowpool
          protocol: HTTP
          lb_algorithm: ROUND_ROBIN
          members: [{address: 127.0.0.1, protocol_port: {{port .Slow}}}]
      {{- end}}
    pools:
      - name: webpool
        protocol: HTTP
        lb_algorithm: {{.Algorithm}}
        members:
        {{- range .Members}}
          - {address: 127.0.0.1, protocol_port: {{port .Addr}}, weight: {{.Weight}}}
        {{- end}}
`

type reloadMember struct {
	Addr   string
	Weight int
}

type reloadData struct {
	Web, Stream int
	Echo        string
	Extra       []int
	Slow        string // a listener with a slow member, when set
	SlowPort    int
	Algorithm   string
	Members     []reloadMember
}

// streamEcho echoes whatever arrives, as it arrives.
func streamEcho(t *testing.T) string {
	addr, _ := rawMember(t, func(c net.Conn) { io.Copy(c, c) })
	return addr
}

// TestReloadUnderLoad changes pools and members, adds a listener and removes
// another while clients keep sending: no request on a listener that stays may
// fail, a long-lived TCP stream survives every reload, a removed listener
// drains its in-flight request and then refuses connections.
func TestReloadUnderLoad(t *testing.T) {
	b := []*demo.Backend{
		startBackend(t, "b0", demo.Options{}), startBackend(t, "b1", demo.Options{}),
		startBackend(t, "b2", demo.Options{}), startBackend(t, "slow", demo.Options{Latency: 700 * time.Millisecond}),
	}
	d := reloadData{Web: freePort(t), Stream: freePort(t), Echo: streamEcho(t), Algorithm: "ROUND_ROBIN",
		Members: []reloadMember{{b[0].Addr(), 1}, {b[1].Addr(), 1}}}
	gone := freePort(t)
	d.Slow, d.SlowPort = b[3].Addr(), gone
	rt := New(testLogger(t), Options{DrainTimeout: 5 * time.Second, NoEventLoop: goroutinesOnly()})
	defer rt.Shutdown(context.Background())
	if err := rt.Apply(context.Background(), config(t, reloadTmpl, d)); err != nil {
		t.Fatal(err)
	}

	// Load: keep-alive and one-shot clients on the web listener.
	var ok, failed atomic.Int64
	stop := make(chan struct{})
	var stopOnce sync.Once
	stopLoad := func() { stopOnce.Do(func() { close(stop) }) }
	t.Cleanup(stopLoad) // also when the test fails early
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := clientFrom("127.0.0.1")
			for {
				select {
				case <-stop:
					return
				default:
				}
				if i%2 == 1 {
					c.Transport.(*http.Transport).CloseIdleConnections()
				}
				resp, err := c.Get(fmt.Sprintf("http://127.0.0.1:%d/", d.Web))
				if err != nil {
					if failed.Add(1) <= 5 {
						t.Logf("request failed: %v", err)
					}
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == 200 {
					ok.Add(1)
				} else {
					failed.Add(1)
					t.Logf("request got %d", resp.StatusCode)
				}
			}
		}()
	}
	// A long-lived TCP stream: echoes every message throughout.
	stream, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", d.Stream))
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Close()
	var streamErr error
	streamDone := make(chan struct{})
	go func() {
		defer close(streamDone)
		buf := make([]byte, 64)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			msg := []byte(fmt.Sprintf("message %06d", i))
			stream.SetDeadline(time.Now().Add(5 * time.Second))
			if _, err := stream.Write(msg); err != nil {
				streamErr = err
				return
			}
			if _, err := io.ReadFull(stream, buf[:len(msg)]); err != nil || !bytes.Equal(buf[:len(msg)], msg) {
				streamErr = fmt.Errorf("message %d: %q, %v", i, buf[:len(msg)], err)
				return
			}
		}
	}()
	// An in-flight slow request on the listener about to be removed.
	slowDone := make(chan error, 1)
	go func() {
		resp, err := clientFrom("127.0.0.1").Get(fmt.Sprintf("http://127.0.0.1:%d/", gone))
		if err != nil {
			slowDone <- err
			return
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err == nil && backendName(string(body)) != "slow" {
			err = fmt.Errorf("answer %q", body)
		}
		slowDone <- err
	}()
	waitFor(t, func() bool { return b[3].PeakInFlight() > 0 }, "the slow request to start")

	// Reloads: remove the extra listener and the slow member, add a listener,
	// change algorithm, weights and members.
	added := freePort(t)
	steps := []func(){
		func() {
			d.Extra = []int{added}
			d.Slow = ""
			d.Members = []reloadMember{{b[0].Addr(), 1}, {b[1].Addr(), 1}, {b[2].Addr(), 1}}
		},
		func() {
			d.Algorithm = "LEAST_CONNECTIONS"
			d.Members = []reloadMember{{b[0].Addr(), 1}, {b[1].Addr(), 3}, {b[2].Addr(), 1}}
		},
		func() { d.Members = []reloadMember{{b[1].Addr(), 0}, {b[2].Addr(), 1}} }, // b1 drains, b0 removed
		func() { d.Algorithm = "SOURCE_IP"; d.Members = []reloadMember{{b[0].Addr(), 2}, {b[2].Addr(), 1}} },
		func() { d.Algorithm = "ROUND_ROBIN" },
	}
	for _, step := range steps {
		before := ok.Load()
		step()
		if err := rt.Apply(context.Background(), config(t, reloadTmpl, d)); err != nil {
			t.Fatal(err)
		}
		waitFor(t, func() bool { return ok.Load() >= before+100 }, "100 requests after a reload")
	}
	if err := <-slowDone; err != nil {
		t.Fatalf("the in-flight request on the removed listener failed: %v", err)
	}
	stopLoad()
	wg.Wait()
	<-streamDone
	mustf(t, failed.Load() == 0, "%d of %d requests failed across reloads", failed.Load(), ok.Load()+failed.Load())
	mustf(t, streamErr == nil, "long-lived TCP stream broke: %v", streamErr)
	// The added listener serves; the removed one refuses.
	code, _ := get(t, clientFrom("127.0.0.1"), fmt.Sprintf("http://127.0.0.1:%d/", added))
	mustf(t, code == 200, "added listener answered %d", code)
	_, err = net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", gone), time.Second)
	mustf(t, err != nil, "removed listener still accepts connections")
	t.Logf("%d requests, 0 failed, across %d reloads", ok.Load(), len(steps)+1)
}

// TestReloadBindErrorChangesNothing: a config whose new listener cannot bind
// is refused whole.
func TestReloadBindErrorChangesNothing(t *testing.T) {
	b0 := startBackend(t, "b0", demo.Options{})
	d := reloadData{Web: freePort(t), Stream: freePort(t), Echo: streamEcho(t), Algorithm: "ROUND_ROBIN", Members: []reloadMember{{b0.Addr(), 1}}}
	rt := startRuntime(t, config(t, reloadTmpl, d))
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	before := rt.Config()
	d.Extra = []int{taken.Addr().(*net.TCPAddr).Port}
	d.Algorithm = "LEAST_CONNECTIONS"
	err = rt.Apply(context.Background(), config(t, reloadTmpl, d))
	mustf(t, err != nil, "apply with a taken port succeeded")
	mustf(t, rt.Config() == before, "a failed apply replaced the config")
	for _, p := range rt.pools {
		mustf(t, p.bal.Algorithm().String() == "ROUND_ROBIN", "a failed apply changed a pool")
	}
}

func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
