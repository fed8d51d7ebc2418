package proxy

import "lbd/internal/proxy/http1"

// What lbd decides for each HTTP request beyond the rules of HTTP
// (http1.Decide), in one place for both engines: where the request goes,
// and what the member and the client receive besides what their peer sent.
// L7 policies (a pool chosen per request) belong in route, and fields lbd
// adds to a response (a session-persistence cookie) in writeResponseHead;
// both engines then pick them up.

// route returns the pool req goes to: the listener's default pool, or nil
// when it has none.
func route(cfg *listenerConfig, req *http1.Head) *pool { return cfg.pool }

// writeRequestHead writes req for the member with the listener's
// insert_headers; upgrade keeps the upgrade the client asked for.
func writeRequestHead(w http1.Writer, cfg *listenerConfig, req *http1.Head, clientIP []byte, upgrade bool) {
	fwd := http1.Forwarded{Proto: cfg.xfProto}
	if cfg.xff {
		fwd.For = clientIP
	}
	if cfg.xfPort {
		fwd.Port = cfg.portText
	}
	http1.WriteRequestHead(w, req, &fwd, upgrade)
}

// writeResponseHead writes resp's head for the client as d decided.
func writeResponseHead(w http1.Writer, cfg *listenerConfig, req, resp *http1.Head, d http1.Decision) {
	http1.WriteResponseHead(w, req, resp, d)
}
