package octavia

// Protocol is a listener or pool protocol, spelled as Octavia spells it.
type Protocol string

// Listener and pool protocols (octavia-lib constants).
const (
	ProtocolHTTP            Protocol = "HTTP"
	ProtocolHTTPS           Protocol = "HTTPS"
	ProtocolTCP             Protocol = "TCP"
	ProtocolTerminatedHTTPS Protocol = "TERMINATED_HTTPS"
	ProtocolUDP             Protocol = "UDP"
	ProtocolSCTP            Protocol = "SCTP"
	ProtocolPrometheus      Protocol = "PROMETHEUS"
	ProtocolProxy           Protocol = "PROXY"
	ProtocolProxyV2         Protocol = "PROXYV2"
)

// ListenerProtocols are the values Octavia accepts for a listener's protocol.
var ListenerProtocols = []Protocol{ProtocolHTTP, ProtocolHTTPS, ProtocolTCP, ProtocolTerminatedHTTPS, ProtocolUDP, ProtocolSCTP, ProtocolPrometheus}

// PoolProtocols are the values Octavia accepts for a pool's protocol.
var PoolProtocols = []Protocol{ProtocolTCP, ProtocolHTTP, ProtocolHTTPS, ProtocolProxy, ProtocolProxyV2, ProtocolUDP, ProtocolSCTP}

// ListenerPoolProtocols is Octavia's VALID_LISTENER_POOL_PROTOCOL_MAP: the pool
// protocols a listener of each protocol may use.
var ListenerPoolProtocols = map[Protocol][]Protocol{
	ProtocolTCP:             {ProtocolHTTP, ProtocolHTTPS, ProtocolProxy, ProtocolProxyV2, ProtocolTCP},
	ProtocolHTTP:            {ProtocolHTTP, ProtocolProxy, ProtocolProxyV2},
	ProtocolHTTPS:           {ProtocolHTTPS, ProtocolProxy, ProtocolProxyV2, ProtocolTCP},
	ProtocolTerminatedHTTPS: {ProtocolHTTP, ProtocolProxy, ProtocolProxyV2},
	ProtocolUDP:             {ProtocolUDP},
	ProtocolSCTP:            {ProtocolSCTP},
	ProtocolPrometheus:      {},
}

// Transport is the socket family a protocol listens on; two listeners of one
// load balancer conflict when they share a port on the same transport.
func (p Protocol) Transport() string {
	switch p {
	case ProtocolUDP:
		return "udp"
	case ProtocolSCTP:
		return "sctp"
	default:
		return "tcp"
	}
}

// Algorithm is a pool's lb_algorithm.
type Algorithm string

// Load-balancing algorithms.
const (
	AlgorithmRoundRobin       Algorithm = "ROUND_ROBIN"
	AlgorithmLeastConnections Algorithm = "LEAST_CONNECTIONS"
	AlgorithmSourceIP         Algorithm = "SOURCE_IP"
	AlgorithmSourceIPPort     Algorithm = "SOURCE_IP_PORT"
)

// Algorithms are the values Octavia accepts for lb_algorithm.
var Algorithms = []Algorithm{AlgorithmRoundRobin, AlgorithmLeastConnections, AlgorithmSourceIP, AlgorithmSourceIPPort}

// MonitorType is a health monitor's type.
type MonitorType string

// Health monitor types.
const (
	MonitorHTTP       MonitorType = "HTTP"
	MonitorHTTPS      MonitorType = "HTTPS"
	MonitorPING       MonitorType = "PING"
	MonitorTCP        MonitorType = "TCP"
	MonitorTLSHello   MonitorType = "TLS-HELLO"
	MonitorUDPConnect MonitorType = "UDP-CONNECT"
	MonitorSCTP       MonitorType = "SCTP"
)

// MonitorTypes are the values Octavia accepts for a health monitor's type.
var MonitorTypes = []MonitorType{MonitorHTTP, MonitorHTTPS, MonitorPING, MonitorTCP, MonitorTLSHello, MonitorUDPConnect, MonitorSCTP}

// IsHTTP reports whether the type sends an HTTP request (and so takes
// http_method, url_path, expected_codes, http_version and domain_name).
func (t MonitorType) IsHTTP() bool { return t == MonitorHTTP || t == MonitorHTTPS }

// PersistenceType is a pool's session_persistence type.
type PersistenceType string

// Session persistence types.
const (
	PersistenceSourceIP   PersistenceType = "SOURCE_IP"
	PersistenceHTTPCookie PersistenceType = "HTTP_COOKIE"
	PersistenceAppCookie  PersistenceType = "APP_COOKIE"
)

// PersistenceTypes are the values Octavia accepts for session_persistence.type.
var PersistenceTypes = []PersistenceType{PersistenceSourceIP, PersistenceHTTPCookie, PersistenceAppCookie}

// HTTPMethods are the values Octavia accepts for a monitor's http_method.
var HTTPMethods = []string{"GET", "HEAD", "POST", "PUT", "DELETE", "TRACE", "OPTIONS", "CONNECT", "PATCH"}

// ProvisioningStatus is an object's provisioning_status.
type ProvisioningStatus string

// Provisioning statuses.
const (
	ProvisioningActive        ProvisioningStatus = "ACTIVE"
	ProvisioningPendingCreate ProvisioningStatus = "PENDING_CREATE"
	ProvisioningPendingUpdate ProvisioningStatus = "PENDING_UPDATE"
	ProvisioningPendingDelete ProvisioningStatus = "PENDING_DELETE"
	ProvisioningDeleted       ProvisioningStatus = "DELETED"
	ProvisioningError         ProvisioningStatus = "ERROR"
)

// OperatingStatus is an object's operating_status.
type OperatingStatus string

// Operating statuses.
const (
	OperatingOnline    OperatingStatus = "ONLINE"
	OperatingOffline   OperatingStatus = "OFFLINE"
	OperatingDegraded  OperatingStatus = "DEGRADED"
	OperatingError     OperatingStatus = "ERROR"
	OperatingDraining  OperatingStatus = "DRAINING"
	OperatingNoMonitor OperatingStatus = "NO_MONITOR"
)

// Insert-header keys Octavia accepts on listeners.
var (
	// InsertHeadersHTTP may be set on HTTP and TERMINATED_HTTPS listeners.
	InsertHeadersHTTP = []string{"X-Forwarded-For", "X-Forwarded-Port", "X-Forwarded-Proto"}
	// InsertHeadersTLS may be set on TERMINATED_HTTPS listeners only.
	InsertHeadersTLS = []string{
		"X-SSL-Client-Verify", "X-SSL-Client-Has-Cert", "X-SSL-Client-DN", "X-SSL-Client-CN",
		"X-SSL-Issuer", "X-SSL-Client-SHA1", "X-SSL-Client-Not-Before", "X-SSL-Client-Not-After",
	}
)

// Providers lbd answers for. "amphora" (the default) keeps Octavia's amphora
// rules exactly, so a config that passes here passes on a real cloud; "lbd"
// opts into what lbd adds, such as SOURCE_IP_PORT.
const (
	ProviderAmphora = "amphora"
	ProviderLBD     = "lbd"
)

func contains[T comparable](list []T, v T) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// Load balancer topologies (octavia/common/constants.py
// SUPPORTED_LB_TOPOLOGIES). An empty topology is SINGLE.
const (
	TopologySingle        = "SINGLE"
	TopologyActiveStandby = "ACTIVE_STANDBY"
)
