package proxy

import (
	"bufio"
	"bytes"
	"errors"
	"io"
)

// Limits on a message head. Larger heads are refused with 431 (request) or
// 502 (response), as HAProxy refuses what does not fit its buffer.
const (
	maxHeadBytes = 32 << 10
	maxHeaders   = 128
)

// header is one field line of a head; both slices point into msgHead.buf.
type header struct {
	name, value []byte
}

// msgHead is a parsed HTTP/1.x request or response head. Its storage is
// reused from message to message, so parsing allocates nothing once warm.
type msgHead struct {
	buf     []byte
	headers []header

	// Request line.
	method, target []byte
	// Status line.
	status int
	reason []byte

	minor         int   // HTTP/1.minor
	contentLength int64 // -1 when absent
	chunked       bool  // Transfer-Encoding ends in chunked
	teOther       bool  // a Transfer-Encoding other than plain chunked
	connClose     bool
	connKeepAlive bool
	connUpgrade   bool
	hasUpgrade    bool
	expect100     bool
	hosts         int
	// Field names listed in Connection: hop-by-hop, not forwarded.
	connNames [][]byte
}

// Errors of head parsing. Each maps to a status code for the client.
var (
	errHeadTooLarge  = errors.New("message head too large")
	errBadHead       = errors.New("malformed message head")
	errBadVersion    = errors.New("unsupported HTTP version")
	errBadFraming    = errors.New("conflicting or invalid message framing")
	errUnsupportedTE = errors.New("unsupported transfer coding")
)

func (h *msgHead) reset() {
	h.buf = h.buf[:0]
	h.headers = h.headers[:0]
	h.method, h.target, h.reason = nil, nil, nil
	h.status, h.minor = 0, 0
	h.contentLength = -1
	h.chunked, h.teOther = false, false
	h.connClose, h.connKeepAlive, h.connUpgrade = false, false, false
	h.hasUpgrade, h.expect100 = false, false
	h.hosts = 0
	h.connNames = h.connNames[:0]
}

// readHead reads one head, up to and including its empty line, into h.buf.
// A few empty lines before a request line are skipped (RFC 9112 §2.2). It
// returns io.EOF if the connection closed cleanly before any byte.
func (h *msgHead) readHead(br *bufio.Reader) error {
	h.reset()
	sawAny := false
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 {
			sawAny = true
		}
		if err == bufio.ErrBufferFull {
			if len(h.buf)+len(line) > maxHeadBytes {
				return errHeadTooLarge
			}
			h.buf = append(h.buf, line...)
			continue
		}
		if err != nil {
			// Keep a partial line: a client that sent part of a head
			// and stalled gets a 408, not a silent close.
			h.buf = append(h.buf, line...)
			if !sawAny && len(h.buf) == 0 && errors.Is(err, io.EOF) {
				return io.EOF
			}
			if errors.Is(err, io.EOF) {
				return io.ErrUnexpectedEOF
			}
			return err
		}
		if len(h.buf)+len(line) > maxHeadBytes {
			return errHeadTooLarge
		}
		// Skip empty lines before the start line.
		if len(h.buf) == 0 && (len(line) == 1 || (len(line) == 2 && line[0] == '\r')) {
			continue
		}
		start := len(h.buf)
		h.buf = append(h.buf, line...)
		if len(h.buf)-start <= 2 && (h.buf[start] == '\n' || h.buf[start] == '\r') {
			return nil // the empty line that ends the head
		}
	}
}

// lines iterates over the head's lines without their line endings. A CR is
// accepted only right before the LF.
func (h *msgHead) nextLine(pos int) (line []byte, next int, err error) {
	i := bytes.IndexByte(h.buf[pos:], '\n')
	if i < 0 {
		return nil, len(h.buf), errBadHead
	}
	line = h.buf[pos : pos+i]
	if len(line) > 0 && line[len(line)-1] == '\r' {
		line = line[:len(line)-1]
	}
	if bytes.IndexByte(line, '\r') >= 0 {
		return nil, 0, errBadHead // bare CR
	}
	return line, pos + i + 1, nil
}

// parseRequest parses h.buf as a request head and checks it as strictly as a
// load balancer in front of other parsers must: anything ambiguous is
// refused rather than guessed, so a member never sees a different message
// boundary than lbd did.
func (h *msgHead) parseRequest() error {
	line, pos, err := h.nextLine(0)
	if err != nil {
		return err
	}
	sp1 := bytes.IndexByte(line, ' ')
	if sp1 <= 0 {
		return errBadHead
	}
	rest := line[sp1+1:]
	sp2 := bytes.IndexByte(rest, ' ')
	if sp2 <= 0 {
		return errBadHead
	}
	h.method, h.target = line[:sp1], rest[:sp2]
	if !isToken(h.method) || !isTarget(h.target) {
		return errBadHead
	}
	if err := h.parseVersion(rest[sp2+1:]); err != nil {
		return err
	}
	if err := h.parseFields(pos, true); err != nil {
		return err
	}
	if h.minor >= 1 && h.hosts != 1 {
		return errBadHead // RFC 9112 §3.2: exactly one Host in HTTP/1.1
	}
	if h.hosts > 1 {
		return errBadHead
	}
	if h.chunked || h.teOther {
		switch {
		case h.minor == 0:
			return errBadFraming // RFC 9112 §6.1: TE in HTTP/1.0 is faulty framing
		case h.contentLength >= 0:
			return errBadFraming // both: the classic smuggling vector
		case h.teOther:
			return errUnsupportedTE
		}
	}
	return nil
}

// parseResponse parses h.buf as a response head. Responses come from
// members lbd trusts less than its own parser, so framing rules are the
// same; a response with both Content-Length and chunked is read as chunked
// (RFC 9112 §6.3) and its connection is not reused.
func (h *msgHead) parseResponse() error {
	line, pos, err := h.nextLine(0)
	if err != nil {
		return err
	}
	if len(line) < 12 || line[8] != ' ' {
		return errBadHead
	}
	if err := h.parseVersion(line[:8]); err != nil {
		return err
	}
	code := line[9:12]
	if code[0] < '1' || code[0] > '9' || code[1] < '0' || code[1] > '9' || code[2] < '0' || code[2] > '9' {
		return errBadHead
	}
	h.status = int(code[0]-'0')*100 + int(code[1]-'0')*10 + int(code[2]-'0')
	if len(line) > 12 {
		if line[12] != ' ' {
			return errBadHead
		}
		h.reason = line[13:]
		for _, c := range h.reason {
			if c < ' ' && c != '\t' || c == 0x7f {
				return errBadHead
			}
		}
	}
	if err := h.parseFields(pos, false); err != nil {
		return err
	}
	if h.teOther {
		return errUnsupportedTE
	}
	return nil
}

func (h *msgHead) parseVersion(v []byte) error {
	if len(v) != 8 || string(v[:7]) != "HTTP/1." {
		if len(v) == 8 && string(v[:5]) == "HTTP/" && v[5] >= '0' && v[5] <= '9' {
			return errBadVersion
		}
		return errBadHead
	}
	switch v[7] {
	case '0':
		h.minor = 0
	case '1':
		h.minor = 1
	default:
		return errBadVersion
	}
	return nil
}

func (h *msgHead) parseFields(pos int, request bool) error {
	for pos < len(h.buf) {
		line, next, err := h.nextLine(pos)
		if err != nil {
			return err
		}
		pos = next
		if len(line) == 0 {
			return nil
		}
		if line[0] == ' ' || line[0] == '\t' {
			return errBadHead // obs-fold (RFC 9112 §5.2): refused
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 {
			return errBadHead
		}
		name, value := line[:colon], trimOWS(line[colon+1:])
		if !isToken(name) || !isFieldValue(value) {
			return errBadHead // includes whitespace before the colon
		}
		if len(h.headers) == maxHeaders {
			return errHeadTooLarge
		}
		h.headers = append(h.headers, header{name: name, value: value})
		if err := h.interpret(name, value, request); err != nil {
			return err
		}
	}
	return errBadHead
}

// interpret records what a field means for framing and forwarding.
func (h *msgHead) interpret(name, value []byte, request bool) error {
	switch {
	case equalFold(name, "content-length"):
		n, ok := parseContentLength(value)
		if !ok || (h.contentLength >= 0 && h.contentLength != n) {
			return errBadFraming
		}
		h.contentLength = n
	case equalFold(name, "transfer-encoding"):
		// Only a single "chunked" is accepted: other codings, repeats and
		// empty values are where parsers disagree about message length.
		codings := 0
		for tok := range tokens(value) {
			codings++
			if h.chunked || !equalFold(tok, "chunked") {
				h.teOther = true
			} else {
				h.chunked = true
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
		h.hosts++
	case request && equalFold(name, "expect"):
		h.expect100 = equalFold(value, "100-continue")
	}
	return nil
}

// hopByHop reports whether a field must not be forwarded (RFC 9110 §7.6.1),
// either by name or because Connection lists it.
func (h *msgHead) hopByHop(name []byte) bool {
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
