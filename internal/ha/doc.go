// Package ha runs an lbd instance among others that share one desired
// state in etcd (lbd --state etcd://...), and moves the VIPs of
// ACTIVE_STANDBY load balancers between them with keepalived.
//
// A Node connects to etcd (package etcdstore) and gives the control plane
// the shared store; the control plane follows it (controlplane.Follow).
// The node wraps the data plane (DataPlane): each Apply also renders and
// applies keepalived's configuration (package keepalived) for the
// ACTIVE_STANDBY VIPs, with the registered instances as unicast peers
// (PREFIX/members/) and a password shared through etcd; and the operating
// status the API shows is the worst of this instance's and the other live
// instances' reports. Every instance probes the members itself and
// publishes what is not ONLINE, with its VRRP role and the revision it
// serves, under PREFIX/instances/<name> on a lease (heartbeats): an
// instance silent for longer than the heartbeat timeout drops out.
//
// Flags are lbd's flags for all of this; VRRPCheck is keepalived's check
// script (lbd vrrp-check), answered by ServeVRRPCheck on the admin server.
//
// ha must not import the control plane, the API, the metrics or the data
// plane's packages: it wraps the runtime through octavia.DataPlane and
// Runtime.
package ha
