package metrics

import "github.com/prometheus/client_golang/prometheus"

// Octavia's families keep the names, label names and help texts of
// HAProxy's promex as Octavia rewrites them (haproxy_* → octavia_*;
// proxy → listener / pool "<pool_id>:<listener_id>"; server → member).
// docs/metrics.md lists the families lbd leaves out and why.

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, labels, nil)
}

var (
	lbCPU                = desc("octavia_loadbalancer_cpu", "Load balancer CPU utilization (percentage).")
	lbMemory             = desc("octavia_loadbalancer_memory", "Load balancer memory utilization (percentage).")
	lbCurrentConnections = desc("octavia_loadbalancer_current_connections", "Current number of active sessions.")
	lbConnectionsTotal   = desc("octavia_loadbalancer_connections_total", "Total number of created sessions.")
	lbRequestsTotal      = desc("octavia_loadbalancer_requests_total", "Total number of requests (TCP or HTTP).")
	lbListeners          = desc("octavia_loadbalancer_listeners", "Current number of active listeners.")

	listenerStatus            = desc("octavia_listener_status", "Current status of the service.", "listener", "state")
	listenerCurrentSessions   = desc("octavia_listener_current_sessions", "Current number of active sessions.", "listener")
	listenerMaxSessions       = desc("octavia_listener_max_sessions", "Maximum observed number of active sessions.", "listener")
	listenerLimitSessions     = desc("octavia_listener_limit_sessions", "Configured session limit.", "listener")
	listenerSessionsTotal     = desc("octavia_listener_sessions_total", "Total number of sessions.", "listener")
	listenerConnectionsTotal  = desc("octavia_listener_connections_total", "Total number of new connections.", "listener")
	listenerDeniedConnections = desc("octavia_listener_denied_connections_total", "Total number of requests denied by \"tcp-request connection\" rules.", "listener")
	listenerBytesIn           = desc("octavia_listener_bytes_in_total", "Current total of incoming bytes.", "listener")
	listenerBytesOut          = desc("octavia_listener_bytes_out_total", "Current total of outgoing bytes.", "listener")
	listenerRequestErrors     = desc("octavia_listener_request_errors_total", "Total number of request errors.", "listener")
	listenerHTTPRequests      = desc("octavia_listener_http_requests_total", "Total number of HTTP requests received.", "listener")
	listenerHTTPResponses     = desc("octavia_listener_http_responses_total", "Total number of HTTP responses.", "listener", "code")

	poolStatus           = desc("octavia_pool_status", "Current status of the service.", "pool", "state")
	poolActiveMembers    = desc("octavia_pool_active_members", "Current number of active servers.", "pool")
	poolBackupMembers    = desc("octavia_pool_backup_members", "Current number of backup servers.", "pool")
	poolCurrentSessions  = desc("octavia_pool_current_sessions", "Current number of active sessions.", "pool")
	poolSessionsTotal    = desc("octavia_pool_sessions_total", "Total number of sessions.", "pool")
	poolLoadbalanced     = desc("octavia_pool_loadbalanced_total", "Total number of times a service was selected, either for new sessions, or when re-dispatching.", "pool")
	poolConnAttempts     = desc("octavia_pool_connection_attempts_total", "Total number of connection establishment attempts.", "pool")
	poolConnReuses       = desc("octavia_pool_connection_reuses_total", "Total number of connection reuses.", "pool")
	poolBytesIn          = desc("octavia_pool_bytes_in_total", "Current total of incoming bytes.", "pool")
	poolBytesOut         = desc("octavia_pool_bytes_out_total", "Current total of outgoing bytes.", "pool")
	poolConnectionErrors = desc("octavia_pool_connection_errors_total", "Total number of connection errors.", "pool")
	poolResponseErrors   = desc("octavia_pool_response_errors_total", "Total number of response errors.", "pool")
	poolRetries          = desc("octavia_pool_retry_warnings_total", "Total number of retry warnings.", "pool")
	poolRedispatches     = desc("octavia_pool_redispatch_warnings_total", "Total number of redispatch warnings.", "pool")
	poolClientAborts     = desc("octavia_pool_client_aborts_total", "Total number of data transfers aborted by the client.", "pool")
	poolMemberAborts     = desc("octavia_pool_member_aborts_total", "Total number of data transfers aborted by the server.", "pool")
	poolHTTPRequests     = desc("octavia_pool_http_requests_total", "Total number of HTTP requests received.", "pool")
	poolHTTPResponses    = desc("octavia_pool_http_responses_total", "Total number of HTTP responses.", "pool", "code")

	memberStatus           = desc("octavia_member_status", "Current status of the member.", "pool", "member", "state")
	memberCurrentSessions  = desc("octavia_member_current_sessions", "Current number of active sessions.", "pool", "member")
	memberSessionsTotal    = desc("octavia_member_sessions_total", "Total number of sessions.", "pool", "member")
	memberLoadbalanced     = desc("octavia_member_loadbalanced_total", "Total number of times a service was selected, either for new sessions, or when re-dispatching.", "pool", "member")
	memberWeight           = desc("octavia_member_weight", "Service weight.", "pool", "member")
	memberBytesIn          = desc("octavia_member_bytes_in_total", "Current total of incoming bytes.", "pool", "member")
	memberBytesOut         = desc("octavia_member_bytes_out_total", "Current total of outgoing bytes.", "pool", "member")
	memberConnAttempts     = desc("octavia_member_connection_attempts_total", "Total number of connection establishment attempts.", "pool", "member")
	memberConnReuses       = desc("octavia_member_connection_reuses_total", "Total number of connection reuses.", "pool", "member")
	memberConnectionErrors = desc("octavia_member_connection_errors_total", "Total number of connection errors.", "pool", "member")
	memberResponseErrors   = desc("octavia_member_response_errors_total", "Total number of response errors.", "pool", "member")
	memberRetries          = desc("octavia_member_retry_warnings_total", "Total number of retry warnings.", "pool", "member")
	memberRedispatches     = desc("octavia_member_redispatch_warnings_total", "Total number of redispatch warnings.", "pool", "member")
	memberClientAborts     = desc("octavia_member_client_aborts_total", "Total number of data transfers aborted by the client.", "pool", "member")
	memberServerAborts     = desc("octavia_member_server_aborts_total", "Total number of data transfers aborted by the server.", "pool", "member")
	memberHTTPResponses    = desc("octavia_member_http_responses_total", "Total number of HTTP responses.", "pool", "member", "code")
	memberIdleCurrent      = desc("octavia_member_idle_connections_current", "Current number of idle connections available for reuse.", "pool", "member")
	memberIdleLimit        = desc("octavia_member_idle_connections_limit", "Limit on the number of available idle connections.", "pool", "member")
	memberCheckFailures    = desc("octavia_member_check_failures_total", "Total number of failed individual health checks.", "pool", "member")
	memberCheckUpDown      = desc("octavia_member_check_up_down_total", "Total number of failed checks causing UP to DOWN server transitions.", "pool", "member")
	memberCheckLastChange  = desc("octavia_member_check_last_change_seconds", "How long ago the last server state change happened.", "pool", "member")
	poolCheckUpDown        = desc("octavia_pool_check_up_down_total", "Total number of failed checks causing UP to DOWN server transitions.", "pool")

	lbdListenerRequestSeconds = desc("lbd_listener_request_duration_seconds", "Time from an HTTP request's head arriving to its response's last byte sent.", "listener")
	lbdListenerSessionSeconds = desc("lbd_listener_session_duration_seconds", "Lifetime of a TCP connection through the listener.", "listener")
	lbdMemberConnectSeconds   = desc("lbd_member_connect_duration_seconds", "Time to open a connection to the member.", "pool", "member")
	lbdMemberResponseSeconds  = desc("lbd_member_response_duration_seconds", "Time from a request sent to the member to its response head received.", "pool", "member")
	lbdMemberEjections        = desc("lbd_member_passive_ejections_total", "Times live traffic (passive health) took the member out of rotation.", "pool", "member")
	lbdHealthProbes           = desc("lbd_health_probes_total", "Active health probes by monitor type and result.", "type", "result")
	lbdHealthProbeSeconds     = desc("lbd_health_probe_duration_seconds", "Duration of active health probes by monitor type.", "type")
	lbdReloads                = desc("lbd_config_reloads_total", "Configuration changes applied (result=success) or refused (result=failure), from SIGHUP or the API.", "result")
	lbdConfigGeneration       = desc("lbd_config_generation", "Number of configurations applied since start; changes with every successful reload.")
	lbdConfigLastSuccess      = desc("lbd_config_last_reload_success_timestamp_seconds", "When the configuration being served was applied.")
	lbdBuildInfo              = desc("lbd_build_info", "lbd's version and the Go version that built it.", "version", "goversion")

	lbdEventLoops        = desc("lbd_event_loops", "Event loops serving keep-alive HTTP connections (0: a goroutine serves each connection).")
	lbdEventLoopAdopted  = desc("lbd_event_loop_connections_adopted_total", "HTTP client connections moved from a goroutine to an event loop.")
	lbdEventLoopRequests = desc("lbd_event_loop_requests_total", "HTTP requests an event loop served from head to response.")
	lbdEventLoopHandoffs = desc("lbd_event_loop_handoffs_total", "HTTP client connections an event loop handed back to a goroutine, by reason: request (a body, an upgrade, an error), member_connection (no idle connection to the picked member), response (chunked, long or failed), timeout.", "reason")
)
