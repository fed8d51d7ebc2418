package metrics

// Octavia's families keep the names, label names and help texts of
// HAProxy's promex as Octavia rewrites them (haproxy_* → octavia_*;
// proxy → listener / pool "<pool_id>:<listener_id>"; server → member).
// docs/metrics.md lists the families lbd leaves out and why.

// lbdFamilies are the families lbd writes itself (exposition.go), in the
// order they are declared here.
var lbdFamilies = &catalog{}

var (
	lbCPU                = lbdFamilies.gauge("octavia_loadbalancer_cpu", "Load balancer CPU utilization (percentage).")
	lbMemory             = lbdFamilies.gauge("octavia_loadbalancer_memory", "Load balancer memory utilization (percentage).")
	lbCurrentConnections = lbdFamilies.gauge("octavia_loadbalancer_current_connections", "Current number of active sessions.")
	lbConnectionsTotal   = lbdFamilies.counter("octavia_loadbalancer_connections_total", "Total number of created sessions.")
	lbRequestsTotal      = lbdFamilies.counter("octavia_loadbalancer_requests_total", "Total number of requests (TCP or HTTP).")
	lbListeners          = lbdFamilies.gauge("octavia_loadbalancer_listeners", "Current number of active listeners.")

	listenerStatus            = lbdFamilies.gauge("octavia_listener_status", "Current status of the service.", "listener", "state")
	listenerCurrentSessions   = lbdFamilies.gauge("octavia_listener_current_sessions", "Current number of active sessions.", "listener")
	listenerMaxSessions       = lbdFamilies.gauge("octavia_listener_max_sessions", "Maximum observed number of active sessions.", "listener")
	listenerLimitSessions     = lbdFamilies.gauge("octavia_listener_limit_sessions", "Configured session limit.", "listener")
	listenerSessionsTotal     = lbdFamilies.counter("octavia_listener_sessions_total", "Total number of sessions.", "listener")
	listenerConnectionsTotal  = lbdFamilies.counter("octavia_listener_connections_total", "Total number of new connections.", "listener")
	listenerDeniedConnections = lbdFamilies.counter("octavia_listener_denied_connections_total", "Total number of requests denied by \"tcp-request connection\" rules.", "listener")
	listenerBytesIn           = lbdFamilies.counter("octavia_listener_bytes_in_total", "Current total of incoming bytes.", "listener")
	listenerBytesOut          = lbdFamilies.counter("octavia_listener_bytes_out_total", "Current total of outgoing bytes.", "listener")
	listenerRequestErrors     = lbdFamilies.counter("octavia_listener_request_errors_total", "Total number of request errors.", "listener")
	listenerHTTPRequests      = lbdFamilies.counter("octavia_listener_http_requests_total", "Total number of HTTP requests received.", "listener")
	listenerHTTPResponses     = lbdFamilies.counter("octavia_listener_http_responses_total", "Total number of HTTP responses.", "listener", "code")

	poolStatus           = lbdFamilies.gauge("octavia_pool_status", "Current status of the service.", "pool", "state")
	poolActiveMembers    = lbdFamilies.gauge("octavia_pool_active_members", "Current number of active servers.", "pool")
	poolBackupMembers    = lbdFamilies.gauge("octavia_pool_backup_members", "Current number of backup servers.", "pool")
	poolCurrentSessions  = lbdFamilies.gauge("octavia_pool_current_sessions", "Current number of active sessions.", "pool")
	poolSessionsTotal    = lbdFamilies.counter("octavia_pool_sessions_total", "Total number of sessions.", "pool")
	poolLoadbalanced     = lbdFamilies.counter("octavia_pool_loadbalanced_total", "Total number of times a service was selected, either for new sessions, or when re-dispatching.", "pool")
	poolConnAttempts     = lbdFamilies.counter("octavia_pool_connection_attempts_total", "Total number of connection establishment attempts.", "pool")
	poolConnReuses       = lbdFamilies.counter("octavia_pool_connection_reuses_total", "Total number of connection reuses.", "pool")
	poolBytesIn          = lbdFamilies.counter("octavia_pool_bytes_in_total", "Current total of incoming bytes.", "pool")
	poolBytesOut         = lbdFamilies.counter("octavia_pool_bytes_out_total", "Current total of outgoing bytes.", "pool")
	poolConnectionErrors = lbdFamilies.counter("octavia_pool_connection_errors_total", "Total number of connection errors.", "pool")
	poolResponseErrors   = lbdFamilies.counter("octavia_pool_response_errors_total", "Total number of response errors.", "pool")
	poolRetries          = lbdFamilies.counter("octavia_pool_retry_warnings_total", "Total number of retry warnings.", "pool")
	poolRedispatches     = lbdFamilies.counter("octavia_pool_redispatch_warnings_total", "Total number of redispatch warnings.", "pool")
	poolClientAborts     = lbdFamilies.counter("octavia_pool_client_aborts_total", "Total number of data transfers aborted by the client.", "pool")
	poolMemberAborts     = lbdFamilies.counter("octavia_pool_member_aborts_total", "Total number of data transfers aborted by the server.", "pool")
	poolHTTPRequests     = lbdFamilies.counter("octavia_pool_http_requests_total", "Total number of HTTP requests received.", "pool")
	poolHTTPResponses    = lbdFamilies.counter("octavia_pool_http_responses_total", "Total number of HTTP responses.", "pool", "code")

	memberStatus           = lbdFamilies.gauge("octavia_member_status", "Current status of the member.", "pool", "member", "state")
	memberCurrentSessions  = lbdFamilies.gauge("octavia_member_current_sessions", "Current number of active sessions.", "pool", "member")
	memberSessionsTotal    = lbdFamilies.counter("octavia_member_sessions_total", "Total number of sessions.", "pool", "member")
	memberLoadbalanced     = lbdFamilies.counter("octavia_member_loadbalanced_total", "Total number of times a service was selected, either for new sessions, or when re-dispatching.", "pool", "member")
	memberWeight           = lbdFamilies.gauge("octavia_member_weight", "Service weight.", "pool", "member")
	memberBytesIn          = lbdFamilies.counter("octavia_member_bytes_in_total", "Current total of incoming bytes.", "pool", "member")
	memberBytesOut         = lbdFamilies.counter("octavia_member_bytes_out_total", "Current total of outgoing bytes.", "pool", "member")
	memberConnAttempts     = lbdFamilies.counter("octavia_member_connection_attempts_total", "Total number of connection establishment attempts.", "pool", "member")
	memberConnReuses       = lbdFamilies.counter("octavia_member_connection_reuses_total", "Total number of connection reuses.", "pool", "member")
	memberConnectionErrors = lbdFamilies.counter("octavia_member_connection_errors_total", "Total number of connection errors.", "pool", "member")
	memberResponseErrors   = lbdFamilies.counter("octavia_member_response_errors_total", "Total number of response errors.", "pool", "member")
	memberRetries          = lbdFamilies.counter("octavia_member_retry_warnings_total", "Total number of retry warnings.", "pool", "member")
	memberRedispatches     = lbdFamilies.counter("octavia_member_redispatch_warnings_total", "Total number of redispatch warnings.", "pool", "member")
	memberClientAborts     = lbdFamilies.counter("octavia_member_client_aborts_total", "Total number of data transfers aborted by the client.", "pool", "member")
	memberServerAborts     = lbdFamilies.counter("octavia_member_server_aborts_total", "Total number of data transfers aborted by the server.", "pool", "member")
	memberHTTPResponses    = lbdFamilies.counter("octavia_member_http_responses_total", "Total number of HTTP responses.", "pool", "member", "code")
	memberIdleCurrent      = lbdFamilies.gauge("octavia_member_idle_connections_current", "Current number of idle connections available for reuse.", "pool", "member")
	memberIdleLimit        = lbdFamilies.gauge("octavia_member_idle_connections_limit", "Limit on the number of available idle connections.", "pool", "member")
	memberCheckFailures    = lbdFamilies.counter("octavia_member_check_failures_total", "Total number of failed individual health checks.", "pool", "member")
	memberCheckUpDown      = lbdFamilies.counter("octavia_member_check_up_down_total", "Total number of failed checks causing UP to DOWN server transitions.", "pool", "member")
	memberCheckLastChange  = lbdFamilies.gauge("octavia_member_check_last_change_seconds", "How long ago the last server state change happened.", "pool", "member").changing()
	poolCheckUpDown        = lbdFamilies.counter("octavia_pool_check_up_down_total", "Total number of failed checks causing UP to DOWN server transitions.", "pool")

	lbdListenerRequestSeconds = lbdFamilies.histogram("lbd_listener_request_duration_seconds", "Time from an HTTP request's head arriving to its response's last byte sent.", "listener")
	lbdListenerSessionSeconds = lbdFamilies.histogram("lbd_listener_session_duration_seconds", "Lifetime of a TCP connection through the listener.", "listener")
	lbdPoolConnectSeconds     = lbdFamilies.histogram("lbd_pool_connect_duration_seconds", "Time to open a connection to a member of the pool.", "pool")
	lbdPoolResponseSeconds    = lbdFamilies.histogram("lbd_pool_response_duration_seconds", "Time from a request sent to a member of the pool to its response head received.", "pool")
	lbdMemberConnectSeconds   = lbdFamilies.histogram("lbd_member_connect_duration_seconds", "Time to open a connection to the member.", "pool", "member")
	lbdMemberResponseSeconds  = lbdFamilies.histogram("lbd_member_response_duration_seconds", "Time from a request sent to the member to its response head received.", "pool", "member")
	lbdMemberEjections        = lbdFamilies.counter("lbd_member_passive_ejections_total", "Times live traffic (passive health) took the member out of rotation.", "pool", "member")
	lbdHealthProbes           = lbdFamilies.counter("lbd_health_probes_total", "Active health probes by monitor type and result.", "type", "result")
	lbdHealthProbeSeconds     = lbdFamilies.histogram("lbd_health_probe_duration_seconds", "Duration of active health probes by monitor type.", "type")
	lbdReloads                = lbdFamilies.counter("lbd_config_reloads_total", "Configuration changes applied (result=success) or refused (result=failure), from SIGHUP or the API.", "result")
	lbdConfigGeneration       = lbdFamilies.gauge("lbd_config_generation", "Number of configurations applied since start; changes with every successful reload.")
	lbdConfigLastSuccess      = lbdFamilies.gauge("lbd_config_last_reload_success_timestamp_seconds", "When the configuration being served was applied.")
	lbdBuildInfo              = lbdFamilies.gauge("lbd_build_info", "lbd's version, the commit it was built from and the Go version that built it.", "version", "revision", "goversion")

	// Info families name the objects Octavia's families label by ID: join
	// on the ID label to show names, e.g.
	//   octavia_member_status * on (pool, member) group_left (name) lbd_member_info
	lbdLoadBalancerInfo = lbdFamilies.gauge("lbd_loadbalancer_info", "A load balancer's name (its ID when it has none), VIP address and provider; always 1.", "loadbalancer", "name", "vip_address", "provider")
	lbdListenerInfo     = lbdFamilies.gauge("lbd_listener_info", "A listener's name (its ID when it has none), load balancer, protocol and port; always 1.", "listener", "name", "loadbalancer", "protocol", "port")
	lbdPoolInfo         = lbdFamilies.gauge("lbd_pool_info", "A pool's name (its ID when it has none), algorithm and protocol, labelled pool as Octavia's pool families are (<pool_id>:<listener_id>); always 1.", "pool", "name", "loadbalancer", "algorithm", "protocol")
	lbdMemberInfo       = lbdFamilies.gauge("lbd_member_info", "A member's name (its ID when it has none), address and port, labelled pool and member as Octavia's member families are; always 1.", "member", "name", "pool", "address", "port")

	lbdAccessLogLines = lbdFamilies.counter("lbd_access_log_lines_total", "Access log lines written to every sink (result=written), dropped because the queue was full, a sink too slow or stalled (dropped), or that a sink failed to write (failed).", "result")

	lbdTLSHandshakes   = lbdFamilies.counter("lbd_tls_handshakes_total", "TLS handshakes completed on a TERMINATED_HTTPS listener, by protocol version.", "listener", "version")
	lbdTLSResumed      = lbdFamilies.counter("lbd_tls_resumed_handshakes_total", "TLS handshakes that resumed a session (ticket) instead of a full handshake.", "listener")
	lbdTLSALPN         = lbdFamilies.counter("lbd_tls_alpn_negotiated_total", "TLS handshakes by the application protocol negotiated (none: no ALPN).", "listener", "protocol")
	lbdTLSFailures     = lbdFamilies.counter("lbd_tls_handshake_failures_total", "TLS handshakes that failed, by reason: timeout, client_closed, client_alert (the client refused lbd, often its certificate), not_tls, protocol_version, no_shared_cipher, no_application_protocol, no_client_certificate, bad_client_certificate, revoked_client_certificate, other.", "listener", "reason")
	lbdTLSCertNotAfter = lbdFamilies.gauge("lbd_tls_certificate_not_after_seconds", "When a certificate a TERMINATED_HTTPS listener serves expires (Unix time); alert a month ahead.", "listener", "ref", "cn")
	lbdHTTP2Errors     = lbdFamilies.counter("lbd_http2_errors_total", "HTTP/2 protocol errors and defences by net/http's name for them (too_many_early_resets, conn_close_lost_ping, ...).", "type")

	lbdEventLoops        = lbdFamilies.gauge("lbd_event_loops", "Event loops serving keep-alive HTTP connections (0: a goroutine serves each connection).")
	lbdEventLoopAdopted  = lbdFamilies.counter("lbd_event_loop_connections_adopted_total", "HTTP client connections moved from a goroutine to an event loop.")
	lbdEventLoopRequests = lbdFamilies.counter("lbd_event_loop_requests_total", "HTTP requests an event loop served from head to response.")
	lbdEventLoopHandoffs = lbdFamilies.counter("lbd_event_loop_handoffs_total", "HTTP client connections an event loop handed back to a goroutine, by reason: request (a body, an upgrade, an error), member_connection (no idle connection to the picked member), response (chunked, long or failed), timeout.", "reason")
)
