package proxy

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync/atomic"
	"time"
)

type uint64Counter = atomic.Uint64

// spliceMin is the body length from which the rest of a body that is not
// yet buffered is spliced between the sockets instead of copied.
const spliceMin = 16 << 10

const maxChunkLine = 4096

// errMemberFailed marks a failure on the member's side of an exchange.
var errMemberFailed = errors.New("member connection failed")

var errBadChunk = errors.New("malformed chunked body")

// bodyCopier streams one message body from src to dst. Whatever is already
// buffered is copied; before it would block on src it flushes dst, so a
// slow stream reaches the far side as it comes; a long fixed-length
// remainder is spliced.
type bodyCopier struct {
	dst       *bufio.Writer
	dstConn   *timedConn
	src       *bufio.Reader
	srcConn   *timedConn
	idle      time.Duration // inactivity timeout while splicing
	readFail  error         // wraps errors reading src
	writeFail error         // wraps errors writing dst
	// strict holds chunk framing to the letter, for request bodies:
	// lines end in CRLF, and trailers may not carry fields that frame
	// or route a message, which a member merging trailers would obey.
	strict   bool
	counters [2]*uint64Counter
}

func (bc *bodyCopier) count(n int) {
	for _, c := range bc.counters {
		if c != nil {
			c.Add(uint64(n))
		}
	}
}

func (bc *bodyCopier) rerr(err error) error {
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("%w: %w", bc.readFail, err)
}

func (bc *bodyCopier) werr(err error) error { return fmt.Errorf("%w: %w", bc.writeFail, err) }

// fill makes at least one byte available from src, flushing dst first if
// that means waiting.
func (bc *bodyCopier) fill() (int, error) {
	if n := bc.src.Buffered(); n > 0 {
		return n, nil
	}
	if err := bc.dst.Flush(); err != nil {
		return 0, bc.werr(err)
	}
	if _, err := bc.src.Peek(1); err != nil {
		return 0, err
	}
	return bc.src.Buffered(), nil
}

// fixed copies exactly n bytes.
func (bc *bodyCopier) fixed(n int64) error {
	for n > 0 {
		if bc.src.Buffered() == 0 && n >= spliceMin {
			return bc.splice(n)
		}
		k, err := bc.fill()
		if err != nil {
			if errors.Is(err, bc.writeFail) {
				return err
			}
			return bc.rerr(err)
		}
		k = int(min(int64(k), n))
		b, _ := bc.src.Peek(k)
		if _, err := bc.dst.Write(b); err != nil {
			return bc.werr(err)
		}
		bc.src.Discard(k)
		bc.count(k)
		n -= int64(k)
	}
	return nil
}

// splice moves n bytes (to EOF when n < 0) straight between the sockets.
func (bc *bodyCopier) splice(n int64) error {
	if err := bc.dst.Flush(); err != nil {
		return bc.werr(err)
	}
	var act activity
	act.touch(time.Now())
	_, err := spliceN(bc.dstConn.TCPConn, bc.srcConn.TCPConn, n, bc.idle, &act, bc.counters[0], bc.counters[1])
	bc.srcConn.forgetRead()
	bc.dstConn.forgetWrite()
	if err != nil {
		return fmt.Errorf("%w: splice body: %w", errMemberFailed, err)
	}
	return nil
}

// untilClose copies until src reaches EOF.
func (bc *bodyCopier) untilClose() error {
	for {
		if bc.src.Buffered() == 0 {
			return bc.splice(-1)
		}
		k := bc.src.Buffered()
		b, _ := bc.src.Peek(k)
		if _, err := bc.dst.Write(b); err != nil {
			return bc.werr(err)
		}
		bc.src.Discard(k)
		bc.count(k)
	}
}

// chunked copies a chunked body. With forward it re-frames the chunks
// (sizes in plain hex, extensions dropped) and passes trailers on; without,
// it decodes the body for an HTTP/1.0 client and drops the trailers.
func (bc *bodyCopier) chunked(forward bool, scratch []byte) error {
	for {
		line, err := bc.line()
		if err != nil {
			return err
		}
		size, err := parseChunkSize(line)
		if err != nil {
			return fmt.Errorf("%w: %w", bc.readFail, err)
		}
		if forward {
			bc.dst.Write(strconv.AppendUint(scratch[:0], size, 16))
			bc.dst.WriteString("\r\n")
		}
		if size == 0 {
			return bc.trailers(forward)
		}
		if size > 1<<62 {
			return fmt.Errorf("%w: %w", bc.readFail, errBadChunk)
		}
		if err := bc.fixed(int64(size)); err != nil {
			return err
		}
		line, err = bc.line()
		if err != nil {
			return err
		}
		if len(line) != 0 {
			return fmt.Errorf("%w: %w: chunk data longer than its size", bc.readFail, errBadChunk)
		}
		if forward {
			bc.dst.WriteString("\r\n")
		}
	}
}

func (bc *bodyCopier) trailers(forward bool) error {
	for {
		line, err := bc.line()
		if err != nil {
			return err
		}
		if len(line) == 0 {
			if forward {
				bc.dst.WriteString("\r\n")
			}
			return nil
		}
		colon := indexByte(line, ':')
		if colon <= 0 || !isToken(line[:colon]) || !isFieldValue(line[colon+1:]) ||
			bc.strict && forbiddenTrailer(line[:colon]) {
			return fmt.Errorf("%w: %w: bad trailer field", bc.readFail, errBadChunk)
		}
		if forward {
			bc.dst.Write(line)
			bc.dst.WriteString("\r\n")
		}
	}
}

// line reads one line of chunk framing without its line ending.
func (bc *bodyCopier) line() ([]byte, error) {
	if _, err := bc.fill(); err != nil {
		if errors.Is(err, bc.writeFail) {
			return nil, err
		}
		return nil, bc.rerr(err)
	}
	line, err := bc.src.ReadSlice('\n')
	if err != nil {
		if errors.Is(err, bufio.ErrBufferFull) {
			return nil, fmt.Errorf("%w: %w: line too long", bc.readFail, errBadChunk)
		}
		return nil, bc.rerr(err)
	}
	bc.count(len(line))
	line = line[:len(line)-1]
	if len(line) > 0 && line[len(line)-1] == '\r' {
		line = line[:len(line)-1]
	} else if bc.strict {
		return nil, fmt.Errorf("%w: %w: bare LF", bc.readFail, errBadChunk)
	}
	if indexByte(line, '\r') >= 0 || len(line) > maxChunkLine {
		return nil, fmt.Errorf("%w: %w", bc.readFail, errBadChunk)
	}
	return line, nil
}

// parseChunkSize reads chunk-size [ chunk-ext ] strictly (RFC 9112
// §7.1.1): hex digits only, at most 16 of them, no sign or whitespace;
// extensions are dropped when forwarding but must follow the grammar, since
// parsers that disagree about a malformed one disagree about where the
// chunk starts.
func parseChunkSize(line []byte) (uint64, error) {
	var n uint64
	i := 0
	for ; i < len(line); i++ {
		c := line[i]
		var d byte
		switch {
		case '0' <= c && c <= '9':
			d = c - '0'
		case 'a' <= c && c <= 'f':
			d = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			d = c - 'A' + 10
		default:
			goto ext
		}
		n = n<<4 | uint64(d)
	}
ext:
	if i == 0 || i > 16 || !validChunkExt(line[i:]) {
		return 0, errBadChunk
	}
	return n, nil
}

// validChunkExt checks *( BWS ";" BWS name [ BWS "=" BWS value ] ), name a
// token, value a token or a quoted-string.
func validChunkExt(b []byte) bool {
	for len(b) > 0 {
		b = trimOWSLeft(b)
		if len(b) == 0 || b[0] != ';' {
			return false
		}
		b = trimOWSLeft(b[1:])
		n := tokenLen(b)
		if n == 0 {
			return false
		}
		b = b[n:]
		rest := trimOWSLeft(b)
		if len(rest) == 0 || rest[0] != '=' {
			continue
		}
		b = trimOWSLeft(rest[1:])
		if n = quotedLen(b); n == 0 {
			n = tokenLen(b)
		}
		if n == 0 {
			return false
		}
		b = b[n:]
	}
	return true
}

func tokenLen(b []byte) int {
	n := 0
	for n < len(b) && tokenChars[b[n]] {
		n++
	}
	return n
}

// quotedLen is the length of the quoted-string b starts with, or 0.
func quotedLen(b []byte) int {
	if len(b) == 0 || b[0] != '"' {
		return 0
	}
	for i := 1; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			return i + 1
		case c == '\\':
			if i+1 == len(b) || b[i+1] < ' ' && b[i+1] != '\t' || b[i+1] == 0x7f {
				return 0
			}
			i++
		case c < ' ' && c != '\t' || c == 0x7f:
			return 0
		}
	}
	return 0
}

func trimOWSLeft(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	return b
}

// forbiddenTrailer: fields a trailer must not carry (RFC 9110 §6.5.1).
func forbiddenTrailer(name []byte) bool {
	for _, f := range [...]string{"content-length", "transfer-encoding", "host", "connection", "keep-alive",
		"proxy-connection", "te", "trailer", "upgrade", "expect"} {
		if equalFold(name, f) {
			return true
		}
	}
	return false
}

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}
