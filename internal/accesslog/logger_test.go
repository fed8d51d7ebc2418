package accesslog

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func newLogger(t *testing.T, queue int, specs ...string) *Logger {
	t.Helper()
	var sinks []*Sink
	for _, spec := range specs {
		s, err := OpenSink(spec, SinkOptions{Format: amphora(t)})
		if err != nil {
			t.Fatal(err)
		}
		sinks = append(sinks, s)
	}
	l, err := New(sinks, queue, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		l.Close(ctx)
	})
	return l
}

func closeLogger(t *testing.T, l *Logger) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

// numbered is a record whose member ID says which it is.
func numbered(i int) *Record {
	r := httpRecord()
	r.Member.ID = "m" + strconv.Itoa(i)
	return r
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
}

// TestFileReopen: lines go to the file; after the file is renamed (as
// logrotate does) and Reopen is called, the next lines go to a new file at
// the path, the earlier ones stay in the renamed one.
func TestFileReopen(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "access.log")
	l := newLogger(t, 0, "file:"+path)
	f := amphora(t)
	for i := range 3 {
		l.Log(numbered(i))
	}
	waitFor(t, func() bool { return l.Stats().Written == 3 })
	waitFor(t, func() bool { return len(readLines(t, path)) == 3 })
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	l.Reopen()
	waitFor(t, func() bool { _, err := os.Stat(path); return err == nil })
	l.Log(numbered(3))
	closeLogger(t, l)
	old, cur := readLines(t, path+".1"), readLines(t, path)
	if len(old) != 3 || len(cur) != 1 {
		t.Fatalf("rotated file has %d lines, new one %d: %q / %q", len(old), len(cur), old, cur)
	}
	if want := string(f.Append(nil, numbered(3))); cur[0] != want {
		t.Errorf("line after reopen:\n got %s\nwant %s", cur[0], want)
	}
	if want := string(f.Append(nil, numbered(0))); old[0] != want {
		t.Errorf("first line:\n got %s\nwant %s", old[0], want)
	}
}

// waitFor polls cond: the writer goroutine's progress has no event a test
// can wait on.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// rfc5424 is a syslog message as RFC 5424 lays it out.
var rfc5424 = regexp.MustCompile(`^<(\d+)>1 (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}(?:Z|[+-]\d\d:\d\d)) (\S+) lbd (\d+) - - (.*)$`)

func checkSyslog(t *testing.T, msg string, pri int, want string) {
	t.Helper()
	m := rfc5424.FindStringSubmatch(msg)
	if m == nil {
		t.Fatalf("not an RFC 5424 message: %q", msg)
	}
	if m[1] != strconv.Itoa(pri) {
		t.Errorf("PRI %s, want %d", m[1], pri)
	}
	if _, err := time.Parse(time.RFC3339Nano, m[2]); err != nil {
		t.Errorf("timestamp %s: %v", m[2], err)
	}
	if host, _ := os.Hostname(); m[3] != host {
		t.Errorf("hostname %s, want %s", m[3], host)
	}
	if m[4] != strconv.Itoa(os.Getpid()) {
		t.Errorf("procid %s, want %d", m[4], os.Getpid())
	}
	if m[5] != want {
		t.Errorf("message:\n got %s\nwant %s", m[5], want)
	}
}

// TestSyslogUDP: each record is one datagram, an RFC 5424 message of
// facility local0 (or the one asked for), severity info, with the line as
// its MSG.
func TestSyslogUDP(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	l := newLogger(t, 0, "udp://"+pc.LocalAddr().String(), "udp://"+pc.LocalAddr().String()+"?facility=local3")
	l.Log(httpRecord())
	want := string(amphora(t).Append(nil, httpRecord()))
	buf := make([]byte, 4096)
	pris := map[int]bool{}
	for range 2 {
		pc.SetReadDeadline(time.Now().Add(10 * time.Second))
		n, _, err := pc.ReadFrom(buf)
		if err != nil {
			t.Fatal(err)
		}
		pri, _ := strconv.Atoi(strings.TrimPrefix(strings.SplitN(string(buf[:n]), ">", 2)[0], "<"))
		pris[pri] = true
		checkSyslog(t, string(buf[:n]), pri, want)
	}
	if !pris[134] || !pris[(16+3)*8+6] {
		t.Errorf("priorities %v, want 134 (local0.info) and %d (local3.info)", pris, (16+3)*8+6)
	}
}

// TestSyslogUnix: a unix datagram socket (/dev/log's kind) gets one message
// a datagram.
func TestSyslogUnix(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log")
	pc, err := net.ListenPacket("unixgram", path)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	l := newLogger(t, 0, "unix:"+path)
	want := []string{string(amphora(t).Append(nil, numbered(1))), string(amphora(t).Append(nil, numbered(2)))}
	l.Log(numbered(1))
	l.Log(numbered(2))
	buf := make([]byte, 4096)
	for _, w := range want {
		pc.SetReadDeadline(time.Now().Add(10 * time.Second))
		n, _, err := pc.ReadFrom(buf)
		if err != nil {
			t.Fatal(err)
		}
		checkSyslog(t, string(buf[:n]), 134, w)
	}
}

// TestSyslogTCP: over a stream, messages are framed by octet counting
// (RFC 6587), and a receiver that restarts gets the lines again.
func TestSyslogTCP(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	l := newLogger(t, 0, "tcp://"+ln.Addr().String())
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	l.Log(numbered(1))
	l.Log(numbered(2))
	br := bufio.NewReader(c)
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	for _, i := range []int{1, 2} {
		var n int
		if _, err := fmt.Fscanf(br, "%d ", &n); err != nil {
			t.Fatal(err)
		}
		msg := make([]byte, n)
		if _, err := io.ReadFull(br, msg); err != nil {
			t.Fatal(err)
		}
		checkSyslog(t, string(msg), 134, string(amphora(t).Append(nil, numbered(i))))
	}
}

// TestStderrJSON: stderr gets one JSON object a line, as slog writes lbd's
// other lines, with every field of the record.
func TestStderrJSON(t *testing.T) {
	var out syncBuffer
	s, err := OpenSink("stderr", SinkOptions{Stderr: &out})
	if err != nil {
		t.Fatal(err)
	}
	l, _ := New([]*Sink{s}, 0, nil)
	r := httpRecord()
	r.Termination = Term(CauseServerTimeout, PhaseHeaders)
	l.Log(r)
	tcp := httpRecord()
	tcp.Flavour, tcp.Response = TCP, NoTime
	l.Log(tcp)
	closeLogger(t, l)
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d lines: %q", len(lines), out.String())
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &got); err != nil {
		t.Fatalf("%v: %s", err, lines[0])
	}
	want := map[string]any{
		"level": "INFO", "msg": "access", "protocol": "HTTP", "project_id": "proj",
		"loadbalancer_id": "lbid", "loadbalancer": "web-lb",
		"listener_id": "11111111-1111-1111-1111-111111111111", "listener": "listener1",
		"pool_id": "22222222-2222-2222-2222-222222222222", "pool": "pool1",
		"member_id": "33333333-3333-3333-3333-333333333333", "member": "server1", "member_address": "127.0.0.1:15081",
		"client_ip": "127.0.0.1", "client_port": 60082.0, "listener_address": "127.0.0.1:15080",
		"accepted": "2026-12-03T20:35:30.075Z", "request": `GET /a%22b?x=#22y HTTP/1.1`, "status": 404.0,
		"bytes_in": 92.0, "bytes_out": 500.0,
		"wait_request_ms": 0.0, "connect_ms": 1.0, "response_ms": 3.0, "total_ms": 2025.0, "termination": "sH",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: got %v (%T), want %v", k, got[k], got[k], v)
		}
	}
	if _, ok := got["time"]; !ok {
		t.Error("no time field")
	}
	if len(got) != len(want)+1 {
		t.Errorf("fields beyond those expected: %v", got)
	}
	got = nil
	json.Unmarshal([]byte(lines[1]), &got)
	for _, k := range []string{"request", "status", "response_ms"} {
		if _, ok := got[k]; ok {
			t.Errorf("TCP record has %s: %s", k, lines[1])
		}
	}
}

// TestStalledSinkDoesNotBlock: with a syslog receiver that stopped
// reading, the writer blocks on its socket, Log keeps returning at once
// and counts the lines it drops; once the receiver reads again, what was
// queued arrives.
func TestStalledSinkDoesNotBlock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log")
	pc, err := net.ListenPacket("unixgram", path)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	const queue, total = 64, 100_000
	l := newLogger(t, queue, "unix:"+path)
	done := make(chan time.Duration)
	go func() {
		start := time.Now()
		r := httpRecord()
		for range total {
			l.Log(r)
		}
		done <- time.Since(start)
	}()
	select {
	case d := <-done:
		t.Logf("%d Log calls against a stalled sink took %v", total, d)
	case <-time.After(30 * time.Second):
		t.Fatal("Log blocked behind a stalled sink")
	}
	st := l.Stats()
	if st.Dropped == 0 || st.Dropped < total-queue-1000 {
		t.Fatalf("stats %+v: the stalled sink should have cost dropped lines", st)
	}
	// The receiver reads again: the writer drains the queue.
	var received atomic.Uint64
	go func() {
		buf := make([]byte, 4096)
		for {
			if _, _, err := pc.ReadFrom(buf); err != nil {
				return
			}
			received.Add(1)
		}
	}()
	closeLogger(t, l)
	st = l.Stats()
	waitFor(t, func() bool { return received.Load() == st.Written })
	if st.Written+st.Dropped+st.Failed != total {
		t.Errorf("stats %+v, sent %d", st, total)
	}
}

// TestLogAllocatesNothing: the data plane's side of logging allocates
// nothing, queued or dropped.
func TestLogAllocatesNothing(t *testing.T) {
	l := newLogger(t, 16, "file:"+os.DevNull)
	r := httpRecord()
	if n := testing.AllocsPerRun(10000, func() { l.Log(r) }); n != 0 {
		t.Errorf("Log allocates %v times a call", n)
	}
	var nl *Logger
	if n := testing.AllocsPerRun(100, func() { nl.Log(r) }); n != 0 {
		t.Errorf("a nil Logger allocates %v times a call", n)
	}
}

func TestCopyFromCopiesEveryField(t *testing.T) {
	src := httpRecord()
	src.Termination = Term(CauseKilled, PhaseLastData)
	var dst Record
	dst.SetRequestString(strings.Repeat("x", 500)) // longer than src's line
	dst.copyFrom(src)
	if string(dst.Request()) != string(src.Request()) {
		t.Errorf("request line %q, want %q", dst.Request(), src.Request())
	}
	dst.request, src.request = [MaxRequestLine]byte{}, [MaxRequestLine]byte{}
	if dst != *src {
		t.Errorf("copy differs:\n got %+v\nwant %+v", dst, *src)
	}
}

func TestOpenSinkErrors(t *testing.T) {
	for spec, want := range map[string]string{
		"syslog":                            "not a sink",
		"file:":                             "no file path",
		"file:/nonexistent/dir/x.log":       "no such file or directory",
		"udp://localhost":                   "want udp://HOST:PORT",
		"udp://127.0.0.1:514?facility=kern": "must be local0 to local7",
		"unix:" + filepath.Join(t.TempDir(), "none"): "no such file or directory",
	} {
		_, err := OpenSink(spec, SinkOptions{})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want an error with %q", spec, err, want)
		}
	}
}

type syncBuffer struct {
	mu sync.Mutex
	sb strings.Builder
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.sb.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.sb.String()
}

// BenchmarkLog is the data plane's cost of a line: Log with a writer that
// keeps up (its sink discards), so that lines are queued, not dropped.
func BenchmarkLog(b *testing.B) {
	for _, par := range []bool{false, true} {
		b.Run(map[bool]string{false: "serial", true: "parallel"}[par], func(b *testing.B) {
			l, _ := New([]*Sink{{name: "discard", enc: nopEncoder{}, out: nopOutput{}}}, 0, nil)
			defer l.Close(context.Background())
			b.ReportAllocs()
			if par {
				b.RunParallel(func(pb *testing.PB) {
					r := httpRecord()
					for pb.Next() {
						l.Log(r)
					}
				})
			} else {
				r := httpRecord()
				for b.Loop() {
					l.Log(r)
				}
			}
			b.ReportMetric(float64(l.Stats().Dropped)/float64(b.N), "dropped/op")
		})
	}
}

// BenchmarkEnqueue is Log's cost when the line is queued: no writer runs,
// and the queue is emptied (timer stopped) whenever it fills.
func BenchmarkEnqueue(b *testing.B) {
	l := &Logger{ring: make([]Record, DefaultQueue), wake: make(chan struct{}, 1)}
	r := httpRecord()
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if l.tail-l.head == uint64(len(l.ring)) {
			b.StopTimer()
			l.head = l.tail
			<-l.wake
			b.StartTimer()
		}
		l.Log(r)
	}
	if l.dropped.Load() != 0 {
		b.Fatalf("%d dropped", l.dropped.Load())
	}
}

// BenchmarkLogFull is Log when the writer falls behind (a file sink takes
// ~0.4 µs a line) and most lines are dropped.
func BenchmarkLogFull(b *testing.B) {
	s, err := OpenSink("file:"+os.DevNull, SinkOptions{Format: amphoraB(b)})
	if err != nil {
		b.Fatal(err)
	}
	l, _ := New([]*Sink{s}, 0, nil)
	defer l.Close(context.Background())
	r := httpRecord()
	b.ReportAllocs()
	for b.Loop() {
		l.Log(r)
	}
	b.ReportMetric(float64(l.Stats().Dropped)/float64(b.N), "dropped/op")
}

type nopEncoder struct{}

func (nopEncoder) encode(dst []byte, r *Record) []byte { return dst }

type nopOutput struct{}

func (nopOutput) writeLine([]byte) error { return nil }
func (nopOutput) flush() error           { return nil }
func (nopOutput) reopen() error          { return nil }
func (nopOutput) reopens() bool          { return false }
func (nopOutput) close() error           { return nil }

// BenchmarkWrite is the writer's side: formatting a record and adding it
// to a file's buffer.
func BenchmarkWrite(b *testing.B) {
	for _, format := range []string{"amphora", "json"} {
		b.Run(format, func(b *testing.B) {
			opts := SinkOptions{}
			if format == "amphora" {
				opts.Format = amphoraB(b)
			}
			s, err := OpenSink("file:"+os.DevNull, opts)
			if err != nil {
				b.Fatal(err)
			}
			r := httpRecord()
			b.ReportAllocs()
			for b.Loop() {
				s.write(r)
			}
			s.flush()
		})
	}
}

func amphoraB(b *testing.B) *Format {
	f, err := ParseFormat(AmphoraFormat)
	if err != nil {
		b.Fatal(err)
	}
	return f
}

// TestQueueGrowsBeforeItDrops: the queue starts small and grows, in order,
// up to the size New was given when the writer falls behind, and drops
// lines only then.
func TestQueueGrowsBeforeItDrops(t *testing.T) {
	out := &gatedOutput{at: 30, entered: make(chan struct{}), release: make(chan struct{})}
	const queue = 1000
	l, err := New([]*Sink{{name: "gated", enc: memberEncoder{}, out: out}}, queue, nil)
	if err != nil {
		t.Fatal(err)
	}
	// 30 lines the writer keeps up with: the queue stays as it started.
	for i := range 30 {
		l.Log(numbered(i))
	}
	waitFor(t, func() bool { return l.Stats().Written == 30 && l.queued() == 0 })
	if n := l.ringLen(); n != firstRing {
		t.Fatalf("a queue the writer kept up with has %d slots, want %d", n, firstRing)
	}
	// The writer stops at the 31st: the queue grows from a ring that
	// wrapped round (its first record in slot 30) to the full size, and
	// then drops.
	l.Log(numbered(30))
	<-out.entered
	for i := 31; i < 1530; i++ {
		l.Log(numbered(i))
	}
	if n := l.ringLen(); n != queue {
		t.Errorf("the queue grew to %d slots, want %d", n, queue)
	}
	if st := l.Stats(); st.Dropped != 500 {
		t.Errorf("dropped %d lines, want 500 (1500 logged to a queue of 1000 holding 1)", st.Dropped)
	}
	close(out.release)
	closeLogger(t, l)
	lines := out.got()
	if len(lines) != 1030 {
		t.Fatalf("%d lines written, want 1030", len(lines))
	}
	for i, line := range lines {
		if want := "m" + strconv.Itoa(i); line != want {
			t.Fatalf("line %d is %q, want %q", i, line, want)
		}
	}
}

func (l *Logger) ringLen() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.ring)
}

// memberEncoder writes a record's member ID.
type memberEncoder struct{}

func (memberEncoder) encode(dst []byte, r *Record) []byte { return append(dst, r.Member.ID...) }

// gatedOutput keeps the lines written, and stops at line number at until
// release is closed.
type gatedOutput struct {
	nopOutput
	at      int
	entered chan struct{}
	release chan struct{}
	mu      sync.Mutex
	lines   []string
}

func (o *gatedOutput) writeLine(line []byte) error {
	o.mu.Lock()
	n := len(o.lines)
	o.lines = append(o.lines, string(line))
	o.mu.Unlock()
	if n == o.at {
		close(o.entered)
		<-o.release
	}
	return nil
}

func (o *gatedOutput) got() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]string(nil), o.lines...)
}
