// Package client drives a local lbd (or any endpoint serving Octavia's v2
// API, given directly rather than through a Keystone catalog) with
// gophercloud's openstack/loadbalancer/v2 packages: the same client code
// that talks to a real Octavia. It backs lbctl's apply, get, status, delete
// and member commands.
//
// Every change waits until the load balancer is ACTIVE again before the
// next, as Octavia requires; lbd gets there as soon as the change is live.
//
// It must not import the data plane (internal/proxy, internal/balancer,
// internal/health), the control plane or the metrics: it is a client of an
// Octavia API, wherever that runs.
package client
