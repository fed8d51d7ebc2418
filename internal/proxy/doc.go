// Package proxy is lbd's data plane: it binds each listener's socket,
// accepts connections and forwards them to pool members, over TCP (splice(2)
// between the two sockets) or HTTP/1.1.
//
// Runtime owns everything. Apply translates a normalized octavia.Config
// (translate.go, the one place the model becomes running objects) into
// immutable listener configurations, balancer members and health monitor
// configurations, and swaps them in atomically: a listener
// whose address did not change keeps its socket, in-flight connections keep
// the member they hold, pools are updated in place so member state (in-flight
// counts, health) carries over, and removed listeners stop accepting and
// drain.
//
// The package composes; the parts live where they can be read alone:
//
//   - runtime.go, translate.go, status.go, view.go: the Runtime, Apply, and
//     what status and metrics read.
//   - listener.go, pool.go, connect.go, upstream.go: listeners (sockets,
//     accept loops, connection counts, drains), pools (balancer, health
//     monitor, idle member connections) and connecting to members, with
//     retries and redispatch.
//   - tcpproxy.go, copy.go, splice.go, timedconn.go: the TCP engine and the
//     socket plumbing both protocols use (splice.go: splicing through
//     pipes lbd closes itself); looptcp.go: TCP connections relayed by the
//     event loops once connected.
//   - memory.go: returning a burst's memory to the system once it is over.
//   - HTTP runs on two engines that share one core, package http1 (heads,
//     bodies, and the rules in http1.Decide), and one place for per-request
//     decisions (route.go: L7 policies through package l7, session
//     persistence in persist.go over package stick's tables). The
//     goroutine path (httpconn.go, httpexchange.go,
//     httpserve.go) serves anything, over any net.Conn. The event loops'
//     fast path (loops.go, loopexchange.go; loopconnect.go for the member
//     connections it opens, loopbody.go for request bodies, loopstream.go
//     for responses longer than its buffer, loophandoff.go for what it
//     gives back), a client of the reactor in package evloop,
//     serves keep-alive connections in their steady state;
//     handoff.go moves connections between the two. PROXY protocol headers
//     (package proxyproto) go to PROXY pools' members in connect.go and
//     are read from trusted upstreams in proxyaccept.go.
//
// The data plane composes internal/balancer, internal/health, internal/stats
// and the model (internal/octavia). It must not import the control plane
// (internal/controlplane, internal/octavia/api), the metrics exposition
// (internal/metrics reads the runtime, not the other way round), the cloud
// reconcilers (internal/octavia/reconcile, internal/octavia/cloud) or
// gophercloud.
package proxy
