package accesslog

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Sink is one destination of a Logger: an encoding (a log-format line or
// a JSON object) and an output (a stream of lines, or syslog messages).
// Only the Logger's writer goroutine uses it.
type Sink struct {
	name string
	enc  encoder
	out  output
	line []byte

	failingSince time.Time
}

// SinkOptions say how a sink writes its lines.
type SinkOptions struct {
	// Format is the log-format of text lines; nil writes JSON objects
	// (slog's JSON handler with JSON). stderr always writes JSON.
	Format *Format
	// JSON are the options of the JSON handler (lbd passes its own, so
	// access lines read as its other log lines do).
	JSON *slog.HandlerOptions
	// Stderr is where "stderr" writes; os.Stderr when nil.
	Stderr io.Writer
}

// Sink specs, as --access-log takes them.
const SinkSpecs = "stderr (JSON lines), file:PATH or an absolute path (reopened on SIGUSR1), syslog over udp://HOST:PORT, tcp://HOST:PORT or unix:PATH (RFC 5424; ?facility=local0..local7, default local0)"

// OpenSink opens the sink spec names (see SinkSpecs).
func OpenSink(spec string, opts SinkOptions) (*Sink, error) {
	textOrJSON := func() encoder {
		if opts.Format == nil {
			return newJSONEncoder(opts.JSON)
		}
		return textEncoder{opts.Format}
	}
	switch {
	case spec == "stderr":
		w := opts.Stderr
		if w == nil {
			w = os.Stderr
		}
		return &Sink{name: spec, enc: newJSONEncoder(opts.JSON), out: &stream{w: w}}, nil
	case strings.HasPrefix(spec, "file:") || strings.HasPrefix(spec, "/"):
		path := strings.TrimPrefix(strings.TrimPrefix(spec, "file:"), "//")
		if path == "" {
			return nil, fmt.Errorf("access log %q: no file path", spec)
		}
		s := &stream{path: path}
		if err := s.open(); err != nil {
			return nil, fmt.Errorf("access log: %w", err)
		}
		return &Sink{name: spec, enc: textOrJSON(), out: s}, nil
	case strings.HasPrefix(spec, "udp://"), strings.HasPrefix(spec, "tcp://"), strings.HasPrefix(spec, "unix:"):
		sl, err := newSyslog(spec)
		if err != nil {
			return nil, err
		}
		return &Sink{name: spec, enc: textOrJSON(), out: sl}, nil
	}
	return nil, fmt.Errorf("access log %q: not a sink (one of: %s)", spec, SinkSpecs)
}

func (s *Sink) write(r *Record) error {
	s.line = s.enc.encode(s.line[:0], r)
	return s.out.writeLine(s.line)
}

func (s *Sink) flush() error   { return s.out.flush() }
func (s *Sink) reopen() error  { return s.out.reopen() }
func (s *Sink) reopens() bool  { return s.out.reopens() }
func (s *Sink) close() error   { return s.out.close() }
func (s *Sink) String() string { return s.name }

// An encoder turns a record into one line, without its newline.
type encoder interface {
	encode(dst []byte, r *Record) []byte
}

type textEncoder struct{ f *Format }

func (e textEncoder) encode(dst []byte, r *Record) []byte { return e.f.Append(dst, r) }

// jsonEncoder writes a record as slog's JSON handler writes a log line:
// "time", "level", "msg":"access", then the record's fields.
type jsonEncoder struct {
	h     slog.Handler
	w     *appendWriter
	attrs []slog.Attr
}

type appendWriter struct{ buf []byte }

func (w *appendWriter) Write(p []byte) (int, error) {
	w.buf = append(w.buf, p...)
	return len(p), nil
}

func newJSONEncoder(opts *slog.HandlerOptions) *jsonEncoder {
	w := &appendWriter{}
	return &jsonEncoder{h: slog.NewJSONHandler(w, opts), w: w}
}

func (e *jsonEncoder) encode(dst []byte, r *Record) []byte {
	e.w.buf = dst
	e.attrs = r.appendAttrs(e.attrs[:0])
	rec := slog.NewRecord(time.Now(), slog.LevelInfo, "access", 0)
	rec.AddAttrs(e.attrs...)
	e.h.Handle(context.Background(), rec)
	out := e.w.buf
	if n := len(out); n > 0 && out[n-1] == '\n' {
		out = out[:n-1]
	}
	return out
}

// appendAttrs lists the record's fields as log attributes: the IDs and
// names of the objects, the client, the request, the status, the bytes,
// the timings in milliseconds (those reached) and the termination state.
func (r *Record) appendAttrs(a []slog.Attr) []slog.Attr {
	a = append(a, slog.String("protocol", r.Flavour.String()))
	if r.ProjectID != "" {
		a = append(a, slog.String("project_id", r.ProjectID))
	}
	a = appendObject(a, "loadbalancer", r.LoadBalancer)
	a = appendObject(a, "listener", r.Listener)
	a = appendObject(a, "pool", r.Pool)
	a = appendObject(a, "member", r.Member)
	if r.MemberAddr.IsValid() {
		a = append(a, slog.String("member_address", r.MemberAddr.String()))
	}
	if r.Client.IsValid() {
		a = append(a, slog.String("client_ip", r.Client.Addr().Unmap().String()), slog.Int("client_port", int(r.Client.Port())))
	}
	if r.Frontend.IsValid() {
		a = append(a, slog.String("listener_address", r.Frontend.String()))
	}
	a = append(a, slog.Time("accepted", r.Accepted))
	if r.Flavour == HTTP {
		if req := r.Request(); len(req) > 0 {
			a = append(a, slog.String("request", string(appendEscaped(nil, req))))
		}
		if r.Status != 0 {
			a = append(a, slog.Int("status", r.Status))
		}
	}
	a = append(a, slog.Int64("bytes_in", r.BytesIn), slog.Int64("bytes_out", r.BytesOut))
	for _, t := range [...]struct {
		key string
		d   time.Duration
	}{{"wait_request_ms", r.WaitRequest}, {"connect_ms", r.Connect}, {"response_ms", r.Response}, {"total_ms", r.Total}} {
		if t.d >= 0 {
			a = append(a, slog.Float64(t.key, float64(t.d.Microseconds())/1000))
		}
	}
	a = append(a, slog.String("termination", r.Termination.String()))
	if t := &r.TLS; t.On {
		a = append(a, slog.String("tls_protocol", t.Protocol), slog.String("tls_cipher", t.Cipher))
		if t.SNI != "" {
			a = append(a, slog.String("tls_sni", t.SNI))
		}
		if t.Used == "1" {
			a = append(a, slog.String("tls_client_dn", t.SubjectDN), slog.String("tls_client_verify", t.Verify))
		}
	}
	return a
}

func appendObject(a []slog.Attr, kind string, o Object) []slog.Attr {
	if o.ID != "" {
		a = append(a, slog.String(kind+"_id", o.ID))
	}
	if o.Name != "" {
		a = append(a, slog.String(kind, o.Name))
	}
	return a
}

// An output takes lines from the writer goroutine.
type output interface {
	writeLine(line []byte) error
	flush() error
	reopen() error
	reopens() bool
	close() error
}

// flushAt is how much a stream buffers before it writes: lines are written
// whole, many to a write.
const flushAt = 64 << 10

// stream writes lines to a file or to stderr, buffered and written whole
// (a line never straddles two writes, so lbd's own log lines on stderr
// never land inside one).
type stream struct {
	w    io.Writer
	f    *os.File
	path string // "" for stderr, which is never reopened
	buf  []byte
}

func (s *stream) open() error {
	f, err := os.OpenFile(s.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return err
	}
	s.f, s.w = f, f
	return nil
}

func (s *stream) writeLine(line []byte) error {
	if len(s.buf)+len(line)+1 > flushAt {
		if err := s.flush(); err != nil {
			return err
		}
	}
	s.buf = append(append(s.buf, line...), '\n')
	return nil
}

func (s *stream) flush() error {
	if len(s.buf) == 0 {
		return nil
	}
	_, err := s.w.Write(s.buf)
	s.buf = s.buf[:0] // a failed write loses its lines; the next may succeed
	return err
}

func (s *stream) reopens() bool { return s.path != "" }

// reopen opens the path again (logrotate renamed the file it was) and
// closes the old file.
func (s *stream) reopen() error {
	if s.path == "" {
		return nil
	}
	old := s.f
	if err := s.open(); err != nil {
		return err
	}
	return old.Close()
}

func (s *stream) close() error {
	if s.f == nil {
		return nil
	}
	return s.f.Close()
}

// syslogOut sends each line as one RFC 5424 message: over UDP or a unix
// datagram socket one message a datagram, over TCP or a unix stream socket
// framed by octet counting (RFC 6587). A failed connection is dialled
// again, at most once a second.
type syslogOut struct {
	network, addr string
	stream        bool
	pri           string
	hostname, pid string
	conn          net.Conn
	lastDial      time.Time
	msg           []byte
}

func newSyslog(spec string) (*syslogOut, error) {
	u, err := url.Parse(spec)
	if err != nil {
		return nil, fmt.Errorf("access log %q: %w", spec, err)
	}
	s := &syslogOut{pid: strconv.Itoa(os.Getpid())}
	switch u.Scheme {
	case "udp", "tcp":
		if _, _, err := net.SplitHostPort(u.Host); err != nil {
			return nil, fmt.Errorf("access log %q: want %s://HOST:PORT: %w", spec, u.Scheme, err)
		}
		s.network, s.addr, s.stream = u.Scheme, u.Host, u.Scheme == "tcp"
	case "unix":
		s.network, s.addr = "unixgram", u.Path
		if s.addr == "" {
			s.addr = u.Opaque
		}
		if s.addr == "" {
			return nil, fmt.Errorf("access log %q: want unix:PATH", spec)
		}
	}
	facility := 16 // local0, Octavia's user_log_facility default
	if f := u.Query().Get("facility"); f != "" {
		n, err := strconv.Atoi(strings.TrimPrefix(f, "local"))
		if !strings.HasPrefix(f, "local") || err != nil || n < 0 || n > 7 {
			return nil, fmt.Errorf("access log %q: facility %q: must be local0 to local7", spec, f)
		}
		facility = 16 + n
	}
	s.pri = "<" + strconv.Itoa(facility*8+6) + ">1 " // severity info, as HAProxy logs traffic
	s.hostname, _ = os.Hostname()
	if s.hostname == "" {
		s.hostname = "-"
	}
	// Dial now so that a wrong address is an error at start-up; a
	// receiver that is not up yet (UDP never knows) is dialled later.
	if err := s.dial(); err != nil {
		return nil, fmt.Errorf("access log %q: %w", spec, err)
	}
	return s, nil
}

func (s *syslogOut) dial() error {
	s.lastDial = time.Now()
	c, err := net.DialTimeout(s.network, s.addr, 2*time.Second)
	if err != nil && s.network == "unixgram" && errors.Is(err, errProtoType) {
		// A syslog daemon listening on a stream socket.
		s.network, s.stream = "unix", true
		c, err = net.DialTimeout(s.network, s.addr, 2*time.Second)
	}
	if err != nil {
		return err
	}
	s.conn = c
	return nil
}

func (s *syslogOut) writeLine(line []byte) error {
	if s.conn == nil {
		if time.Since(s.lastDial) < time.Second {
			return errNotConnected
		}
		if err := s.dial(); err != nil {
			return err
		}
	}
	buf := s.msg[:0]
	m := buf
	if s.stream {
		m = append(m, "0000000000 "...) // room for the octet count
	}
	start := len(m)
	m = append(m, s.pri...)
	m = time.Now().AppendFormat(m, "2006-01-02T15:04:05.000000Z07:00")
	m = append(m, ' ')
	m = append(m, s.hostname...)
	m = append(m, " lbd "...)
	m = append(m, s.pid...)
	m = append(m, " - - "...)
	m = append(m, line...)
	buf = m
	if s.stream {
		count := strconv.AppendInt(nil, int64(len(m)-start), 10)
		pre := start - len(count) - 1
		copy(m[pre:], count)
		m = m[pre:]
	} else {
		m = m[start:]
	}
	s.msg = buf[:0]
	if _, err := s.conn.Write(m); err != nil {
		s.conn.Close()
		s.conn = nil
		return err
	}
	return nil
}

func (s *syslogOut) flush() error  { return nil }
func (s *syslogOut) reopens() bool { return false }
func (s *syslogOut) reopen() error { return nil }
func (s *syslogOut) close() error {
	if s.conn == nil {
		return nil
	}
	return s.conn.Close()
}

var (
	errNotConnected = errors.New("syslog receiver not connected")
	errProtoType    = syscall.EPROTOTYPE
)
