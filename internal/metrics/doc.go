// Package metrics exposes lbd in Prometheus' text format: the octavia_*
// families Octavia's PROMETHEUS listener exports (same names, types, labels
// and label values, for everything lbd can fill honestly) and lbd's own
// lbd_* families. A custom collector reads the data plane's atomic counters
// when scraped, so the forwarding path pays nothing for metrics beyond the
// counters themselves.
//
// It must not import the control plane, the Octavia API
// (internal/controlplane, internal/octavia/api) or the cloud packages: it
// reads the running data plane (Source, which proxy.Runtime implements) and
// nothing else.
package metrics
