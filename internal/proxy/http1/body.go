package http1

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
)

// SpliceMin is the body length from which the rest of a body that is not
// yet buffered is spliced between the sockets instead of copied.
const SpliceMin = 16 << 10

const maxChunkLine = 4096

// ErrBadChunk marks malformed chunked framing.
var ErrBadChunk = errors.New("malformed chunked body")

// Splicer moves bytes straight from one connection's socket to another's,
// once the buffers around them are empty: n bytes, or until EOF when n < 0.
// Each byte moved is added to each counter as it goes. The engine that owns
// the connections provides it; its errors are returned as they are.
type Splicer interface {
	Splice(n int64, counters [3]*atomic.Uint64) error
}

// BodyCopier streams one message body from Src to Dst. Whatever is already
// buffered is copied; before it would block on Src it flushes Dst, so a
// slow stream reaches the far side as it comes; a long fixed-length
// remainder goes to Splice.
type BodyCopier struct {
	Dst       *bufio.Writer
	Src       *bufio.Reader
	Splice    Splicer
	ReadFail  error // wraps errors reading Src
	WriteFail error // wraps errors writing Dst
	// Strict holds chunk framing to the letter, for request bodies:
	// lines end in CRLF, and trailers may not carry fields that frame
	// or route a message, which a member merging trailers would obey.
	Strict   bool
	Counters [3]*atomic.Uint64 // each byte copied is added to each that is not nil
}

func (bc *BodyCopier) count(n int) {
	for _, c := range bc.Counters {
		if c != nil {
			c.Add(uint64(n))
		}
	}
}

func (bc *BodyCopier) rerr(err error) error {
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("%w: %w", bc.ReadFail, err)
}

func (bc *BodyCopier) werr(err error) error { return fmt.Errorf("%w: %w", bc.WriteFail, err) }

// fill makes at least one byte available from Src, flushing Dst first if
// that means waiting.
func (bc *BodyCopier) fill() (int, error) {
	if n := bc.Src.Buffered(); n > 0 {
		return n, nil
	}
	if err := bc.Dst.Flush(); err != nil {
		return 0, bc.werr(err)
	}
	if _, err := bc.Src.Peek(1); err != nil {
		return 0, err
	}
	return bc.Src.Buffered(), nil
}

// Fixed copies exactly n bytes.
func (bc *BodyCopier) Fixed(n int64) error {
	for n > 0 {
		if bc.Src.Buffered() == 0 && n >= SpliceMin {
			return bc.splice(n)
		}
		k, err := bc.fill()
		if err != nil {
			if errors.Is(err, bc.WriteFail) {
				return err
			}
			return bc.rerr(err)
		}
		k = int(min(int64(k), n))
		b, _ := bc.Src.Peek(k)
		if _, err := bc.Dst.Write(b); err != nil {
			return bc.werr(err)
		}
		bc.Src.Discard(k)
		bc.count(k)
		n -= int64(k)
	}
	return nil
}

// splice moves n bytes (to EOF when n < 0) straight between the sockets.
func (bc *BodyCopier) splice(n int64) error {
	if err := bc.Dst.Flush(); err != nil {
		return bc.werr(err)
	}
	return bc.Splice.Splice(n, bc.Counters)
}

// UntilClose copies until Src reaches EOF.
func (bc *BodyCopier) UntilClose() error {
	for {
		if bc.Src.Buffered() == 0 {
			return bc.splice(-1)
		}
		k := bc.Src.Buffered()
		b, _ := bc.Src.Peek(k)
		if _, err := bc.Dst.Write(b); err != nil {
			return bc.werr(err)
		}
		bc.Src.Discard(k)
		bc.count(k)
	}
}

// Chunked copies a chunked body. With forward it re-frames the chunks
// (sizes in plain hex, extensions dropped) and passes trailers on; without,
// it decodes the body for an HTTP/1.0 client and drops the trailers.
func (bc *BodyCopier) Chunked(forward bool) error {
	for {
		line, err := bc.line()
		if err != nil {
			return err
		}
		size, err := ParseChunkSize(line)
		if err != nil {
			return fmt.Errorf("%w: %w", bc.ReadFail, err)
		}
		if forward {
			writeHex(bc.Dst, size)
			bc.Dst.WriteString("\r\n")
		}
		if size == 0 {
			return bc.trailers(forward)
		}
		if size > 1<<62 {
			return fmt.Errorf("%w: %w", bc.ReadFail, ErrBadChunk)
		}
		if err := bc.Fixed(int64(size)); err != nil {
			return err
		}
		line, err = bc.line()
		if err != nil {
			return err
		}
		if len(line) != 0 {
			return fmt.Errorf("%w: %w: chunk data longer than its size", bc.ReadFail, ErrBadChunk)
		}
		if forward {
			bc.Dst.WriteString("\r\n")
		}
	}
}

func (bc *BodyCopier) trailers(forward bool) error {
	for {
		line, err := bc.line()
		if err != nil {
			return err
		}
		if len(line) == 0 {
			if forward {
				bc.Dst.WriteString("\r\n")
			}
			return nil
		}
		colon := indexByte(line, ':')
		if colon <= 0 || !isToken(line[:colon]) || !isFieldValue(line[colon+1:]) ||
			bc.Strict && forbiddenTrailer(line[:colon]) {
			return fmt.Errorf("%w: %w: bad trailer field", bc.ReadFail, ErrBadChunk)
		}
		if forward {
			bc.Dst.Write(line)
			bc.Dst.WriteString("\r\n")
		}
	}
}

// line reads one line of chunk framing without its line ending.
func (bc *BodyCopier) line() ([]byte, error) {
	if _, err := bc.fill(); err != nil {
		if errors.Is(err, bc.WriteFail) {
			return nil, err
		}
		return nil, bc.rerr(err)
	}
	line, err := bc.Src.ReadSlice('\n')
	if err != nil {
		if errors.Is(err, bufio.ErrBufferFull) {
			return nil, fmt.Errorf("%w: %w: line too long", bc.ReadFail, ErrBadChunk)
		}
		return nil, bc.rerr(err)
	}
	bc.count(len(line))
	line = line[:len(line)-1]
	if len(line) > 0 && line[len(line)-1] == '\r' {
		line = line[:len(line)-1]
	} else if bc.Strict {
		return nil, fmt.Errorf("%w: %w: bare LF", bc.ReadFail, ErrBadChunk)
	}
	if indexByte(line, '\r') >= 0 || len(line) > maxChunkLine {
		return nil, fmt.Errorf("%w: %w", bc.ReadFail, ErrBadChunk)
	}
	return line, nil
}

// ParseChunkSize reads chunk-size [ chunk-ext ] strictly (RFC 9112
// §7.1.1): hex digits only, at most 16 of them, no sign or whitespace;
// extensions are dropped when forwarding but must follow the grammar, since
// parsers that disagree about a malformed one disagree about where the
// chunk starts.
func ParseChunkSize(line []byte) (uint64, error) {
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
		return 0, ErrBadChunk
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

// writeHex writes n in hexadecimal, from a buffer of its own: the request
// and the response body of one exchange may be copied at once, so the
// copiers share no scratch space.
func writeHex(w *bufio.Writer, n uint64) {
	const digits = "0123456789abcdef"
	var b [16]byte
	i := len(b)
	for {
		i--
		b[i] = digits[n&0xf]
		n >>= 4
		if n == 0 {
			break
		}
	}
	for _, c := range b[i:] {
		w.WriteByte(c) // not Write: b would escape through the writer below
	}
}
