package proxy

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// This file is a reference HTTP/1.1 request parser for the tests, written
// from RFC 9112's grammar and independent of lbd's parser: what lbd
// forwards to a member is checked against what this parser finds in the
// client's bytes. It is strict (anything the grammar does not allow is an
// error) except for what the RFC lets a recipient accept: empty lines before
// a request line, a bare LF ending a head line (§2.2), repeated identical
// Content-Length values (RFC 9110 §8.6) and empty list elements.

// refRequest is one request found in a stream.
type refRequest struct {
	method, target string
	minor          int
	headers        [][2]string
	body           []byte
	chunked        bool
	expect100      bool
	headEnd        int  // offset just past the head in the stream
	complete       bool // the body is all there
}

// errRefIncomplete: the stream ends inside a message.
var errRefIncomplete = errors.New("stream ends inside a message")

// refParse parses a stream of requests. It returns every request whose
// head was complete (the last one possibly with a partial body, complete
// false) and why it stopped: nil at a clean end, errRefIncomplete, or the
// rule the stream broke.
func refParse(b []byte) ([]refRequest, error) {
	var reqs []refRequest
	pos := 0
	for {
		// RFC 9112 §2.2: empty lines before a request line are ignored.
		for {
			if bytes.HasPrefix(b[pos:], []byte("\r\n")) {
				pos += 2
			} else if bytes.HasPrefix(b[pos:], []byte("\n")) {
				pos++
			} else {
				break
			}
		}
		if pos == len(b) {
			return reqs, nil
		}
		r, next, err := refParseOne(b, pos)
		if r != nil {
			reqs = append(reqs, *r)
		}
		if err != nil {
			return reqs, err
		}
		pos = next
	}
}

// refParseOne parses the request at pos.
func refParseOne(b []byte, pos int) (*refRequest, int, error) {
	line, pos, err := refHeadLine(b, pos)
	if err != nil {
		return nil, 0, err
	}
	parts := strings.Split(string(line), " ")
	if len(parts) != 3 {
		return nil, 0, fmt.Errorf("request line %q: not method SP target SP version", line)
	}
	r := &refRequest{method: parts[0], target: parts[1]}
	if !refToken(r.method) {
		return nil, 0, fmt.Errorf("method %q: not a token", r.method)
	}
	if r.target == "" || strings.IndexFunc(r.target, func(c rune) bool { return c <= ' ' || c >= 0x7f }) >= 0 {
		return nil, 0, fmt.Errorf("target %q: not visible ASCII", r.target)
	}
	switch parts[2] {
	case "HTTP/1.0":
	case "HTTP/1.1":
		r.minor = 1
	default:
		return nil, 0, fmt.Errorf("version %q", parts[2])
	}
	contentLength := int64(-1)
	var te []string
	teFields, hosts := 0, 0
	for {
		line, pos, err = refHeadLine(b, pos)
		if err != nil {
			return nil, 0, err
		}
		if len(line) == 0 {
			break
		}
		name, value, err := refField(line)
		if err != nil {
			return nil, 0, err
		}
		r.headers = append(r.headers, [2]string{name, value})
		switch strings.ToLower(name) {
		case "content-length":
			if value == "" || strings.Trim(value, "0123456789") != "" {
				return nil, 0, fmt.Errorf("Content-Length %q", value)
			}
			n := int64(1 << 62) // more than any stream holds
			if d := strings.TrimLeft(value, "0"); len(d) <= 18 {
				n, _ = strconv.ParseInt("0"+d, 10, 64)
			}
			if contentLength >= 0 && n != contentLength {
				return nil, 0, fmt.Errorf("Content-Length %d and %d", contentLength, n)
			}
			contentLength = n
		case "transfer-encoding":
			teFields++
			for _, c := range strings.Split(value, ",") {
				if c = strings.Trim(c, " \t"); c != "" {
					te = append(te, strings.ToLower(c))
				}
			}
		case "host":
			hosts++
		case "expect":
			r.expect100 = strings.EqualFold(value, "100-continue")
		}
	}
	r.headEnd = pos
	switch {
	case hosts > 1 || r.minor == 1 && hosts == 0:
		return nil, 0, fmt.Errorf("%d Host fields", hosts)
	case teFields > 0 && r.minor == 0:
		return nil, 0, errors.New("Transfer-Encoding in HTTP/1.0")
	case teFields > 0 && contentLength >= 0:
		return nil, 0, errors.New("Transfer-Encoding and Content-Length")
	case teFields > 0 && (len(te) != 1 || te[0] != "chunked"):
		return nil, 0, fmt.Errorf("Transfer-Encoding %q", te)
	}
	if teFields > 0 {
		r.chunked = true
		return refChunked(b, pos, r)
	}
	n := max(contentLength, 0)
	if int64(len(b)-pos) < n {
		r.body = b[pos:]
		return r, 0, errRefIncomplete
	}
	r.body = b[pos : pos+int(n)]
	r.complete = true
	return r, pos + int(n), nil
}

// refChunked reads a chunked body (RFC 9112 §7.1), CRLF line endings only.
func refChunked(b []byte, pos int, r *refRequest) (*refRequest, int, error) {
	var body []byte
	for {
		line, next, err := refCRLFLine(b, pos)
		if err != nil {
			r.body = body
			return r, 0, err
		}
		pos = next
		size, err := refChunkSize(line)
		if err != nil {
			r.body = body
			return r, 0, err
		}
		if size == 0 {
			break
		}
		if uint64(len(b)-pos) < size {
			r.body = append(body, b[pos:]...)
			return r, 0, errRefIncomplete
		}
		body = append(body, b[pos:pos+int(size)]...)
		pos += int(size)
		r.body = body
		if len(b)-pos < 2 {
			return r, 0, errRefIncomplete
		}
		if b[pos] != '\r' || b[pos+1] != '\n' {
			return r, 0, errors.New("chunk data not followed by CRLF")
		}
		pos += 2
	}
	r.body = body
	for { // trailer section
		line, next, err := refCRLFLine(b, pos)
		if err != nil {
			return r, 0, err
		}
		pos = next
		if len(line) == 0 {
			r.complete = true
			return r, pos, nil
		}
		if _, _, err := refField(line); err != nil {
			return r, 0, fmt.Errorf("trailer: %w", err)
		}
	}
}

// refHeadLine returns the head line at pos without its ending (CRLF or
// LF) and the position after it.
func refHeadLine(b []byte, pos int) ([]byte, int, error) {
	i := bytes.IndexByte(b[pos:], '\n')
	if i < 0 {
		return nil, 0, errRefIncomplete
	}
	line := bytes.TrimSuffix(b[pos:pos+i], []byte("\r"))
	if bytes.IndexByte(line, '\r') >= 0 {
		return nil, 0, fmt.Errorf("bare CR in %q", line)
	}
	return line, pos + i + 1, nil
}

// refCRLFLine is refHeadLine for chunk framing, where only CRLF ends a line.
func refCRLFLine(b []byte, pos int) ([]byte, int, error) {
	i := bytes.IndexByte(b[pos:], '\n')
	if i < 0 {
		return nil, 0, errRefIncomplete
	}
	if i == 0 || b[pos+i-1] != '\r' {
		return nil, 0, errors.New("chunk line not ended by CRLF")
	}
	line := b[pos : pos+i-1]
	if bytes.IndexByte(line, '\r') >= 0 {
		return nil, 0, fmt.Errorf("bare CR in %q", line)
	}
	return line, pos + i + 1, nil
}

// refField parses field-name ":" OWS field-value OWS.
func refField(line []byte) (string, string, error) {
	if line[0] == ' ' || line[0] == '\t' {
		return "", "", errors.New("obs-fold")
	}
	name, value, ok := strings.Cut(string(line), ":")
	if !ok || !refToken(name) {
		return "", "", fmt.Errorf("field name %q", name)
	}
	value = strings.Trim(value, " \t")
	for i := 0; i < len(value); i++ {
		if c := value[i]; c < ' ' && c != '\t' || c == 0x7f {
			return "", "", fmt.Errorf("control byte %#x in field %s", c, name)
		}
	}
	return name, value, nil
}

// refChunkSize parses chunk-size [ chunk-ext ]:
//
//	chunk-ext = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )
//	chunk-ext-val = token / quoted-string
func refChunkSize(line []byte) (uint64, error) {
	s := string(line)
	i := 0
	for i < len(s) && strings.IndexByte("0123456789abcdefABCDEF", s[i]) >= 0 {
		i++
	}
	if i == 0 {
		return 0, fmt.Errorf("chunk size %q", s)
	}
	digits := strings.TrimLeft(s[:i], "0")
	if len(digits) > 15 {
		return 0, fmt.Errorf("chunk size %q too large", s)
	}
	n, _ := strconv.ParseUint("0"+digits, 16, 64)
	rest := s[i:]
	bws := func() { rest = strings.TrimLeft(rest, " \t") }
	for rest != "" {
		bws()
		if rest == "" || rest[0] != ';' {
			return 0, fmt.Errorf("chunk extension %q", s)
		}
		rest = rest[1:]
		bws()
		j := 0
		for j < len(rest) && refTChar(rest[j]) {
			j++
		}
		if j == 0 {
			return 0, fmt.Errorf("chunk extension name in %q", s)
		}
		rest = rest[j:]
		after := strings.TrimLeft(rest, " \t")
		if after == "" || after[0] != '=' {
			continue
		}
		rest = after[1:]
		bws()
		if v, ok := refQuoted(rest); ok {
			rest = rest[v:]
			continue
		}
		j = 0
		for j < len(rest) && refTChar(rest[j]) {
			j++
		}
		if j == 0 {
			return 0, fmt.Errorf("chunk extension value in %q", s)
		}
		rest = rest[j:]
	}
	return n, nil
}

// refQuoted returns the length of the quoted-string at the start of s.
func refQuoted(s string) (int, bool) {
	if s == "" || s[0] != '"' {
		return 0, false
	}
	for i := 1; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"':
			return i + 1, true
		case c == '\\':
			if i+1 == len(s) || (s[i+1] < ' ' && s[i+1] != '\t') || s[i+1] == 0x7f {
				return 0, false
			}
			i++
		case c < ' ' && c != '\t' || c == 0x7f:
			return 0, false
		}
	}
	return 0, false
}

func refToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !refTChar(s[i]) {
			return false
		}
	}
	return true
}

// refTChar: tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" /
// "." / "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA (RFC 9110 §5.6.2).
func refTChar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}
