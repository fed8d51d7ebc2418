// Package bench benchmarks lbd's balancing algorithms against each other.
//
// A Scenario (a YAML file, see configs/bench/README.md) describes a pool of
// demo backends with heterogeneous profiles, the load to drive and events
// to apply mid-run (drain a member, make one fail). Run starts the backends
// on loopback, puts an in-process proxy.Runtime in front of them with each
// algorithm in turn, drives HTTP load from many client source addresses in
// 127.0.0.0/8 and returns a Report: throughput, latency percentiles from a
// log-linear histogram, errors, each member's share and peak in-flight
// count, Jain's fairness index, client stickiness and, for SOURCE_IP, how
// many clients move when a member leaves and returns.
//
// The load generator is open-loop by default: requests are due at a fixed
// rate and latency is measured from the time a request was due, not from
// when it could be sent, so a stalled server shows up in the tail instead
// of silently slowing the generator down (coordinated omission).
//
// It must not import the control plane, the Octavia API or the cloud
// packages (internal/controlplane, internal/octavia/api,
// internal/octavia/client, internal/octavia/openstack): it runs the data
// plane in-process.
package bench
