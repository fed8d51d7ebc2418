// Package http1 is lbd's HTTP/1.x message machinery, shared by the proxy's
// two engines (a goroutine per connection, and the event loop's fast path):
// the head parser (Head, HeadScan), the head writers, the body copier
// (BodyCopier), and Decide, the one place that decides an exchange's
// framing, whether each connection may carry another request, and whether
// the event loop can serve it.
//
// It owns the wire format and the rules about it, and nothing that runs: no
// connection, timer, member or configuration. It must not import any lbd
// package (balancer, health, octavia, stats, proxy or its event loop):
// what it needs from a connection it takes as an interface (Writer,
// Splicer) or a *bufio.Reader and *bufio.Writer.
package http1
