// Package bench benchmarks lbd's balancing algorithms against each other.
//
// A Scenario (a YAML file, see configs/bench/README.md) describes a pool of
// demo backends with heterogeneous profiles, the load to drive and events
// to apply mid-run (drain a member, make one fail). Run starts the backends
// on loopback, puts an in-process proxy.Runtime in front of them with each
// algorithm in turn, drives HTTP load from many client source addresses in
// 127.0.0.0/8 with internal/loadgen (open loop at a rate, or closed loop)
// and returns a Report: throughput, latency percentiles from a log-linear
// histogram, errors, each member's share and peak in-flight count, Jain's
// fairness index, client stickiness and, for SOURCE_IP, how many clients
// move when a member leaves and returns.
//
// The data plane runs in-process, not as an lbd child process, because the
// report reads lbd's own per-member in-flight counts and health every
// millisecond: in-process that is two atomic loads per member; across a
// process boundary it is a Prometheus scrape (74 KB for four members, about
// 1 ms of lbd's CPU and 1.3 ms of wall time each), which cannot keep the
// pace and would load the two cores the benchmark measures. The price is
// that lbctl links the data plane: 1.2 MB of its 22 MB (the charts' gonum
// take 7.8 MB).
//
// It imports the data plane (proxy, balancer) and internal/loadgen. It must
// not import the control plane, the Octavia API or the cloud packages
// (internal/controlplane, internal/octavia/api, internal/octavia/reconcile,
// internal/octavia/cloud).
package bench
