package http1

// FastRoom is the event loop's buffer size: the longest request head it
// reads, and the most of a response it holds (a longer one it relays in
// parts, its body spliced). It must not exceed the goroutine path's
// buffers, which take over what the loop read when it hands a connection
// back.
const FastRoom = 16 << 10

// BodyKind is how a response body is delimited.
type BodyKind uint8

const (
	BodyNone       BodyKind = iota // a response to HEAD, a 204 or a 304
	BodyFixed                      // Content-Length
	BodyChunked                    // Transfer-Encoding: chunked
	BodyUntilClose                 // neither: the body ends when the member closes
)

// Conditions are what an engine knows of an exchange besides its heads.
type Conditions struct {
	// Draining: the listener is draining, so the client connection ends
	// after this exchange.
	Draining bool
	// Interim: interim (1xx) responses were relayed before this one.
	Interim bool
	// BodyPending: the member answered a request with Expect:
	// 100-continue with a final response, and the client may still send
	// the body nobody will read.
	BodyPending bool
}

// Decision is what the heads of one exchange decide, for both engines.
type Decision struct {
	// Of the request.
	HasBody bool // a body follows the head
	Upgrade bool // it asks for a protocol upgrade (Connection: upgrade and Upgrade)

	// Of the response; zero before there is one.
	Body   BodyKind
	Length int64 // Body == BodyFixed: the body's length
	Decode bool  // a chunked body decoded for an HTTP/1.0 client, delimited by closing

	// ClientKeep: the client connection may carry another request.
	ClientKeep bool
	// MemberKeep: the member connection may carry another request, once
	// the response was read to its end and nothing past it.
	MemberKeep bool
	// Fast: the event loop can serve the exchange. The request asks for
	// no upgrade, and its body, if it has one, is delimited by
	// Content-Length and not held back for 100 Continue (the loop relays
	// such a body as it comes, however long); the response is final with
	// no interim one before it, is not chunked, and its length is known (a
	// body longer than FastRoom the loop splices).
	Fast bool
}

// ChunkedOut reports whether the client gets the body in chunked framing.
func (d Decision) ChunkedOut() bool { return d.Body == BodyChunked && !d.Decode }

// Steady reports whether the exchange is the event loop's steady state: one
// the loop serves and after which both connections stay open. A connection
// whose exchanges are steady moves into a loop.
func (d Decision) Steady() bool { return d.Fast && d.ClientKeep && d.MemberKeep }

// Decide decides an exchange from its parsed heads, resp nil before the
// response is in: its framing, whether each connection may carry another
// request, and whether the event loop can serve it. It is the one place for
// these rules; both engines ask it, when the request is in and when the
// response is.
func Decide(req, resp *Head, c Conditions) Decision {
	d := Decision{
		HasBody: req.Chunked || req.ContentLength > 0,
		Upgrade: req.connUpgrade && req.hasUpgrade,
		// HTTP/1.1 keeps the connection unless it says close, HTTP/1.0
		// closes it unless it says keep-alive (RFC 9112 §9.3).
		ClientKeep: !req.connClose && (req.Minor >= 1 || req.connKeepAlive) && !c.Draining,
	}
	d.Fast = !d.Upgrade && !req.Chunked && !(d.HasBody && req.Expect100)
	if resp == nil {
		return d
	}
	switch {
	case string(req.Method) == "HEAD" || resp.Status == 204 || resp.Status == 304:
		d.Body = BodyNone
	case resp.Chunked:
		d.Body = BodyChunked
	case resp.ContentLength >= 0:
		d.Body, d.Length = BodyFixed, resp.ContentLength
	default:
		d.Body = BodyUntilClose
	}
	// An HTTP/1.0 client cannot read chunked framing.
	d.Decode = d.Body == BodyChunked && req.Minor == 0
	d.ClientKeep = d.ClientKeep && d.Body != BodyUntilClose && !d.Decode && !c.BodyPending
	// A response with both Content-Length and chunked is read as chunked
	// (RFC 9112 §6.3), but a member that sends it is not trusted with
	// another request.
	d.MemberKeep = resp.Minor >= 1 && !resp.connClose && d.Body != BodyUntilClose &&
		!(resp.Chunked && resp.ContentLength >= 0) && !c.BodyPending
	d.Fast = d.Fast && !c.Interim && resp.Status >= 200 && resp.Status != 101 && !resp.Chunked &&
		(d.Body == BodyNone || d.Body == BodyFixed)
	return d
}
