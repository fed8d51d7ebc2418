// Package accesslog writes lbd's connection and request logs, as the
// amphora's HAProxy writes Octavia's tenant flow logs: one line per HTTP
// request or TCP connection, with the client, the listener, pool and member
// (IDs and names), the status, the bytes each way, the timings (waiting for
// the request, connecting, the member's response, the total) and HAProxy's
// termination state.
//
// The data plane fills a Record (plain values: strings it already holds,
// fixed-size arrays, no pointers to its own state) and hands it to
// Logger.Log, which copies it into a bounded queue and returns: it never
// blocks, never allocates, and when the queue is full it drops the line and
// counts it. One goroutine per Logger takes records off the queue, formats
// them and writes them to the sinks (stderr as slog JSON lines, a file
// reopened on SIGUSR1, syslog RFC 5424 over UDP or a unix socket), so a
// slow or stalled sink costs dropped lines, never slower requests.
//
// Lines are formatted with HAProxy's log-format language; the default is
// Octavia's [haproxy_amphora] user_log_format, so a line reads as the
// amphora's does.
//
// It must not import any other lbd package: the data plane, which imports
// it, hands it plain values.
package accesslog
