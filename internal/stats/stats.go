// Package stats holds the data plane's traffic counters: plain atomics that
// the forwarding paths bump and that the API and metrics read when asked.
// Nothing here locks, allocates or looks anything up per request.
//
// It must not import any other lbd package: every part of lbd reads it.
package stats

import "sync/atomic"

// Traffic counts what passes through a listener or reaches a member.
// It must not be copied.
type Traffic struct {
	Active        atomic.Int64  // connections open now
	Connections   atomic.Uint64 // connections accepted (listener) or opened (member)
	BytesIn       atomic.Uint64 // from clients towards members
	BytesOut      atomic.Uint64 // from members towards clients
	Requests      atomic.Uint64 // HTTP requests
	RequestErrors atomic.Uint64 // requests refused or failed (Octavia's request_errors)
	Responses     [6]atomic.Uint64
	ConnectErrors atomic.Uint64 // member connects that failed
	Reuses        atomic.Uint64 // requests sent over a kept-alive member connection
	Peak          atomic.Int64  // most connections open at once
	Retries       atomic.Uint64 // connect retries on the same member
	Redispatches  atomic.Uint64 // connect retries moved to another member
	Denied        atomic.Uint64 // connections refused by allowed_cidrs
	ClientAborts  atomic.Uint64 // exchanges cut because the client went away
	MemberAborts  atomic.Uint64 // exchanges cut because the member failed

	// Latency histograms. On a listener: RequestTime is an HTTP request
	// from its head arriving to its response's last byte; SessionTime a TCP
	// connection's life. On a member: ConnectTime is opening a connection,
	// ResponseTime from the request sent to the response head received.
	RequestTime  Histogram
	SessionTime  Histogram
	ConnectTime  Histogram
	ResponseTime Histogram
}

// CountResponse counts a response by status class: 1xx..5xx, anything else
// in the last slot.
func (t *Traffic) CountResponse(status int) {
	class := status / 100
	if class < 1 || class > 5 {
		class = 0
	}
	t.Responses[class].Add(1)
}

// ResponseClasses are the labels of Traffic.Responses, index by index.
var ResponseClasses = [6]string{"other", "1xx", "2xx", "3xx", "4xx", "5xx"}

// NoteActive records n open connections as a peak if it is one.
func (t *Traffic) NoteActive(n int64) {
	for p := t.Peak.Load(); n > p && !t.Peak.CompareAndSwap(p, n); p = t.Peak.Load() {
	}
}
