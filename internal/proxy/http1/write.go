package http1

import (
	"errors"
	"net"
)

// Writer is what the head writers write to: a *bufio.Writer on the
// goroutine path, a socket's output buffer in the event loop.
type Writer interface {
	Write([]byte) (int, error)
	WriteString(string) (int, error)
	WriteByte(byte) error
}

// Forwarded is what a proxy adds to each request it forwards (Octavia's
// insert_headers).
type Forwarded struct {
	For   []byte // X-Forwarded-For: the client's address; nil: none added
	Port  []byte // X-Forwarded-Port: the listener's port; nil: none added
	Proto bool   // X-Forwarded-Proto: http
}

// WriteRequestHead writes the request line and fields for the member:
// always HTTP/1.1 with keep-alive, hop-by-hop fields removed (RFC 9110
// §7.6.1), fwd's fields added. upgrade keeps the upgrade the client asked
// for (Decision.Upgrade).
func WriteRequestHead(w Writer, req *Head, fwd *Forwarded, upgrade bool) {
	w.Write(req.Method)
	w.WriteByte(' ')
	w.Write(req.Target)
	w.WriteString(" HTTP/1.1\r\n")
	lengthSent := false
	for _, h := range req.fields {
		if req.hopByHop(h.name) ||
			(fwd.Port != nil && equalFold(h.name, "x-forwarded-port")) ||
			(fwd.Proto && equalFold(h.name, "x-forwarded-proto")) ||
			req.clRepeated && repeatedLength(h.name, &lengthSent) {
			continue
		}
		WriteField(w, h.name, h.value)
	}
	if req.Chunked {
		w.WriteString("Transfer-Encoding: chunked\r\n")
	}
	if req.hosts == 0 {
		// HTTP/1.0 without Host: the member gets HTTP/1.1, which requires
		// one, empty when the authority is unknown (RFC 9112 §3.2).
		w.WriteString("Host: \r\n")
	}
	if upgrade {
		w.WriteString("Connection: Upgrade\r\n")
		for _, h := range req.fields {
			if equalFold(h.name, "upgrade") {
				WriteField(w, h.name, h.value)
			}
		}
	}
	if fwd.For != nil {
		w.WriteString("X-Forwarded-For: ")
		w.Write(fwd.For)
		w.WriteString("\r\n")
	}
	if fwd.Port != nil {
		w.WriteString("X-Forwarded-Port: ")
		w.Write(fwd.Port)
		w.WriteString("\r\n")
	}
	if fwd.Proto {
		w.WriteString("X-Forwarded-Proto: http\r\n")
	}
	w.WriteString("\r\n")
}

// repeatedLength reports whether name is a Content-Length field after the
// first one (sent notes that it went): repeats of one value are merged.
func repeatedLength(name []byte, sent *bool) bool {
	if !equalFold(name, "content-length") {
		return false
	}
	if *sent {
		return true
	}
	*sent = true
	return false
}

// WriteField writes one field line.
func WriteField(w Writer, name, value []byte) {
	w.Write(name)
	w.WriteString(": ")
	w.Write(value)
	w.WriteString("\r\n")
}

// WriteResponseHead writes a final response's head for the client:
// hop-by-hop fields removed, framing and persistence as d decided them,
// stated for the client's version.
func WriteResponseHead(w Writer, req, resp *Head, d Decision) {
	writeStatusLine(w, resp.Status, resp.Reason)
	lengthSent := false
	for _, h := range resp.fields {
		if resp.hopByHop(h.name) {
			continue
		}
		if resp.Chunked && equalFold(h.name, "content-length") {
			continue // chunked framing wins; the length is not forwarded
		}
		if resp.clRepeated && repeatedLength(h.name, &lengthSent) {
			continue
		}
		WriteField(w, h.name, h.value)
	}
	if d.ChunkedOut() {
		w.WriteString("Transfer-Encoding: chunked\r\n")
	}
	switch {
	case !d.ClientKeep:
		w.WriteString("Connection: close\r\n")
	case req.Minor == 0:
		w.WriteString("Connection: keep-alive\r\n")
	}
	w.WriteString("\r\n")
}

// WriteInterim writes an interim (1xx) response for an HTTP/1.1 client,
// hop-by-hop fields removed.
func WriteInterim(w Writer, resp *Head) {
	writeStatusLine(w, resp.Status, resp.Reason)
	for _, h := range resp.fields {
		if !resp.hopByHop(h.name) {
			WriteField(w, h.name, h.value)
		}
	}
	w.WriteString("\r\n")
}

// WriteSwitching writes a 101 Switching Protocols response for the client:
// the upgrade it names is kept, other hop-by-hop fields removed.
func WriteSwitching(w Writer, resp *Head) {
	writeStatusLine(w, 101, resp.Reason)
	for _, h := range resp.fields {
		if !resp.hopByHop(h.name) || equalFold(h.name, "upgrade") {
			WriteField(w, h.name, h.value)
		}
	}
	w.WriteString("Connection: Upgrade\r\n\r\n")
}

// writeStatusLine writes "HTTP/1.1 " status reason; status has three digits,
// as the parser and the error table guarantee.
func writeStatusLine(w Writer, status int, reason []byte) {
	w.WriteString("HTTP/1.1 ")
	w.WriteByte(byte('0' + status/100))
	w.WriteByte(byte('0' + status/10%10))
	w.WriteByte(byte('0' + status%10))
	w.WriteByte(' ')
	w.Write(reason)
	w.WriteString("\r\n")
}

// writeUint writes n in decimal without a buffer that would escape to the
// heap through w.
func writeUint(w Writer, n uint64) {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			break
		}
	}
	for _, c := range b[i:] {
		w.WriteByte(c)
	}
}

// WriteError writes lbd's own short plain-text answer with status, for a
// request that got no response from a member; headOnly leaves the body out
// (an answer to HEAD).
func WriteError(w Writer, status int, keep, headOnly bool) {
	body := errorBodies[status]
	if body == "" {
		body = "Error.\n"
	}
	w.WriteString("HTTP/1.1 ")
	writeUint(w, uint64(status))
	w.WriteByte(' ')
	w.WriteString(statusText[status])
	w.WriteString("\r\nContent-Type: text/plain\r\nCache-Control: no-cache\r\nContent-Length: ")
	writeUint(w, uint64(len(body)))
	if !keep {
		w.WriteString("\r\nConnection: close")
	}
	w.WriteString("\r\n\r\n")
	if !headOnly {
		w.WriteString(body)
	}
}

var statusText = map[int]string{
	400: "Bad Request",
	408: "Request Timeout",
	431: "Request Header Fields Too Large",
	501: "Not Implemented",
	502: "Bad Gateway",
	503: "Service Unavailable",
	504: "Gateway Timeout",
	505: "HTTP Version Not Supported",
}

var errorBodies = map[int]string{
	400: "Your browser sent an invalid request.\n",
	408: "Your browser didn't send a complete request in time.\n",
	431: "Request header fields too large.\n",
	501: "Unsupported transfer coding.\n",
	502: "The server returned an invalid or incomplete response.\n",
	503: "No server is available to handle this request.\n",
	504: "The server didn't respond in time.\n",
	505: "HTTP version not supported.\n",
}

// ErrorStatus is the status that answers a request head that could not be
// read or parsed with err.
func ErrorStatus(err error) int {
	var ne net.Error
	switch {
	case errors.Is(err, ErrHeadTooLarge):
		return 431
	case errors.Is(err, ErrBadVersion):
		return 505
	case errors.Is(err, ErrUnsupportedTE):
		return 501
	case errors.As(err, &ne) && ne.Timeout():
		return 408
	default:
		return 400
	}
}

// Idempotent reports whether a method is idempotent (RFC 9110 §9.2.2): a
// proxy may send such a request again.
func Idempotent(method []byte) bool {
	switch string(method) {
	case "GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE":
		return true
	}
	return false
}
