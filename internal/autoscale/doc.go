// Package autoscale is the controller behind `lbctl autoscale`: it keeps the
// number of a load balancer's web servers matched to their load, the way
// Kubernetes' horizontal pod autoscaler keeps a deployment's replicas, with
// OpenStack's parts doing the work.
//
// It owns
//
//   - the decision (Decide, pure): each metric's proposal from its ratio to
//     its target with a tolerance band, the largest proposal (the fastest
//     out, the slowest in), the stabilization windows, cooldowns, the
//     largest step and the bounds, and holding on missing data;
//   - the plan (Plan, pure): from the group's servers and members as the
//     cloud has them, what to do now: add members to booted servers at
//     weight 0 (warming) and give them their weight once a health check
//     has passed, drain (weight 0) and remove servers on the way in,
//     replace servers whose member stayed in ERROR, drop members whose
//     server is gone;
//   - the loop (Controller) that observes, decides, plans and acts under a
//     lock (Locker) so that two controllers never both act on one group;
//   - reading the load from Prometheus (PromSource, through client_golang's
//     api package), the members through an Octavia API (OctaviaPool, with
//     internal/octavia/reconcile), its own /metrics (Stats) and the record
//     of a run (Recorder).
//
// The controller keeps no state the cloud does not hold: servers carry the
// group's name (Nova metadata, or the local provider's process arguments),
// members a tag; a warm-up is a member's weight 0 with WarmingTag, a drain
// weight 0 without it, so a controller that restarts continues where the
// last one stopped. What it keeps in memory
// (the stabilization window's proposals, when a member was first seen in
// ERROR) only delays a decision after a restart, never repeats one.
//
// The servers come from a Provider: Nova (internal/octavia/cloud) or
// `lbctl backend` processes on loopback (internal/autoscale/local).
//
// It must not import the data plane (internal/proxy, balancer, health), the
// control plane, lbd's metrics, nor gophercloud's compute and network
// clients or internal/octavia/cloud: providers bring those.
package autoscale
