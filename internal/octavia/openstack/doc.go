// Package openstack provisions a config file's load balancer on a real
// OpenStack cloud, the way the Octavia tutorial does by hand: a security
// group, the web servers (Nova), the load balancer with its listeners, pools,
// members and health monitors (Octavia, fully-populated create for a new one),
// and a floating IP on the VIP port (Neutron). It is the engine behind
// `lbctl up` and `lbctl down`.
//
// Up is convergent: every resource is found by name (or by the marker lbctl
// leaves on what it creates), compared with the file, and only what differs
// is changed, each Octavia change followed by a wait for ACTIVE. Planning and
// applying are one code path: a phase computes its Changes from what exists,
// and Up either prints them (plan) or applies them in order.
//
// Only cmd/lbctl imports this package, so lbd's binary does not link
// gophercloud's compute and networking clients.
//
// It must not import the data plane (internal/proxy, internal/balancer,
// internal/health), the control plane or the metrics: it provisions on a
// cloud and links nothing of lbd's own serving.
package openstack
