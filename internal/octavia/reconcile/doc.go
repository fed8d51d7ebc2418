// Package reconcile is lbctl's one client of Octavia's load-balancer API
// (gophercloud's openstack/loadbalancer/v2), whoever serves it: a real
// Octavia behind a Keystone catalog or a local lbd given by URL. It owns
//
//   - the reconciler: reading a load balancer's tree (listeners, pools,
//     members, health monitors), comparing it with a file's
//     (internal/octavia's normalized model), and the ordered Changes that
//     converge one to the other (Converge), or tear the tree down (Remove);
//   - the rules both need: what identifies an object (a listener its
//     transport and port, a pool its name, a member its address and port, a
//     monitor its pool), the create options built from the file, the diff of
//     what an update can change;
//   - waiting: every change is followed by a wait for the load balancer to
//     be ACTIVE again (Octavia refuses the next one before), a busy load
//     balancer (409, PENDING_*) is waited out and the call retried, and a
//     child left in ERROR is told apart from a change that worked;
//   - a run's record (Run, Change, IncompleteError): a plan prints the
//     changes, an apply makes them in order, and a failure names what was
//     already done;
//   - errors told for people (Error, WaitError) and the lookups, listings and
//     status tree of lbctl's get, status, member and delete commands.
//
// lbctl apply converges a local lbd (Options without Replace, Prune on
// request); lbctl up converges a cloud (Replace and Prune) through
// internal/octavia/cloud, which adds Nova, Neutron and Keystone around it.
//
// It imports internal/octavia (the model) and gophercloud's load-balancer
// packages; it must not import the data plane (internal/proxy, balancer,
// health), the control plane, or gophercloud's compute and network clients.
package reconcile
