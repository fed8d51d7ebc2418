// Package cloud provisions a config file's load balancer on a real
// OpenStack cloud, the way the Octavia tutorial does by hand: a security
// group, the web servers (Nova), the load balancer with its listeners, pools,
// members and health monitors, and a floating IP on the VIP port (Neutron).
// It is the engine behind `lbctl up` and `lbctl down`.
//
// It owns what is not Octavia's: logging in (clouds.yaml or the OS_*
// environment, Keystone), the retrying transport, the file's openstack:
// section (Spec), Nova servers, Neutron networks, subnets, security groups
// and floating IPs, Glance images, and the order of the steps. The load
// balancer's tree is internal/octavia/reconcile's (Converge, Remove), the
// same reconciler lbctl apply uses against a local lbd; so are the Change,
// the run's record and the error types, which this package's steps share.
//
// Up is convergent: every resource is found by name (or by the marker lbctl
// leaves on what it creates), compared with the file, and only what differs
// is changed. Planning and applying are one code path: a step computes its
// Changes from what exists, and the run either prints them (plan) or applies
// them in order.
//
// Only cmd/lbctl imports this package, so lbd's binary does not link
// gophercloud's compute and networking clients. It must not import the data
// plane or the control plane.
package cloud
