// Package bench benchmarks lbd's balancing algorithms against each other.
//
// A Scenario (a YAML file, see configs/bench/README.md) describes a pool of
// demo backends with heterogeneous profiles, the load to drive and events
// to apply mid-run (drain a member, make one fail). Run starts the backends
// on loopback, runs the lbd daemon as a child process in front of them
// with each algorithm in turn (its config file rewritten and reloaded with
// SIGHUP for the events), drives HTTP load from many client source
// addresses in 127.0.0.0/8 with internal/loadgen (open loop at a rate, or
// closed loop) and returns a Report: throughput, latency percentiles from
// a log-linear histogram, errors, each member's share and peak in-flight
// count, Jain's fairness index, client stickiness and, for SOURCE_IP, how
// many clients move when a member leaves and returns.
//
// Per-member in-flight peaks and health come from lbd's admin server,
// GET /debug/members, every 20 ms: lbd keeps each member's highest
// in-flight count since the last read (every pick updates it), so the
// peaks are exact however rarely they are read, and health changes carry
// lbd's own timestamps. (lbd used to run in-process, sampled every
// millisecond, which made lbctl link the whole data plane.)
//
// It must not import the data plane (internal/proxy, internal/balancer,
// internal/health), the control plane, the Octavia API, the metrics
// exposition or the cloud packages: it meets lbd as a user does.
package bench
