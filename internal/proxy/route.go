package proxy

import (
	"lbd/internal/balancer"
	"lbd/internal/octavia"
	"lbd/internal/proxy/http1"
	"lbd/internal/proxy/l7"
	"lbd/internal/proxy/tlsterm"
)

// What lbd decides for each HTTP request beyond the rules of HTTP
// (http1.Decide), in one place for both engines: where the request goes
// (the listener's L7 policies, then its default pool), what lbd answers
// itself (an L7 REJECT or redirect), and what the member and the client
// receive besides what their peer sent (insert_headers, and session
// persistence's cookie, taken out of the request and set on the response).

// answer is an L7 policy's REJECT or redirect, which lbd answers itself.
type answer = l7.Policy[int]

// route returns where req goes: the pool (nil when the listener has no
// default pool and no policy sends the request anywhere), or the policy
// whose answer lbd writes (writeAnswer). tls is the client connection's
// TLS, nil for plain TCP.
func route(cfg *listenerConfig, req *http1.Head, tls l7.TLSInfo) (*pool, *answer) {
	if pol := cfg.l7.Match(req, tls); pol != nil {
		if pol.Action == l7.ToPool {
			return cfg.l7pools[pol.Target], nil
		}
		return nil, pol
	}
	return cfg.pool, nil
}

// writeAnswer writes lbd's own answer for an L7 policy's REJECT or
// redirect, and reports its status.
func writeAnswer(w http1.Writer, a *answer, req *http1.Head, keep bool) int {
	switch a.Action {
	case l7.Reject:
		http1.WriteDeny(w, keep, req.Minor, string(req.Method) == "HEAD")
		return 403
	case l7.RedirectPrefix:
		http1.WriteRedirect(w, a.Code, a.Location, l7.URI(req.Target), keep, req.Minor)
	default:
		http1.WriteRedirect(w, a.Code, a.Location, nil, keep, req.Minor)
	}
	return a.Code
}

// writeRequestHead writes req for a member of p with the listener's
// insert_headers, and without the persistence cookie; peer is a TLS
// client's certificate (nil over plain TCP), upgrade keeps the upgrade the
// client asked for.
func writeRequestHead(w http1.Writer, cfg *listenerConfig, p *pool, req *http1.Head, clientIP []byte, peer *tlsterm.Peer, upgrade bool) {
	fwd := http1.Forwarded{Proto: cfg.xfProto, HTTPS: cfg.tls != nil}
	if cfg.xff {
		fwd.For = clientIP
	}
	if cfg.xfPort {
		fwd.Port = cfg.portText
	}
	if ps := p.persist.Load(); ps != nil && ps.plan.kind == octavia.PersistenceHTTPCookie {
		fwd.DropCookie = cookieSRV
	}
	if cfg.tls != nil && cfg.tls.headers != 0 {
		fwd.Set = cfg.tls.headers.fields(peer, make([]http1.Field, 0, len(sslHeaderNames)))
	}
	http1.WriteRequestHead(w, req, &fwd, upgrade)
}

// writeResponseHead writes resp's head, from member m of pool p, for the
// client as d decided, with what session persistence adds. scratch is the
// connection's buffer for an inserted cookie.
func writeResponseHead(w http1.Writer, cfg *listenerConfig, p *pool, m *balancer.Member, req, resp *http1.Head, d http1.Decision, scratch *[]byte) {
	var insBuf http1.Inserted
	http1.WriteResponseHead(w, req, resp, d, persisted(p, m, req, resp, &insBuf, scratch))
}

// persisted is what p's session persistence changes in the response resp
// that member m sent for req, whatever protocol the client speaks (the
// one rule for HTTP/1.1 and HTTP/2): into ins, nil when nothing. scratch
// is the caller's buffer for an inserted cookie.
func persisted(p *pool, m *balancer.Member, req, resp *http1.Head, ins *http1.Inserted, scratch *[]byte) *http1.Inserted {
	ps := p.persist.Load()
	if ps == nil {
		return nil
	}
	got := ps.inserted(req, resp, m, ins, *scratch)
	if got != nil && got.SetCookie != nil {
		*scratch = got.SetCookie[:0]
	}
	return got
}

// tlsInfo is what L7 SSL rules read of a TLS client's certificate; nil
// (no sample) over plain TCP.
func tlsInfo(p *tlsterm.Peer) l7.TLSInfo {
	if p == nil {
		return nil
	}
	return p
}
