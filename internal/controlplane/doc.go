// Package controlplane owns lbd's desired state: the load balancers of the
// config file plus every change accepted through the Octavia REST API. It
// validates each change, drives the data plane (octavia.DataPlane.Apply with
// the whole desired state), tracks Octavia's provisioning_status (PENDING_*
// while a change is being applied, ACTIVE once it is live, 409 for a change
// to a load balancer that is not ACTIVE), and persists the state durably
// in a statestore.Store (the embedded one under a state directory, or a
// shared one): a 2xx answer means the change is stored. A change stores
// its load balancer only (persist.go), so its cost does not grow with the
// number of load balancers.
//
// With a shared store (etcd: several lbd instances on one state), the
// store decides first and every instance applies what it holds: a change
// is committed, then applied; the instances follow the store (Follow,
// follow.go) and apply what the others commit as a reload would. A change
// that loses the store's transaction is Octavia's 409, a store that cannot
// be reached a 503.
//
// Which wins when the config file and the stored state disagree is decided
// per load balancer, and the rule is "the latest change wins": a load
// balancer from the file follows the file until the API changes it (or
// anything under it); from then on the stored copy wins, until the file's
// entry for that load balancer is edited, which makes the file win again.
// Load balancers created through the API live only in the stored state.
// See merge.go.
//
// It must not import the data plane (internal/proxy, internal/balancer,
// internal/health), the metrics or the cloud packages: it drives the data
// plane through octavia.DataPlane, which proxy.Runtime implements. Nor
// etcd's client or internal/ha: shared stores come through statestore's
// interfaces, the other instances through Options.Instances.
package controlplane
