package proxy

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"lbd/internal/lbdtest/pki"
	"lbd/internal/octavia"
)

// FuzzH2Frames sends HTTP/2 frames, as the fuzzer writes them, over TLS to
// a TERMINATED_HTTPS listener whose member records every byte it gets.
// Whatever the frames, lbd must not panic, must send the member only
// well-formed HTTP/1.1 (a strict parser takes every member connection's
// bytes, one request at most, as the member closes after it), and must go
// on serving an ordinary HTTP/2 client.
func FuzzH2Frames(f *testing.F) {
	for _, s := range h2Seeds(f) {
		f.Add(s)
	}
	h := newH2FuzzHarness(f)
	f.Fuzz(func(t *testing.T, frames []byte) {
		before := h.member.count()
		h.send(t, frames)
		for ci, rc := range h.member.since(before) {
			data := rc.bytes()
			reqs, err := refParse(data)
			if err != nil && !errors.Is(err, errRefIncomplete) {
				t.Fatalf("member connection %d received bytes a strict parser refuses (%v):\n%q\nframes: %x", ci, err, data, frames)
			}
			if len(reqs) > 1 {
				t.Fatalf("member connection %d received %d requests:\n%q\nframes: %x", ci, len(reqs), data, frames)
			}
		}
		if p := h.panics(); p != "" {
			t.Fatalf("lbd panicked serving the frames %x:\n%s", frames, p)
		}
		h.check(t)
	})
}

type h2FuzzHarness struct {
	rt     *Runtime
	addr   string
	member *recordingMember
	client *http.Client
	mu     sync.Mutex
	logs   bytes.Buffer // net/http's HTTP/2 server's log: a handler's panic shows there
}

func (h *h2FuzzHarness) Write(p []byte) (int, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.logs.Write(p)
}

func (h *h2FuzzHarness) panics() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	if s := h.logs.String(); strings.Contains(s, "panic") {
		h.logs.Reset()
		return s
	}
	h.logs.Reset()
	return ""
}

func newH2FuzzHarness(tb testing.TB) *h2FuzzHarness {
	h := &h2FuzzHarness{member: startRecordingMember(tb)}
	ca := pki.NewCA(tb, "fuzz ca")
	cert := pki.Write(tb, tb.TempDir(), "www.pem", ca.Issue(tb, pki.Leaf{CN: "www.example.com"}).BundlePEM())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	p := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	_, mport, _ := net.SplitHostPort(h.member.ln.Addr().String())
	cfg, err := octavia.Parse("fuzz.yaml", fmt.Appendf(nil, `
loadbalancers:
  - name: lb
    vip_address: 127.0.0.1
    listeners:
      - name: web
        protocol: TERMINATED_HTTPS
        protocol_port: %d
        default_tls_container_ref: %s
        timeout_client_data: 3000
        timeout_member_data: 3000
        timeout_member_connect: 1000
        insert_headers: {X-Forwarded-For: "true", X-Forwarded-Proto: "true"}
        default_pool:
          name: pool
          protocol: HTTP
          lb_algorithm: ROUND_ROBIN
          members: [{address: 127.0.0.1, protocol_port: %s}]
`, p, cert, mport))
	if err != nil {
		tb.Fatal(err)
	}
	h.rt = New(slog.New(slog.DiscardHandler), Options{DrainTimeout: time.Second})
	h.rt.h2log = log.New(h, "", 0)
	if err := h.rt.Apply(context.Background(), cfg); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		h.rt.Shutdown(ctx)
	})
	h.addr = fmt.Sprintf("127.0.0.1:%d", p)
	tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, ForceAttemptHTTP2: true}
	tb.Cleanup(tr.CloseIdleConnections)
	h.client = &http.Client{Transport: tr, Timeout: 5 * time.Second}
	return h
}

// send writes the preface, a SETTINGS frame and the fuzzer's bytes on a
// new connection, and reads what lbd answers until it closes or is quiet
// for 20 ms (a stream left open), a second at most. A request the member
// has not answered by then is left to run: the member's records are read
// after, and a late one is checked with the next input.
func (h *h2FuzzHarness) send(t *testing.T, frames []byte) {
	c, err := tls.Dial("tcp", h.addr, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h2"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var b bytes.Buffer
	b.WriteString(http2.ClientPreface)
	http2.NewFramer(&b, nil).WriteSettings()
	b.Write(frames)
	c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write(b.Bytes()); err != nil {
		return // lbd may close before reading it all
	}
	buf := make([]byte, 32<<10)
	for end := time.Now().Add(time.Second); time.Now().Before(end); {
		c.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
		if _, err := c.Read(buf); err != nil {
			return
		}
	}
}

// check makes sure an ordinary HTTP/2 request is still served.
func (h *h2FuzzHarness) check(t *testing.T) {
	resp, err := h.client.Get("https://" + h.addr + "/after")
	if err != nil {
		t.Fatalf("an ordinary request after the frames: %v", err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.ProtoMajor != 2 {
		t.Fatalf("an ordinary request after the frames: %d over HTTP/%d", resp.StatusCode, resp.ProtoMajor)
	}
}

// h2Seeds are frame sequences a client might send: requests with and
// without bodies, split header blocks, resets, pings, window updates,
// priorities, trailers and a GOAWAY.
func h2Seeds(tb testing.TB) [][]byte {
	block := func(fields ...string) []byte {
		var b bytes.Buffer
		enc := hpack.NewEncoder(&b)
		for i := 0; i+1 < len(fields); i += 2 {
			enc.WriteField(hpack.HeaderField{Name: fields[i], Value: fields[i+1]})
		}
		return b.Bytes()
	}
	get := block(":method", "GET", ":scheme", "https", ":authority", "www.example.com", ":path", "/a?b=c", "user-agent", "fuzz", "cookie", "a=1", "cookie", "b=2")
	post := block(":method", "POST", ":scheme", "https", ":authority", "www.example.com", ":path", "/up", "content-length", "5")
	chunked := block(":method", "PUT", ":scheme", "https", ":authority", "www.example.com", ":path", "/put")
	var seeds [][]byte
	add := func(fn func(fr *http2.Framer)) {
		var b bytes.Buffer
		fn(http2.NewFramer(&b, nil))
		seeds = append(seeds, b.Bytes())
	}
	add(func(fr *http2.Framer) {
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: get, EndHeaders: true, EndStream: true})
	})
	add(func(fr *http2.Framer) {
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: post, EndHeaders: true})
		fr.WriteData(1, true, []byte("hello"))
	})
	add(func(fr *http2.Framer) {
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 3, BlockFragment: chunked, EndHeaders: true})
		fr.WriteData(3, false, []byte("part one "))
		fr.WriteData(3, false, []byte("part two"))
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 3, BlockFragment: block("x-trailer", "t"), EndHeaders: true, EndStream: true})
	})
	add(func(fr *http2.Framer) {
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: get[:7], EndHeaders: false})
		fr.WriteContinuation(1, true, get[7:])
		fr.WriteRSTStream(1, http2.ErrCodeCancel)
		fr.WritePing(false, [8]byte{1, 2, 3})
		fr.WriteWindowUpdate(0, 1<<20)
		fr.WritePriority(5, http2.PriorityParam{StreamDep: 1, Weight: 7})
		fr.WriteGoAway(0, http2.ErrCodeNo, nil)
	})
	add(func(fr *http2.Framer) {
		fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1}, http2.Setting{ID: http2.SettingMaxFrameSize, Val: 16384})
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: get, EndHeaders: true, EndStream: true})
		fr.WriteWindowUpdate(1, 100)
	})
	return seeds
}
