package proxy

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"time"

	"lbd/internal/accesslog"
	"lbd/internal/balancer"
	"lbd/internal/octavia"
	"lbd/internal/proxy/http1"
)

// Access logs: each engine fills an accesslog.Record as its request or
// connection goes, from what it already holds (the listener's names,
// computed once per configuration here, the member picked, the times it
// takes anyway), and hands it to the listener's logger at the end, which
// copies it into its queue without blocking or allocating.

// describe is how messages name an object: kind, name and ID, and where it
// is defined when it came from the config file, e.g.
// `listener "web" (8aaf4eee-…, lbd.yaml:7)`.
func describe(kind, id, name, origin string) string {
	var b strings.Builder
	b.WriteString(kind)
	b.WriteByte(' ')
	if name != "" {
		fmt.Fprintf(&b, "%q (%s", name, id)
	} else {
		b.WriteString(id)
		if origin != "" {
			b.WriteString(" (")
		}
	}
	if origin != "" {
		if name != "" {
			b.WriteString(", ")
		}
		b.WriteString(origin)
	}
	if name != "" || origin != "" {
		b.WriteByte(')')
	}
	return b.String()
}

// accessNames are a listener's fields of its access log records.
type accessNames struct {
	project            string
	lb, listener, pool accesslog.Object
	frontend           netip.AddrPort
}

func newAccessNames(lb *octavia.LoadBalancer, l *octavia.Listener) accessNames {
	n := accessNames{
		project:  lb.ProjectID,
		lb:       accesslog.Object{ID: lb.ID, Name: lb.Name},
		listener: accesslog.Object{ID: l.ID, Name: l.Name},
	}
	if p := lb.ListenerPool(l); p != nil {
		n.pool = accesslog.Object{ID: p.ID, Name: p.Name}
	}
	vip := lb.VIPAddress
	if vip == "" {
		vip = DefaultVIP
	}
	if a, err := netip.ParseAddr(vip); err == nil {
		n.frontend = netip.AddrPortFrom(a.Unmap(), uint16(l.ProtocolPort))
	}
	return n
}

// beginRecord starts rec for a request or connection of cfg's from client,
// accepted (or, for a request after the first on a connection, complete)
// at t.
func (cfg *listenerConfig) beginRecord(rec *accesslog.Record, f accesslog.Flavour, t time.Time, client netip.AddrPort) {
	rec.Reset(f, t)
	n := &cfg.names
	rec.Client, rec.Frontend = client, n.frontend
	rec.ProjectID = n.project
	rec.LoadBalancer, rec.Listener, rec.Pool = n.lb, n.listener, n.pool
}

// setMember notes the member the request or connection went to.
func setMember(rec *accesslog.Record, m *balancer.Member) {
	if m == nil {
		return
	}
	rec.Member = accesslog.Object{ID: m.ID, Name: m.Name}
	rec.MemberAddr = m.Addr
}

// setRequestLine records the request line as the client sent it: the
// head's first line.
func setRequestLine(rec *accesslog.Record, req *http1.Head) {
	b := req.Buf
	for i, c := range b {
		if c == '\r' || c == '\n' {
			b = b[:i]
			break
		}
	}
	rec.SetRequestLine(b)
}

// since is how long from t to now, accesslog.NoTime when t is unset.
func since(t, now time.Time) time.Duration {
	if t.IsZero() {
		return accesslog.NoTime
	}
	return now.Sub(t)
}

// termination is the HAProxy termination state of an exchange or a
// connection that ended with err in phase: who ended it (the client, the
// member, lbd; their timeouts in lower case) and where it was.
func termination(err error, phase byte) accesslog.Termination {
	if err == nil {
		return accesslog.Normal
	}
	var cause byte
	switch {
	case errors.Is(err, http1.ErrBadChunk) && errors.Is(err, errClientGone):
		cause = accesslog.CauseProxy // a malformed body the proxy refused
	case errors.Is(err, errClientGone):
		cause = accesslog.CauseClient
	default:
		cause = accesslog.CauseServer
	}
	if isTimeout(err) || errors.Is(err, errIdle) {
		cause += 'a' - 'A' // lower case: the side's timeout
	}
	return accesslog.Term(cause, phase)
}

// records are the access log records of TCP connections, which have no
// per-connection state to keep one in.
var records = sync.Pool{New: func() any { return new(accesslog.Record) }}

func getRecord() *accesslog.Record  { return records.Get().(*accesslog.Record) }
func putRecord(r *accesslog.Record) { records.Put(r) }
