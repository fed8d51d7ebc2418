package loadgen

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// The generator speaks just enough HTTP/1.1 itself: one prebuilt request,
// and a response reader that parses the status, the framing headers and
// X-Backend (the demo backend's name, which tells the member) without
// allocating. net/http's client costs several times more CPU per request,
// CPU the proxy and the backends on the same two cores need, and its
// Transport retries some failures by itself, which would hide them.

// errMalformed reports a response the reader cannot frame.
var errMalformed = errors.New("malformed response")

// response is what the generator keeps of one HTTP response.
type response struct {
	status  int
	backend []byte // X-Backend's value, copied into the caller's scratch buffer
	keep    bool   // the connection may carry another request
}

// requestBytes is the request every client sends; with close, it asks the
// server to close the connection after answering.
func requestBytes(path string, close bool) []byte {
	conn := ""
	if close {
		conn = "Connection: close\r\n"
	}
	return []byte("GET " + path + " HTTP/1.1\r\nHost: lbd-loadgen\r\nUser-Agent: lbd-loadgen\r\n" + conn + "\r\n")
}

// readResponse reads one response head, discards the body and reports the
// status, the backend and whether the connection stays open. A body cut
// short is io.ErrUnexpectedEOF, with the head's status. The backend's name
// is copied into scratch (the reader's buffer moves on as it reads), which
// allocates nothing when it is large enough.
func readResponse(br *bufio.Reader, scratch []byte) (response, error) {
	for {
		r, length, chunked, err := readHead(br, scratch)
		if err != nil {
			return r, err
		}
		if r.status >= 100 && r.status < 200 {
			continue // 100 Continue and friends precede the real answer
		}
		switch {
		case r.status == 204 || r.status == 304:
		case chunked:
			err = discardChunked(br)
		case length >= 0:
			_, err = br.Discard(int(length))
		default: // delimited by the end of the connection
			_, err = io.Copy(io.Discard, br)
			r.keep = false
		}
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return r, err
	}
}

func readHead(br *bufio.Reader, scratch []byte) (r response, length int64, chunked bool, err error) {
	length = -1
	line, err := br.ReadSlice('\n')
	if err != nil {
		return r, 0, false, err
	}
	if len(line) < 12 || string(line[:7]) != "HTTP/1." || line[8] != ' ' {
		return r, 0, false, fmt.Errorf("%w: status line %q", errMalformed, trimCRLF(line))
	}
	r.keep = line[7] == '1'
	for _, c := range line[9:12] {
		if c < '0' || c > '9' {
			return r, 0, false, fmt.Errorf("%w: status line %q", errMalformed, trimCRLF(line))
		}
		r.status = r.status*10 + int(c-'0')
	}
	for {
		line, err = br.ReadSlice('\n')
		if err != nil {
			return r, 0, false, err
		}
		line = trimCRLF(line)
		if len(line) == 0 {
			return r, length, chunked, nil
		}
		name, value, ok := splitHeader(line)
		if !ok {
			return r, 0, false, fmt.Errorf("%w: header %q", errMalformed, line)
		}
		switch {
		case equalFold(name, "content-length"):
			n, perr := strconv.ParseInt(string(value), 10, 64)
			if perr != nil || n < 0 {
				return r, 0, false, fmt.Errorf("%w: content-length %q", errMalformed, value)
			}
			length = n
		case equalFold(name, "transfer-encoding"):
			chunked = equalFold(value, "chunked")
		case equalFold(name, "connection"):
			if equalFold(value, "close") {
				r.keep = false
			} else if equalFold(value, "keep-alive") {
				r.keep = true
			}
		case equalFold(name, "x-backend"):
			r.backend = append(scratch[:0], value...)
		}
	}
}

func discardChunked(br *bufio.Reader) error {
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return err
		}
		line = trimCRLF(line)
		var size int64
		for _, c := range line {
			var d byte
			switch {
			case c >= '0' && c <= '9':
				d = c - '0'
			case c >= 'a' && c <= 'f':
				d = c - 'a' + 10
			case c >= 'A' && c <= 'F':
				d = c - 'A' + 10
			case c == ';' || c == ' ' || c == '\t':
				goto sized // chunk extensions
			default:
				return fmt.Errorf("%w: chunk size %q", errMalformed, line)
			}
			if size > 1<<40 {
				return fmt.Errorf("%w: chunk size %q", errMalformed, line)
			}
			size = size<<4 | int64(d)
		}
	sized:
		if size == 0 {
			for { // trailers, up to the empty line
				line, err := br.ReadSlice('\n')
				if err != nil {
					return err
				}
				if len(trimCRLF(line)) == 0 {
					return nil
				}
			}
		}
		if _, err := br.Discard(int(size) + 2); err != nil {
			return err
		}
	}
}

func trimCRLF(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}

// splitHeader splits "Name: value" and trims the value's blanks.
func splitHeader(line []byte) (name, value []byte, ok bool) {
	for i, c := range line {
		if c == ':' {
			v := line[i+1:]
			for len(v) > 0 && (v[0] == ' ' || v[0] == '\t') {
				v = v[1:]
			}
			for len(v) > 0 && (v[len(v)-1] == ' ' || v[len(v)-1] == '\t') {
				v = v[:len(v)-1]
			}
			return line[:i], v, i > 0
		}
	}
	return nil, nil, false
}

// equalFold compares ASCII case-insensitively; want is lower case.
func equalFold(b []byte, want string) bool {
	if len(b) != len(want) {
		return false
	}
	for i := range b {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != want[i] {
			return false
		}
	}
	return true
}
