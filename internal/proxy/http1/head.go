package http1

import (
	"bufio"
	"bytes"
	"errors"
	"io"
)

// Limits on a message head. Larger heads are refused with 431 (request) or
// 502 (response), as HAProxy refuses what does not fit its buffer.
const (
	MaxHeadBytes = 32 << 10
	maxFields    = 128
)

// field is one field line of a head; both slices point into Head.Buf.
type field struct {
	name, value []byte
}

// Head is a parsed HTTP/1.x request or response head. Its storage is
// reused from message to message, so parsing allocates nothing once warm.
// The exported fields are what the engines read; what only the rules need
// (Connection's tokens, Host count, Upgrade) Decide and the writers read.
type Head struct {
	Buf    []byte // the head as received, start line to empty line
	fields []field

	// Request line.
	Method, Target []byte
	// Status line.
	Status int
	Reason []byte

	Minor         int   // HTTP/1.minor
	ContentLength int64 // -1 when absent
	Chunked       bool  // Transfer-Encoding ends in chunked
	Expect100     bool  // a request with Expect: 100-continue

	teOther       bool // a Transfer-Encoding other than plain chunked
	connClose     bool
	connKeepAlive bool
	connUpgrade   bool
	hasUpgrade    bool
	clRepeated    bool // Content-Length came more than once (with one value)
	hosts         int
	host          []byte // the (first) Host field's value
	// Field names listed in Connection: hop-by-hop, not forwarded.
	connNames [][]byte
}

// Errors of head parsing. Each maps to a status code for the client.
var (
	ErrHeadTooLarge  = errors.New("message head too large")
	ErrBadHead       = errors.New("malformed message head")
	ErrBadVersion    = errors.New("unsupported HTTP version")
	ErrBadFraming    = errors.New("conflicting or invalid message framing")
	ErrUnsupportedTE = errors.New("unsupported transfer coding")
)

// Reset empties h for the next message, keeping its storage.
func (h *Head) Reset() {
	h.Buf = h.Buf[:0]
	h.fields = h.fields[:0]
	h.Method, h.Target, h.Reason = nil, nil, nil
	h.Status, h.Minor = 0, 0
	h.ContentLength = -1
	h.Chunked, h.teOther = false, false
	h.connClose, h.connKeepAlive, h.connUpgrade = false, false, false
	h.hasUpgrade, h.Expect100 = false, false
	h.hosts, h.host, h.clRepeated = 0, nil, false
	h.connNames = h.connNames[:0]
}

// ReadHead reads one head, up to and including its empty line, into h.Buf.
// A few empty lines before a request line are skipped (RFC 9112 §2.2). It
// returns io.EOF if the connection closed cleanly before any byte.
func (h *Head) ReadHead(br *bufio.Reader) error {
	h.Reset()
	sawAny := false
	// cont: the line read next is the rest of one longer than br's
	// buffer, not a line of its own (its "\n" alone is no empty line).
	cont := false
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 {
			sawAny = true
		}
		if err == bufio.ErrBufferFull {
			if len(h.Buf)+len(line) > MaxHeadBytes {
				return ErrHeadTooLarge
			}
			h.Buf = append(h.Buf, line...)
			cont = true
			continue
		}
		if err != nil {
			// Keep a partial line: a client that sent part of a head
			// and stalled gets a 408, not a silent close.
			h.Buf = append(h.Buf, line...)
			if !sawAny && len(h.Buf) == 0 && errors.Is(err, io.EOF) {
				return io.EOF
			}
			if errors.Is(err, io.EOF) {
				return io.ErrUnexpectedEOF
			}
			return err
		}
		if len(h.Buf)+len(line) > MaxHeadBytes {
			return ErrHeadTooLarge
		}
		// Skip empty lines before the start line.
		if len(h.Buf) == 0 && (len(line) == 1 || (len(line) == 2 && line[0] == '\r')) {
			continue
		}
		start := len(h.Buf)
		h.Buf = append(h.Buf, line...)
		if !cont && len(h.Buf)-start <= 2 && (h.Buf[start] == '\n' || h.Buf[start] == '\r') {
			return nil // the empty line that ends the head
		}
		cont = false
	}
}

// nextLine returns the head's line at pos without its line ending. A CR is
// accepted only right before the LF.
func (h *Head) nextLine(pos int) (line []byte, next int, err error) {
	i := bytes.IndexByte(h.Buf[pos:], '\n')
	if i < 0 {
		return nil, len(h.Buf), ErrBadHead
	}
	line = h.Buf[pos : pos+i]
	if len(line) > 0 && line[len(line)-1] == '\r' {
		line = line[:len(line)-1]
	}
	if bytes.IndexByte(line, '\r') >= 0 {
		return nil, 0, ErrBadHead // bare CR
	}
	return line, pos + i + 1, nil
}

// ParseRequest parses h.Buf as a request head and checks it as strictly as a
// load balancer in front of other parsers must: anything ambiguous is
// refused rather than guessed, so a member never sees a different message
// boundary than lbd did.
func (h *Head) ParseRequest() error {
	line, pos, err := h.nextLine(0)
	if err != nil {
		return err
	}
	sp1 := bytes.IndexByte(line, ' ')
	if sp1 <= 0 {
		return ErrBadHead
	}
	rest := line[sp1+1:]
	sp2 := bytes.IndexByte(rest, ' ')
	if sp2 <= 0 {
		return ErrBadHead
	}
	h.Method, h.Target = line[:sp1], rest[:sp2]
	if !isToken(h.Method) || !isTarget(h.Target) {
		return ErrBadHead
	}
	if err := h.parseVersion(rest[sp2+1:]); err != nil {
		return err
	}
	if err := h.parseFields(pos, true); err != nil {
		return err
	}
	if h.Minor >= 1 && h.hosts != 1 {
		return ErrBadHead // RFC 9112 §3.2: exactly one Host in HTTP/1.1
	}
	if h.hosts > 1 {
		return ErrBadHead
	}
	if len(h.Target) > 0 && h.Target[0] != '/' && !h.targetAgrees() {
		return ErrBadHead
	}
	if h.Chunked || h.teOther {
		switch {
		case h.Minor == 0:
			return ErrBadFraming // RFC 9112 §6.1: TE in HTTP/1.0 is faulty framing
		case h.ContentLength >= 0:
			return ErrBadFraming // both: the classic smuggling vector
		case h.teOther:
			return ErrUnsupportedTE
		}
	}
	return nil
}

// targetAgrees checks a request target that is not in origin-form: "*"
// (OPTIONS), CONNECT's authority-form as it is, or an absolute-form
// target, scheme "://" authority, whose authority is the Host field's
// value (RFC 9112 §3.2.2), case and a default port aside. A request with
// two names for its host is refused, as HAProxy refuses it, rather than
// one of them forwarded: lbd (an L7 rule on Host) and a member that goes
// by the target would serve different hosts. Other targets (no scheme,
// no authority, an empty one) are refused as well.
func (h *Head) targetAgrees() bool {
	t := h.Target
	if string(t) == "*" || string(h.Method) == "CONNECT" {
		return true
	}
	i := 0
	for i < len(t) && (isAlpha(t[i]) || i > 0 && (t[i] >= '0' && t[i] <= '9' || t[i] == '+' || t[i] == '-' || t[i] == '.')) {
		i++
	}
	if i == 0 || len(t) < i+3 || string(t[i:i+3]) != "://" {
		return false
	}
	scheme, rest := t[:i], t[i+3:]
	end := 0
	for end < len(rest) && rest[end] != '/' && rest[end] != '?' && rest[end] != '#' {
		end++
	}
	authority := rest[:end]
	if len(authority) == 0 {
		return false
	}
	if h.hosts == 0 {
		return true // HTTP/1.0: the target alone names the host
	}
	return equalFoldBytes(withoutDefaultPort(scheme, authority), withoutDefaultPort(scheme, h.host))
}

// withoutDefaultPort drops ":80" from an http authority and ":443" from
// an https one (RFC 9110 §4.2.3: the same origin).
func withoutDefaultPort(scheme, authority []byte) []byte {
	var port string
	switch {
	case equalFold(scheme, "http"):
		port = ":80"
	case equalFold(scheme, "https"):
		port = ":443"
	default:
		return authority
	}
	if n := len(authority) - len(port); n > 0 && string(authority[n:]) == port {
		return authority[:n]
	}
	return authority
}

func isAlpha(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }

// ParseResponse parses h.Buf as a response head. Responses come from
// members lbd trusts less than its own parser, so framing rules are the
// same; a response with both Content-Length and chunked is read as chunked
// (RFC 9112 §6.3) and its connection is not reused.
func (h *Head) ParseResponse() error {
	line, pos, err := h.nextLine(0)
	if err != nil {
		return err
	}
	if len(line) < 12 || line[8] != ' ' {
		return ErrBadHead
	}
	if err := h.parseVersion(line[:8]); err != nil {
		return err
	}
	code := line[9:12]
	if code[0] < '1' || code[0] > '9' || code[1] < '0' || code[1] > '9' || code[2] < '0' || code[2] > '9' {
		return ErrBadHead
	}
	h.Status = int(code[0]-'0')*100 + int(code[1]-'0')*10 + int(code[2]-'0')
	if len(line) > 12 {
		if line[12] != ' ' {
			return ErrBadHead
		}
		h.Reason = line[13:]
		for _, c := range h.Reason {
			if c < ' ' && c != '\t' || c == 0x7f {
				return ErrBadHead
			}
		}
	}
	if err := h.parseFields(pos, false); err != nil {
		return err
	}
	if h.teOther {
		return ErrUnsupportedTE
	}
	return nil
}

func (h *Head) parseVersion(v []byte) error {
	if len(v) != 8 || string(v[:7]) != "HTTP/1." {
		if len(v) == 8 && string(v[:5]) == "HTTP/" && v[5] >= '0' && v[5] <= '9' {
			return ErrBadVersion
		}
		return ErrBadHead
	}
	switch v[7] {
	case '0':
		h.Minor = 0
	case '1':
		h.Minor = 1
	default:
		return ErrBadVersion
	}
	return nil
}

func (h *Head) parseFields(pos int, request bool) error {
	for pos < len(h.Buf) {
		line, next, err := h.nextLine(pos)
		if err != nil {
			return err
		}
		pos = next
		if len(line) == 0 {
			return nil
		}
		if line[0] == ' ' || line[0] == '\t' {
			return ErrBadHead // obs-fold (RFC 9112 §5.2): refused
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 {
			return ErrBadHead
		}
		name, value := line[:colon], trimOWS(line[colon+1:])
		if !isToken(name) || !isFieldValue(value) {
			return ErrBadHead // includes whitespace before the colon
		}
		if len(h.fields) == maxFields {
			return ErrHeadTooLarge
		}
		h.fields = append(h.fields, field{name: name, value: value})
		if err := h.interpret(name, value, request); err != nil {
			return err
		}
	}
	return ErrBadHead
}

// interpret records what a field means for framing and forwarding.
func (h *Head) interpret(name, value []byte, request bool) error {
	switch {
	case equalFold(name, "content-length"):
		n, ok := parseContentLength(value)
		if !ok || (h.ContentLength >= 0 && h.ContentLength != n) {
			return ErrBadFraming
		}
		// Repeats of one value are one length (RFC 9110 §8.6), forwarded
		// once: a member that refuses repeats, or keeps the last of two it
		// reads differently, sees no ambiguity.
		h.clRepeated = h.ContentLength >= 0
		h.ContentLength = n
	case equalFold(name, "transfer-encoding"):
		// Only a single "chunked" is accepted: other codings, repeats and
		// empty values are where parsers disagree about message length.
		codings := 0
		for tok := range tokens(value) {
			codings++
			if h.Chunked || !equalFold(tok, "chunked") {
				h.teOther = true
			} else {
				h.Chunked = true
			}
		}
		if codings == 0 {
			h.teOther = true // empty, or only commas: present but names nothing
		}
	case equalFold(name, "connection"):
		for tok := range tokens(value) {
			switch {
			case equalFold(tok, "close"):
				h.connClose = true
			case equalFold(tok, "keep-alive"):
				h.connKeepAlive = true
			case equalFold(tok, "upgrade"):
				h.connUpgrade = true
			case equalFold(tok, "content-length") || equalFold(tok, "host") || equalFold(tok, "expect"):
				// Fields lbd frames, routes or acts on are never dropped
				// for being listed here: without its Content-Length a
				// body would reach the member as the next request.
			default:
				h.connNames = append(h.connNames, tok)
			}
		}
	case equalFold(name, "upgrade"):
		h.hasUpgrade = true
	case equalFold(name, "host"):
		if h.hosts == 0 {
			h.host = value
		}
		h.hosts++
	case request && equalFold(name, "expect"):
		h.Expect100 = equalFold(value, "100-continue")
	}
	return nil
}

// hopByHop reports whether a field must not be forwarded (RFC 9110 §7.6.1),
// either by name or because Connection lists it.
func (h *Head) hopByHop(name []byte) bool {
	if equalFold(name, "connection") || equalFold(name, "keep-alive") || equalFold(name, "proxy-connection") ||
		equalFold(name, "te") || equalFold(name, "transfer-encoding") || equalFold(name, "upgrade") {
		return true
	}
	for _, n := range h.connNames {
		if equalFoldBytes(name, n) {
			return true
		}
	}
	return false
}

func parseContentLength(v []byte) (int64, bool) {
	if len(v) == 0 || len(v) > 18 || len(v) > 1 && v[0] == '0' {
		// Leading zeros are valid decimal but some parsers read them as
		// octal: refused, as clients never send them.
		return 0, false
	}
	var n int64
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// tokens yields the comma-separated elements of a list field, trimmed.
func tokens(v []byte) func(func([]byte) bool) {
	return func(yield func([]byte) bool) {
		for len(v) > 0 {
			i := bytes.IndexByte(v, ',')
			var tok []byte
			if i < 0 {
				tok, v = v, nil
			} else {
				tok, v = v[:i], v[i+1:]
			}
			tok = trimOWS(tok)
			if len(tok) > 0 && !yield(tok) {
				return
			}
		}
	}
}

func trimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// equalFold compares ASCII case-insensitively; s must be lower case.
func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}

func equalFoldBytes(a, b []byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range len(a) {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

var tokenChars = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

func isToken(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if !tokenChars[c] {
			return false
		}
	}
	return true
}

// isTarget accepts visible ASCII only: no whitespace, controls or bytes
// above 0x7e in a request target.
func isTarget(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if c <= ' ' || c >= 0x7f {
			return false
		}
	}
	return true
}

// isFieldValue accepts VCHAR, obs-text, SP and HTAB (RFC 9110 §5.5).
func isFieldValue(b []byte) bool {
	for _, c := range b {
		if (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// NumFields is the number of field lines of the parsed head.
func (h *Head) NumFields() int { return len(h.fields) }

// Field returns the i-th field line of the parsed head, name and value
// (trimmed); both point into h.Buf.
func (h *Head) Field(i int) (name, value []byte) { return h.fields[i].name, h.fields[i].value }

// EqualFold reports whether b equals s ignoring ASCII case; s must be
// lower case.
func EqualFold(b []byte, s string) bool { return equalFold(b, s) }
