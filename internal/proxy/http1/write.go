package http1

import (
	"bytes"
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
// insert_headers), and what it takes out.
type Forwarded struct {
	For   []byte // X-Forwarded-For: the client's address; nil: none added
	Port  []byte // X-Forwarded-Port: the listener's port; nil: none added
	Proto bool   // X-Forwarded-Proto: http, or https with HTTPS
	HTTPS bool   // the client came over TLS
	// Set are fields the proxy sets, replacing any of the same name the
	// client sent (HAProxy's http-request set-header): the X-SSL-* fields.
	Set []Field
	// DropCookie names a cookie removed from the Cookie fields (HAProxy's
	// "cookie ... indirect": the persistence cookie stays between the
	// client and the proxy); a field left empty is not sent.
	DropCookie []byte
}

// Field is a field the proxy writes.
type Field struct{ Name, Value string }

// replaced reports whether the client's field name is one fwd sets.
func (fwd *Forwarded) replaced(name []byte) bool {
	for i := range fwd.Set {
		if foldEqual(name, fwd.Set[i].Name) {
			return true
		}
	}
	return false
}

// foldEqual compares ASCII case-insensitively, either side in any case.
func foldEqual(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		x, y := b[i], s[i]
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
			(len(fwd.Set) > 0 && fwd.replaced(h.name)) ||
			req.clRepeated && repeatedLength(h.name, &lengthSent) {
			continue
		}
		if fwd.DropCookie != nil && equalFold(h.name, "cookie") {
			writeCookieWithout(w, h.name, h.value, fwd.DropCookie)
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
	switch {
	case fwd.Proto && fwd.HTTPS:
		w.WriteString("X-Forwarded-Proto: https\r\n")
	case fwd.Proto:
		w.WriteString("X-Forwarded-Proto: http\r\n")
	}
	for i := range fwd.Set {
		w.WriteString(fwd.Set[i].Name)
		w.WriteString(": ")
		w.WriteString(fwd.Set[i].Value)
		w.WriteString("\r\n")
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

// Inserted is what a proxy changes in a response it relays: HAProxy's
// "cookie <name> insert indirect nocache".
type Inserted struct {
	// DropSetCookie names a cookie whose Set-Cookie fields from the member
	// are removed (the proxy owns that cookie).
	DropSetCookie []byte
	// SetCookie, when not nil, is added as a Set-Cookie field.
	SetCookie []byte
	// Private adds "Cache-Control: private" (the response is cacheable
	// and carries the inserted cookie).
	Private bool
}

var (
	fieldSetCookie    = []byte("Set-Cookie")
	fieldCacheControl = []byte("Cache-Control")
	valuePrivate      = []byte("private")
)

// drops reports whether the response field name: value is taken out
// (a Set-Cookie for the proxy's cookie); ins may be nil.
func (ins *Inserted) drops(name, value []byte) bool {
	return ins != nil && ins.DropSetCookie != nil && equalFold(name, "set-cookie") && setCookieNamed(value, ins.DropSetCookie)
}

// added calls fn with each field ins adds to a response; ins may be nil.
func (ins *Inserted) added(fn func(name, value []byte)) {
	if ins == nil || ins.SetCookie == nil {
		return
	}
	fn(fieldSetCookie, ins.SetCookie)
	if ins.Private {
		fn(fieldCacheControl, valuePrivate)
	}
}

// WriteResponseHead writes a final response's head for the client:
// hop-by-hop fields removed, framing and persistence as d decided them,
// stated for the client's version; ins, when not nil, is applied.
func WriteResponseHead(w Writer, req, resp *Head, d Decision, ins *Inserted) {
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
		if ins.drops(h.name, h.value) {
			continue
		}
		WriteField(w, h.name, h.value)
	}
	ins.added(func(name, value []byte) { WriteField(w, name, value) })
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

// writeCookieWithout writes a Cookie field without the cookies named drop,
// or nothing if none is left.
func writeCookieWithout(w Writer, name, value, drop []byte) {
	first := true
	for len(value) > 0 {
		c := value
		if i := bytes.IndexByte(value, ';'); i >= 0 {
			c, value = value[:i], value[i+1:]
		} else {
			value = nil
		}
		c = trimOWS(c)
		if len(c) == 0 || cookieNamed(c, drop) {
			continue
		}
		if first {
			w.Write(name)
			w.WriteString(": ")
			first = false
		} else {
			w.WriteString("; ")
		}
		w.Write(c)
	}
	if !first {
		w.WriteString("\r\n")
	}
}

// cookieNamed reports whether a "name=value" pair is named name.
func cookieNamed(c, name []byte) bool {
	eq := bytes.IndexByte(c, '=')
	return eq >= 0 && bytes.Equal(trimOWS(c[:eq]), name)
}

// setCookieNamed reports whether a Set-Cookie value sets the cookie name.
func setCookieNamed(v, name []byte) bool {
	if i := bytes.IndexByte(v, ';'); i >= 0 {
		v = v[:i]
	}
	return cookieNamed(trimOWS(v), name)
}

// SetCookieValue returns the value a response's first Set-Cookie field for
// the cookie name sets, as HAProxy's res.cook(name) reads it.
func SetCookieValue(resp *Head, name []byte) ([]byte, bool) {
	for _, h := range resp.fields {
		if !equalFold(h.name, "set-cookie") {
			continue
		}
		v := h.value
		if i := bytes.IndexByte(v, ';'); i >= 0 {
			v = v[:i]
		}
		v = trimOWS(v)
		eq := bytes.IndexByte(v, '=')
		if eq >= 0 && bytes.Equal(trimOWS(v[:eq]), name) {
			return trimOWS(v[eq+1:]), true
		}
	}
	return nil, false
}

// Cacheable reports whether HAProxy would take the response as cacheable
// (http_check_response_for_cacheability): a cacheable status, and a
// Cache-Control that makes it so ("public", or a max-age or s-maxage other
// than 0) without a later one or a "Pragma: no-cache" undoing it.
func Cacheable(req, resp *Head) bool {
	switch resp.Status {
	case 200, 203, 204, 206, 300, 301, 404, 405, 410, 414, 501:
	default:
		return false
	}
	cacheable := false
	for _, h := range resp.fields {
		switch {
		case equalFold(h.name, "pragma"):
			if equalFold(h.value, "no-cache") {
				return false
			}
		case equalFold(h.name, "cache-control"):
			for tok := range tokens(h.value) {
				switch {
				case equalFold(tok, "public"):
					cacheable = true
				case equalFold(tok, "private") || equalFold(tok, "no-cache") || equalFold(tok, "no-store") ||
					equalFold(tok, "max-age=0") || equalFold(tok, "s-maxage=0"):
					cacheable = false
				case hasPrefixFold(tok, "max-age") || hasPrefixFold(tok, "s-maxage"):
					cacheable = true
				}
			}
		}
	}
	return cacheable
}

func hasPrefixFold(b []byte, p string) bool { return len(b) >= len(p) && equalFold(b[:len(p)], p) }

// denyBody is HAProxy's answer to "http-request deny", byte for byte.
const denyBody = "<html><body><h1>403 Forbidden</h1>\nRequest forbidden by administrative rules.\n</body></html>\n"

// WriteDeny writes the 403 HAProxy answers a request an L7 policy rejects.
// keep says whether the connection carries another request; minor is the
// client's HTTP/1.minor; headOnly leaves the body out (an answer to HEAD).
func WriteDeny(w Writer, keep bool, minor int, headOnly bool) {
	w.WriteString("HTTP/1.1 403 Forbidden\r\ncontent-length: 93\r\ncache-control: no-cache\r\ncontent-type: text/html\r\n")
	writeConnection(w, keep, minor)
	w.WriteString("\r\n")
	if !headOnly {
		w.WriteString(denyBody)
	}
}

// WriteRedirect writes the redirect HAProxy answers for "redirect code
// <code> location <location>", or "prefix <location>" with uri (the
// request's path and query) appended when uri is not nil. Temporary
// redirects are marked not cacheable, as HAProxy does.
func WriteRedirect(w Writer, code int, location, uri []byte, keep bool, minor int) {
	writeStatusLine(w, code, []byte(redirectReason[code]))
	w.WriteString("content-length: 0\r\nlocation: ")
	w.Write(location)
	w.Write(uri)
	w.WriteString("\r\n")
	if code == 302 || code == 303 || code == 307 {
		w.WriteString("cache-control: no-cache\r\n")
	}
	writeConnection(w, keep, minor)
	w.WriteString("\r\n")
}

var redirectReason = map[int]string{
	301: "Moved Permanently", 302: "Found", 303: "See Other", 307: "Temporary Redirect", 308: "Permanent Redirect",
}

func writeConnection(w Writer, keep bool, minor int) {
	switch {
	case !keep:
		w.WriteString("connection: close\r\n")
	case minor == 0:
		w.WriteString("connection: keep-alive\r\n")
	}
}

// EndToEnd calls fn with each field of a response that a proxy passes on
// (what WriteResponseHead writes from it): hop-by-hop fields are left out,
// and Content-Length when the body is chunked. Another protocol's writer
// (HTTP/2) uses it; the slices point into the head's buffer.
func (h *Head) EndToEnd(fn func(name, value []byte)) { h.EndToEndInserted(nil, fn) }

// EndToEndInserted is EndToEnd for a final response that a proxy relays
// to a client of another protocol (HTTP/2): with ins (which may be nil)
// applied as WriteResponseHead applies it.
func (h *Head) EndToEndInserted(ins *Inserted, fn func(name, value []byte)) {
	for _, f := range h.fields {
		if h.hopByHop(f.name) || (h.Chunked && equalFold(f.name, "content-length")) || ins.drops(f.name, f.value) {
			continue
		}
		fn(f.name, f.value)
	}
	ins.added(fn)
}

// ErrorBody is the body of lbd's own answer with status (WriteError's),
// for another protocol's writer.
func ErrorBody(status int) string {
	if body := errorBodies[status]; body != "" {
		return body
	}
	return "Error.\n"
}
