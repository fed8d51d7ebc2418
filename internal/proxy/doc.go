// Package proxy is lbd's data plane: it binds each listener's socket, accepts
// connections and forwards them to pool members, over TCP (splice(2) between
// the two sockets) or HTTP/1.1 (a lean forwarding path that parses each
// message head once and streams bodies).
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
// The data plane composes internal/balancer, internal/health, internal/stats
// and the model (internal/octavia). It must not import the control plane
// (internal/controlplane, internal/octavia/api), the metrics exposition
// (internal/metrics reads the runtime, not the other way round), the cloud
// reconcilers (internal/octavia/client, internal/octavia/openstack) or
// gophercloud.
package proxy
