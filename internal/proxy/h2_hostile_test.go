package proxy

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"lbd/internal/octavia"
)

// The known HTTP/2 attacks, sent with a raw framer over TLS to a
// TERMINATED_HTTPS listener: each must be fended off without the members
// seeing the flood, and the listener must go on serving other clients.

// h2Client is a raw HTTP/2 client connection.
type h2Client struct {
	t      *testing.T
	conn   *tls.Conn
	mu     sync.Mutex // serializes writes: the reader acknowledges SETTINGS
	fr     *http2.Framer
	frames chan h2Event // everything the server sends, until it closes
	closed chan error
}

func dialH2(t *testing.T, addr string) *h2Client {
	t.Helper()
	conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h2"}})
	if err != nil {
		t.Fatal(err)
	}
	if p := conn.ConnectionState().NegotiatedProtocol; p != "h2" {
		t.Fatalf("negotiated %q", p)
	}
	t.Cleanup(func() { conn.Close() })
	c := &h2Client{t: t, conn: conn, fr: http2.NewFramer(conn, conn), frames: make(chan h2Event, 1<<16), closed: make(chan error, 1)}
	c.fr.ReadMetaHeaders = hpack.NewDecoder(65536, nil)
	if _, err := io.WriteString(conn, http2.ClientPreface); err != nil {
		t.Fatal(err)
	}
	c.fr.WriteSettings()
	go func() {
		for {
			f, err := c.fr.ReadFrame()
			if err != nil {
				c.closed <- err
				close(c.frames)
				return
			}
			if s, ok := f.(*http2.SettingsFrame); ok && !s.IsAck() {
				c.write(func(fr *http2.Framer) error { return fr.WriteSettingsAck() })
			}
			select {
			case c.frames <- eventOf(f):
			default: // a flood the test does not read: drop
			}
		}
	}()
	return c
}

// h2Event is what a test reads of a frame: the framer reuses frames, so
// the reader copies them out.
type h2Event struct {
	Type       http2.FrameType
	StreamID   uint32
	ErrCode    http2.ErrCode // RST_STREAM, GOAWAY
	Status     string        // HEADERS: :status
	Ack        bool          // SETTINGS
	MaxStreams uint32        // SETTINGS: SETTINGS_MAX_CONCURRENT_STREAMS, 0 when absent
}

func eventOf(f http2.Frame) h2Event {
	e := h2Event{Type: f.Header().Type, StreamID: f.Header().StreamID}
	switch f := f.(type) {
	case *http2.RSTStreamFrame:
		e.ErrCode = f.ErrCode
	case *http2.GoAwayFrame:
		e.ErrCode = f.ErrCode
	case *http2.MetaHeadersFrame:
		e.Status = f.PseudoValue("status")
	case *http2.SettingsFrame:
		e.Ack = f.IsAck()
		e.MaxStreams, _ = f.Value(http2.SettingMaxConcurrentStreams)
	}
	return e
}

// write runs fn with the framer, alone.
func (c *h2Client) write(fn func(fr *http2.Framer) error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return fn(c.fr)
}

// headers encodes a GET request's header block.
func h2Headers(path string, extra ...string) []byte {
	var buf bytes.Buffer
	enc := hpack.NewEncoder(&buf)
	for _, f := range [][2]string{{":method", "GET"}, {":scheme", "https"}, {":authority", "www.example.com"}, {":path", path}} {
		enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	for i := 0; i+1 < len(extra); i += 2 {
		enc.WriteField(hpack.HeaderField{Name: extra[i], Value: extra[i+1]})
	}
	return buf.Bytes()
}

// waitClosedOrGoAway waits for the server to send GOAWAY or close.
func (c *h2Client) waitClosedOrGoAway(d time.Duration) (goaway *h2Event, closed bool) {
	timeout := time.After(d)
	for {
		select {
		case f, ok := <-c.frames:
			if !ok {
				return goaway, true
			}
			if f.Type == http2.FrameGoAway {
				goaway = &f
			}
		case <-timeout:
			return goaway, false
		}
	}
}

// h2Hostile starts a TERMINATED_HTTPS listener before a member that
// counts requests.
func h2Hostile(t *testing.T) (addr string, requests *atomic.Int64, rt *Runtime) {
	return h2HostileTimeout(t, 0)
}

// h2HostileTimeout is h2Hostile with timeout_client_data (ms; 0: Octavia's default).
func h2HostileTimeout(t *testing.T, clientTimeout int) (addr string, requests *atomic.Int64, rt *Runtime) {
	t.Helper()
	site := newTLSSite(t)
	requests = &atomic.Int64{}
	counting := startCounting(t, func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		io.WriteString(w, "ok\n")
	})
	p := freePort(t)
	rt = startRuntime(t, config(t, tlsConfigTmpl, tlsCfg{Port: p, Cert: site.www, Members: []string{counting}, ClientTimeout: clientTimeout}))
	return fmt.Sprintf("127.0.0.1:%d", p), requests, rt
}

// startCounting starts an HTTP member running h.
func startCounting(t *testing.T, h http.HandlerFunc) string {
	srv := &http.Server{Handler: h}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// stillServes checks the listener serves an ordinary HTTP/2 client.
func stillServes(t *testing.T, addr string) {
	t.Helper()
	tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, ForceAttemptHTTP2: true}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	resp, err := c.Get("https://" + addr + "/")
	if err != nil {
		t.Fatalf("an ordinary client after the attack: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.ProtoMajor != 2 {
		t.Fatalf("an ordinary client after the attack: %d over HTTP/%d", resp.StatusCode, resp.ProtoMajor)
	}
}

// TestH2RapidReset is CVE-2023-44487: streams opened and reset at once,
// as fast as the client can write them. Handlers run at most 100 at a time
// per connection and reset streams are not forwarded, so the member sees
// a small fraction of them; the connection is closed when resets outrun
// the handlers.
func TestH2RapidReset(t *testing.T) {
	addr, requests, _ := h2Hostile(t)
	c := dialH2(t, addr)
	const streams = 20000
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	cpu0, start := cpuTime(), time.Now()
	block := h2Headers("/")
	sent := 0
	var werr error
	for i := range streams {
		id := uint32(2*i + 1)
		if werr = c.write(func(fr *http2.Framer) error {
			return fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: block, EndHeaders: true, EndStream: true})
		}); werr != nil {
			break
		}
		if werr = c.write(func(fr *http2.Framer) error { return fr.WriteRSTStream(id, http2.ErrCodeCancel) }); werr != nil {
			break
		}
		sent++
	}
	goaway, closed := c.waitClosedOrGoAway(3 * time.Second)
	if goaway != nil {
		t.Logf("GOAWAY %v (write error %v)", goaway.ErrCode, werr)
	}
	cpu, wall := cpuTime()-cpu0, time.Since(start)
	runtime.ReadMemStats(&ms1)
	got := requests.Load()
	t.Logf("rapid reset: %d streams sent and reset in %v; %d reached the member; connection closed by lbd: %v; CPU %v; heap %+d kB",
		sent, wall.Round(time.Millisecond), got, closed, cpu.Round(time.Millisecond), (int64(ms1.HeapInuse)-int64(ms0.HeapInuse))/1024)
	// Handlers run 100 at a time and a stream reset before its handler
	// starts is dropped: whatever the pace, the member sees a few hundred
	// at most, and lbd closes a connection whose resets outrun them.
	if got > 5*h2MaxConcurrentStreams {
		t.Errorf("%d of %d reset streams reached the member", got, sent)
	}
	stillServes(t, addr)
}

// TestH2ContinuationFlood is CVE-2023-45288: a header block that never
// ends, CONTINUATION after CONTINUATION. lbd stops reading it once it
// passes the header size limit and closes the connection.
func TestH2ContinuationFlood(t *testing.T) {
	addr, requests, _ := h2Hostile(t)
	c := dialH2(t, addr)
	c.write(func(fr *http2.Framer) error {
		return fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: h2Headers("/"), EndHeaders: false})
	})
	junk := h2Headers("/", "x-junk", strings.Repeat("a", 8000))[len(h2Headers("/")):]
	written := 0
	var werr error
	for written < 64<<20 {
		if werr = c.write(func(fr *http2.Framer) error { return fr.WriteContinuation(1, false, junk) }); werr != nil {
			break
		}
		written += len(junk)
	}
	_, closed := c.waitClosedOrGoAway(5 * time.Second)
	t.Logf("CONTINUATION flood: %d kB of header block written before lbd cut it (write error %v, closed %v)", written/1024, werr, closed)
	if werr == nil && !closed {
		t.Fatal("64 MB of CONTINUATION frames accepted")
	}
	if written > 16<<20 {
		t.Errorf("lbd read %d MB of an endless header block", written>>20)
	}
	if requests.Load() != 0 {
		t.Errorf("the member saw %d requests", requests.Load())
	}
	stillServes(t, addr)
}

// TestH2HPACKBomb inserts one large header in the dynamic table and
// references it thousands of times, each reference one byte: the decoded
// header list is far over the limit, and lbd refuses it without
// building it or forwarding it.
func TestH2HPACKBomb(t *testing.T) {
	addr, requests, _ := h2Hostile(t)
	c := dialH2(t, addr)
	var buf bytes.Buffer
	enc := hpack.NewEncoder(&buf)
	for _, f := range [][2]string{{":method", "GET"}, {":scheme", "https"}, {":authority", "www.example.com"}, {":path", "/"}} {
		enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	enc.WriteField(hpack.HeaderField{Name: "x-bomb", Value: strings.Repeat("b", 3000)}) // indexed at 62
	for range 10000 {
		buf.WriteByte(0x80 | 62) // indexed header field 62: 3 kB each
	}
	block := buf.Bytes()
	first := block[:min(len(block), 16384)]
	c.write(func(fr *http2.Framer) error {
		return fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: first, EndHeaders: len(first) == len(block), EndStream: true})
	})
	for rest := block[len(first):]; len(rest) > 0; {
		n := min(len(rest), 16384)
		c.write(func(fr *http2.Framer) error { return fr.WriteContinuation(1, n == len(rest), rest[:n]) })
		rest = rest[n:]
	}
	status := ""
	deadline := time.After(5 * time.Second)
wait:
	for {
		select {
		case f, ok := <-c.frames:
			if !ok {
				status = "connection closed"
				break wait
			}
			switch f.Type {
			case http2.FrameHeaders:
				status = f.Status
				break wait
			case http2.FrameRSTStream:
				status = "RST_STREAM " + f.ErrCode.String()
				break wait
			case http2.FrameGoAway:
				status = "GOAWAY " + f.ErrCode.String()
				break wait
			}
		case <-deadline:
			t.Fatal("no answer to a 30 MB header list")
		}
	}
	t.Logf("HPACK bomb (%d bytes encoding %d MB of headers): %s", buf.Len(), 3000*10000>>20, status)
	if status == "200" || requests.Load() != 0 {
		t.Errorf("the bomb was served: %s, member saw %d requests", status, requests.Load())
	}
	stillServes(t, addr)
}

// TestH2SettingsFlood sends SETTINGS (and PING) frames without reading
// the acknowledgements: once more than 10000 control frames wait to be
// written, or its writes to the client have stalled for
// timeout_client_data (2 s here), lbd closes the connection.
func TestH2SettingsFlood(t *testing.T) {
	for _, kind := range []string{"SETTINGS", "PING"} {
		t.Run(kind, func(t *testing.T) {
			addr, _, _ := h2HostileTimeout(t, 2000)
			conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h2"}})
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			// Nothing read: once the socket buffers are full, the
			// acknowledgements pile up in lbd.
			io.WriteString(conn, http2.ClientPreface)
			http2.NewFramer(conn, nil).WriteSettings()
			// Frames are encoded 10000 at a time and written in one go, as
			// fast as an attacker would.
			var batch bytes.Buffer
			fr := http2.NewFramer(&batch, nil)
			const perBatch = 10000
			for range perBatch {
				if kind == "SETTINGS" {
					fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 65535})
				} else {
					fr.WritePing(false, [8]byte{1})
				}
			}
			conn.SetWriteDeadline(time.Now().Add(30 * time.Second))
			sent := 0
			for sent < 5_000_000 {
				if _, err = conn.Write(batch.Bytes()); err != nil {
					break
				}
				sent += perBatch
			}
			if err == nil || isTimeout(err) {
				t.Fatalf("%d %s frames sent without lbd closing the connection (%v)", sent, kind, err)
			}
			t.Logf("%s flood: connection closed by lbd after %d frames (%v)", kind, sent, err)
			stillServes(t, addr)
		})
	}
}

// TestH2StreamLimit: lbd advertises SETTINGS_MAX_CONCURRENT_STREAMS 100
// and refuses the 101st open stream.
func TestH2StreamLimit(t *testing.T) {
	addr, _, _ := h2Hostile(t)
	c := dialH2(t, addr)
	var advertised uint32
	var sawAck bool
	for f := range c.frames {
		if f.Type == http2.FrameSettings {
			if f.Ack {
				sawAck = true
			} else if f.MaxStreams != 0 {
				advertised = f.MaxStreams
			}
		}
		if sawAck && advertised != 0 {
			break
		}
	}
	if advertised != h2MaxConcurrentStreams {
		t.Fatalf("SETTINGS_MAX_CONCURRENT_STREAMS %d", advertised)
	}
	// Streams left open (no END_STREAM): each holds a slot.
	for i := range 101 {
		c.write(func(fr *http2.Framer) error {
			return fr.WriteHeaders(http2.HeadersFrameParam{StreamID: uint32(2*i + 1), BlockFragment: h2Headers("/"), EndHeaders: true})
		})
	}
	timeout := time.After(5 * time.Second)
	for {
		select {
		case f, ok := <-c.frames:
			if !ok {
				t.Fatal("connection closed instead of refusing the stream")
			}
			if f.Type == http2.FrameRSTStream {
				// RFC 9113 §5.1.2: PROTOCOL_ERROR or REFUSED_STREAM; net/http
				// answers PROTOCOL_ERROR once the client acknowledged the limit.
				if f.StreamID != 201 || (f.ErrCode != http2.ErrCodeRefusedStream && f.ErrCode != http2.ErrCodeProtocol) {
					t.Fatalf("RST_STREAM %d %v, want 201 REFUSED_STREAM or PROTOCOL_ERROR", f.StreamID, f.ErrCode)
				}
				t.Logf("the 101st stream: RST_STREAM %v", f.ErrCode)
				return
			}
		case <-timeout:
			t.Fatal("the 101st stream was not refused")
		}
	}
}

// TestH2GoAwayOnDrain removes a listener while an HTTP/2 request is in
// flight: the client gets GOAWAY, the request finishes, and no new stream
// is served.
func TestH2GoAwayOnDrain(t *testing.T) {
	site := newTLSSite(t)
	arrived, release := make(chan struct{}, 1), make(chan struct{})
	held := startCounting(t, func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-release
		io.WriteString(w, "ok\n")
	})
	p := freePort(t)
	cfg := config(t, tlsConfigTmpl, tlsCfg{Port: p, Cert: site.www, Members: []string{held}})
	rt := startRuntime(t, cfg)
	addr := fmt.Sprintf("127.0.0.1:%d", p)
	c := dialH2(t, addr)
	c.write(func(fr *http2.Framer) error {
		return fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: h2Headers("/"), EndHeaders: true, EndStream: true})
	})
	<-arrived
	empty := &octavia.Config{}
	if err := rt.Apply(context.Background(), empty); err != nil {
		t.Fatal(err)
	}
	var goaway *h2Event
	status := ""
	timeout := time.After(10 * time.Second)
	for status == "" || goaway == nil {
		select {
		case f, ok := <-c.frames:
			if !ok {
				t.Fatalf("closed before the in-flight answer (goaway %v, status %q)", goaway, status)
			}
			switch f.Type {
			case http2.FrameGoAway:
				goaway = &f
				close(release) // the member answers only once GOAWAY is out
			case http2.FrameHeaders:
				if f.StreamID == 1 {
					status = f.Status
				}
			}
		case <-timeout:
			t.Fatalf("goaway %v, status %q", goaway, status)
		}
	}
	if goaway.ErrCode != http2.ErrCodeNo || status != "200" {
		t.Errorf("GOAWAY %v, in-flight status %s", goaway.ErrCode, status)
	}
}
