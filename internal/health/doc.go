// Package health decides whether pool members may take traffic: active
// checks that probe each member on a schedule, with the semantics of
// Octavia's amphora (HAProxy), and passive checks fed by live traffic.
//
// It owns the checkers, the probe schedule, the rise/fall and passive
// ejection state of each member, and a member's health Status. It takes
// plain values (Config, Target, its own Type and Codes) and must not import
// internal/octavia, internal/balancer or internal/proxy: translating an
// Octavia health monitor into a Config is the data plane's
// (internal/proxy), checking its ranges is the model's (internal/octavia),
// and verdicts leave through Options.Report. Within lbd it imports only
// internal/stats.
//
// # Checkers
//
// A Checker runs one probe: TCPChecker (TCP), HTTPChecker (HTTP and HTTPS),
// TLSHelloChecker (TLS-HELLO), UDPChecker (UDP-CONNECT) and PingChecker
// (PING). Every probe makes a fresh connection and closes it; no connection
// is reused. The one exception to "fresh sockets" is the prober's own TCP
// and plain HTTP checks, which keep unconnected sockets from check to
// check (see tcpSockets): each check is still a new connection from a new
// port, reset when the check ends. Where lbd may open a raw socket
// (CAP_NET_RAW), the prober's TCP checks of IPv4 members make no
// connection at all: a SYN on the prober's raw socket, and the member's
// SYN-ACK (passed) or reset (refused), which is what connect decides on;
// the kernel resets the half-open connection (synner).
//
// # Schedule and timeouts
//
// One goroutine per Monitor, the prober, runs every member's probes from a
// heap of their next slots (prober.go): no goroutine, timer or context per
// member or per TCP, plain HTTP or PING probe. A member's first probe starts at a random offset
// in [0, delay) and the following ones every delay after that, so ten
// thousand members with one delay spread evenly over the interval. A
// probe starts at the first point at or after its slot of a 20 ms grid
// that every prober shares, so that the probes due within 20 ms start
// together in one wake-up (up to 20 ms late; the slots keep their phase,
// and a probe's timeouts count from its own start). A probe
// that takes longer than delay is never overlapped: the slots it covered are
// skipped, as HAProxy does. As in HAProxy with "timeout check", the connect
// is bounded by min(timeout_member_connect, delay) and what follows it (TLS
// handshake, HTTP exchange, ICMP or UDP wait) by timeout. A timeout of 0
// means delay bounds the whole probe, as HAProxy does without "timeout
// check". A delay of 0, which Octavia accepts and HAProxy refuses, probes
// every ZeroDelayInterval (1s); nothing ever busy-loops.
//
// # Rise and fall
//
// A member that is up goes down after max_retries_down (Fall) consecutive
// failed probes; a member that is down comes back after max_retries (Rise)
// consecutive passing probes. Report is called on those transitions only,
// with the reason (the failing probe's error, "2 consecutive checks
// passed", a passive ejection), and each one is logged once at Info with
// member_id, the member's name (member), pool_id, addr, from, to and
// reason.
//
// # Initial state
//
// A new member is up: it takes traffic at once, which is HAProxy's default
// (init-state "up") and agrees with balancer.NewState, so no Report call is
// needed for it. Until its first probe passes, HAProxy's rule for that state
// applies: a single failed probe takes it down, so a member that was
// misconfigured or never started leaves within one interval instead of
// max_retries_down of them. Once a probe has passed, the full
// max_retries_down applies. The same "new member" state is entered when a
// member's checks (re)start: the monitor is created, enabled or added to the
// pool, the member is re-enabled, or its monitor_address/monitor_port
// changes. Until the first probe its operating_status is ONLINE (HAProxy
// reports such a server "UP", which Octavia maps to ONLINE);
// MemberState.Checked tells whether any probe has completed yet. Octavia's
// database shows OFFLINE until the first heartbeat instead, but lbd has no
// heartbeat delay, and OFFLINE means "admin down" everywhere else.
//
// # Reconfiguration
//
// Monitor.Update reconfigures in place, matching members by ID. A member
// that stays keeps its streaks, verdict and probe phase, so a reload neither
// resets health nor causes a burst of probes. New members start as above;
// removed members stop.
//
// # No monitor, disabled monitor, disabled member, weight 0
//
// Without a monitor, or with one whose admin_state_up is false, nothing is
// probed and every member is up and reports NO_MONITOR: Octavia's template
// renders a disabled monitor exactly like a missing one (no "check" on the
// servers), so HAProxy reports "no check" and keeps them in rotation.
// Disabling a monitor therefore brings its down members back up. A disabled
// member (admin_state_up false) is not probed (HAProxy does not check a
// server in MAINT) and reports OFFLINE. A member with weight 0 is probed and
// reports DRAINING while up. These are health's Status values; rolling
// them up to pools, listeners and load balancers is the API model's job
// (octavia.PoolStatus and the rest).
//
// # Passive health
//
// Beyond Octavia, the data plane reports failures of live traffic to the
// member's Observer: by default 3 consecutive connect failures eject the
// member for 10s, doubling on each ejection that follows within 5m of the
// last readmission, up to 5m; 5xx responses count only when enabled; at most
// half of a pool's members are ejected at once. While ejected the member is
// down (operating_status ERROR). Without active checks it is readmitted
// when the ejection ends; with active checks, max_retries consecutive
// passing probes counted from the ejection readmit it, whether or not the
// back-off is over (the checks are the authority, as in Octavia). See
// Passive for why passive health is on by default and 5xx counting is off.
package health
