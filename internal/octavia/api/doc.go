// Package api serves Octavia's v2 REST API over HTTP: routing (both
// /v2/lbaas and /v2.0/lbaas, /v2/octavia/amphorae, and version discovery at
// /) of load balancers and their children, the catalog (flavors,
// availability zones, their profiles, providers and their capabilities),
// amphorae, and the refusal of L7 policies while lbd has none; request decoding
// as strict as Octavia's WSME types, response envelopes and field sets as
// Octavia 11 renders them, list filters, sorting and limit/marker paging
// with *_links, the fault body {"faultcode","faultstring","debuginfo"}, and
// Octavia's default policy (who may read and write what).
//
// The package holds no state. A Service (the control plane) owns the
// objects; the handler turns HTTP into Service calls and Service answers
// into HTTP. Authentication is the auth package's middleware, which puts an
// auth.Caller in the request context.
//
// It must not import any lbd package but internal/octavia (the model its
// bodies carry), internal/octavia/auth and internal/buildinfo (which build
// the version document names): not the control plane, which implements
// Service, nor the data plane.
package api
