// Package proxy is lbd's data plane: it binds each listener's socket, accepts
// connections and forwards them to pool members, over TCP (splice(2) between
// the two sockets) or HTTP/1.1 (a lean forwarding path that parses each
// message head once and streams bodies).
//
// Runtime owns everything. Apply compiles a normalized octavia.Config into
// immutable listener configurations and swaps them in atomically: a listener
// whose address did not change keeps its socket, in-flight connections keep
// the member they hold, pools are updated in place so member state (in-flight
// counts, health) carries over, and removed listeners stop accepting and
// drain.
package proxy
