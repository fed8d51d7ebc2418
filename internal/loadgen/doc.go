// Package loadgen is the HTTP/1.1 load that lbd's tests and lbctl bench put
// through it: keep-alive connections from chosen loopback source addresses,
// one prebuilt GET, a response reader that allocates nothing, and no
// retries (net/http's Transport retries some failures by itself, which
// would hide them), so every failure lbd lets through is seen.
//
// Two behaviours, named by how the next request is sent:
//
//   - Closed: a fixed number of workers, each sending its next request as
//     soon as the previous one is answered. The chaos tests and the soak use
//     it through Run and Start (every failure kept with its detail, in a
//     Result); lbctl bench uses it for --concurrency.
//   - Open: requests fall due at a fixed rate whatever happened to the
//     previous ones, and latency counts from when each was due, so a server
//     that stalls shows its stall instead of slowing the client down
//     (coordinated omission). lbctl bench uses it for --rate.
//
// Every request's outcome goes to an Observer; Result is the tests', and
// lbctl bench's recorder turns them into histograms.
//
// It imports only the standard library; it must not import the data plane
// it loads (internal/proxy, internal/balancer, internal/health) nor the
// Octavia model.
package loadgen
