package accesslog

import (
	"net/netip"
	"time"
)

// Flavour says whether a Record is an HTTP request or a TCP connection.
type Flavour uint8

// Record flavours: a TCP record has no request line and no status.
const (
	TCP Flavour = iota
	HTTP
)

func (f Flavour) String() string {
	if f == HTTP {
		return "HTTP"
	}
	return "TCP"
}

// Object names an Octavia object in a record: its ID, and its name when it
// has one.
type Object struct {
	ID, Name string
}

// NoTime is a timing that was never reached: the request never completed,
// no connection to a member was attempted, no response came. HAProxy writes
// it as -1.
const NoTime time.Duration = -1

// MaxRequestLine is how much of a request line a record keeps (HAProxy's
// tune.http.logurilen default); the URI is cut to fit.
const MaxRequestLine = 1024

// Record is one access log entry: one HTTP request on an HTTP listener, one
// connection on a TCP listener. It holds plain values only, so the data
// plane can keep one in its per-connection state, fill it as the request
// goes and hand it to Logger.Log, which copies it.
type Record struct {
	Flavour Flavour
	// Accepted is when the connection was accepted (TCP) or, for HTTP, when
	// the request's first byte arrived (the connection's accept time for its
	// first request): HAProxy's %t.
	Accepted time.Time
	Client   netip.AddrPort // the client's address and port: %ci, %cp
	Frontend netip.AddrPort // the listener's address the client reached: %fi, %fp

	ProjectID    string
	LoadBalancer Object
	Listener     Object // HAProxy's frontend, %f
	Pool         Object // the backend, %b (written pool_id:listener_id, as the amphora names it)
	Member       Object // the server, %s; no ID: no member was picked (<NOSRV>)
	MemberAddr   netip.AddrPort

	// Status is the HTTP status sent to the client (%ST), 0 when none was.
	Status int
	// BytesIn counts bytes received from the client (%U), BytesOut bytes
	// sent to it (%B), heads included.
	BytesIn, BytesOut int64

	// The timings, NoTime when not reached. WaitRequest is from the first
	// byte to the complete request head (%TR, HTTP); Connect opening the
	// connection to the member (%Tc; 0 for a kept-alive one); Response from
	// the request sent to the response head received (%Tr, HTTP); Total
	// from Accepted to the last byte (%Ta for HTTP, %Tt for TCP).
	WaitRequest, Connect, Response, Total time.Duration

	// Termination is HAProxy's two-letter termination state (%ts).
	Termination Termination

	// TLS is the client connection's TLS, for the ssl_* sample fetches;
	// its zero value is a connection without TLS.
	TLS TLS

	request    [MaxRequestLine]byte
	requestLen uint16
}

// Reset prepares r for a new entry of flavour f accepted at t: every field
// cleared, the timings NoTime, the termination state normal.
func (r *Record) Reset(f Flavour, t time.Time) {
	r.Flavour = f
	r.Accepted = t
	r.Client, r.Frontend, r.MemberAddr = netip.AddrPort{}, netip.AddrPort{}, netip.AddrPort{}
	r.ProjectID = ""
	r.LoadBalancer, r.Listener, r.Pool, r.Member = Object{}, Object{}, Object{}, Object{}
	r.Status = 0
	r.BytesIn, r.BytesOut = 0, 0
	r.WaitRequest, r.Connect, r.Response, r.Total = NoTime, NoTime, NoTime, NoTime
	r.Termination = Normal
	r.TLS = TLS{}
	r.requestLen = 0
}

// TLS is what the ssl_* sample fetches give for a TLS client connection,
// formatted as HAProxy formats them (the proxy fills it). Fields are
// indexed by the fetches' names in tlsFetches.
type TLS struct {
	On        bool   // %[ssl_fc]: the client connection is TLS
	Verify    string // %[ssl_c_verify]
	Used      string // %[ssl_c_used]: "1" with a client certificate
	SubjectDN string // %[ssl_c_s_dn]
	IssuerDN  string // %[ssl_c_i_dn]
	SHA1      string // %[ssl_c_sha1] (upper-case hex)
	NotBefore string // %[ssl_c_notbefore]
	NotAfter  string // %[ssl_c_notafter]
	Protocol  string // %[ssl_fc_protocol], e.g. TLSv1.3
	Cipher    string // %[ssl_fc_cipher]
	SNI       string // %[ssl_fc_sni]
}

// fetch is the value of the named sample fetch.
func (t *TLS) fetch(name string) string {
	switch name {
	case "ssl_fc":
		if t.On {
			return "1"
		}
		return "0"
	case "ssl_c_verify":
		return t.Verify
	case "ssl_c_used":
		return t.Used
	case "ssl_c_s_dn":
		return t.SubjectDN
	case "ssl_c_i_dn":
		return t.IssuerDN
	case "ssl_c_sha1":
		return t.SHA1
	case "ssl_c_notbefore":
		return t.NotBefore
	case "ssl_c_notafter":
		return t.NotAfter
	case "ssl_fc_protocol":
		return t.Protocol
	case "ssl_fc_cipher":
		return t.Cipher
	case "ssl_fc_sni":
		return t.SNI
	}
	return ""
}

// SetRequest records the request line "method uri proto". A URI too long
// for MaxRequestLine is cut.
func (r *Record) SetRequest(method, uri, proto []byte) {
	room := MaxRequestLine - len(method) - len(proto) - 2
	if room < 0 {
		method, proto, room = nil, nil, MaxRequestLine
	}
	if len(uri) > room {
		uri = uri[:room]
	}
	n := copy(r.request[:], method)
	n += copy(r.request[n:], " ")
	n += copy(r.request[n:], uri)
	if len(proto) > 0 {
		n += copy(r.request[n:], " ")
		n += copy(r.request[n:], proto)
	}
	r.requestLen = uint16(n)
}

// SetRequestLine records a whole request line, cut to MaxRequestLine.
func (r *Record) SetRequestLine(line []byte) {
	r.requestLen = uint16(copy(r.request[:], line))
}

// SetRequestString is SetRequestLine for a line held as a string.
func (r *Record) SetRequestString(line string) {
	r.requestLen = uint16(copy(r.request[:], line))
}

// Request is the request line recorded, empty when none was.
func (r *Record) Request() []byte { return r.request[:r.requestLen] }

// Termination is HAProxy's termination state: why the session ended
// (Cause) and in which phase it was then (Phase), "--" for a normal end.
type Termination [2]byte

// What ended a session: the first letter of a Termination.
const (
	CauseNone          = '-' // the session ended normally
	CauseClient        = 'C' // the client closed or reset its connection
	CauseServer        = 'S' // the member refused, reset or answered something invalid
	CauseProxy         = 'P' // lbd refused the request (malformed, denied)
	CauseLocal         = 'L' // lbd answered itself, passing nothing to a member (a redirect)
	CauseResource      = 'R' // lbd ran out of a resource (sockets, memory)
	CauseInternal      = 'I' // an internal error in lbd
	CauseDown          = 'D' // the member went down and its session was cut
	CauseKilled        = 'K' // lbd cut the session (a drain that timed out)
	CauseClientTimeout = 'c' // the client's timeout expired
	CauseServerTimeout = 's' // the member's timeout expired
)

// The phase a session was in when it ended: the second letter.
const (
	PhaseNone     = '-' // the session was complete
	PhaseRequest  = 'R' // waiting for the complete request head (HTTP)
	PhaseQueue    = 'Q' // waiting for a member slot
	PhaseConnect  = 'C' // connecting to the member
	PhaseHeaders  = 'H' // waiting for the response head (HTTP)
	PhaseData     = 'D' // transferring data
	PhaseLastData = 'L' // sending the last data to the client after the member finished
)

// Normal is the termination state of a session that ended as it should.
var Normal = Termination{CauseNone, PhaseNone}

// Term builds a termination state from a cause and a phase.
func Term(cause, phase byte) Termination { return Termination{cause, phase} }

func (t Termination) String() string { return string(t[:]) }
