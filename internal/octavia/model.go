package octavia

// The types below are Octavia's v2 objects with Octavia's field names. One
// LoadBalancer value is the body of a fully-populated
// POST /v2/lbaas/loadbalancers: listeners carry an inline default_pool (or
// name an LB-level pool), pools carry inline members and a healthmonitor. The
// same types are the config file's entries and, later, the REST API's bodies.
//
// Optional fields whose Octavia default differs from Go's zero value are
// pointers, so "unset" can be told from "set to the zero value"; SetDefaults
// fills every one of them, after which they are never nil. Required numeric
// fields whose valid range includes zero (delay, timeout) are pointers too, so
// a missing value is reported as missing. The one exception is lbd's
// Listener.ConnectionLogging, whose nil means "as the global switch says".

// Config is the top level of lbd's config file.
type Config struct {
	LoadBalancers []*LoadBalancer  `json:"loadbalancers" yaml:"loadbalancers"`
	OpenStack     *OpenStackConfig `json:"openstack,omitempty" yaml:"openstack,omitempty"` // for lbctl up; lbd ignores it

	// Origins maps the ID of each object read from a file to where it is
	// defined ("lbd.yaml:12"), for messages that name the object. Parse
	// fills it; objects made through the API have none.
	Origins map[string]string `json:"-" yaml:"-"`
}

// Origin is where the object with that ID is defined in the config file,
// "" when it did not come from one.
func (c *Config) Origin(id string) string {
	if c == nil {
		return ""
	}
	return c.Origins[id]
}

// LoadBalancer is an Octavia load balancer.
type LoadBalancer struct {
	ID               string   `json:"id,omitempty" yaml:"id,omitempty"`
	Name             string   `json:"name,omitempty" yaml:"name,omitempty"`
	Description      string   `json:"description,omitempty" yaml:"description,omitempty"`
	AdminStateUp     *bool    `json:"admin_state_up,omitempty" yaml:"admin_state_up,omitempty"`
	ProjectID        string   `json:"project_id,omitempty" yaml:"project_id,omitempty"`
	VIPAddress       string   `json:"vip_address,omitempty" yaml:"vip_address,omitempty"`
	VIPSubnetID      string   `json:"vip_subnet_id,omitempty" yaml:"vip_subnet_id,omitempty"`
	VIPNetworkID     string   `json:"vip_network_id,omitempty" yaml:"vip_network_id,omitempty"`
	VIPPortID        string   `json:"vip_port_id,omitempty" yaml:"vip_port_id,omitempty"`
	VIPQoSPolicyID   string   `json:"vip_qos_policy_id,omitempty" yaml:"vip_qos_policy_id,omitempty"`
	VIPSGIDs         []string `json:"vip_sg_ids,omitempty" yaml:"vip_sg_ids,omitempty"`
	AdditionalVIPs   []VIP    `json:"additional_vips,omitempty" yaml:"additional_vips,omitempty"`
	Provider         string   `json:"provider,omitempty" yaml:"provider,omitempty"`
	FlavorID         string   `json:"flavor_id,omitempty" yaml:"flavor_id,omitempty"`
	AvailabilityZone string   `json:"availability_zone,omitempty" yaml:"availability_zone,omitempty"`
	Tags             []string `json:"tags,omitempty" yaml:"tags,omitempty"`
	// Topology is Octavia's load balancer topology (set by a flavor's
	// loadbalancer_topology in Octavia; in lbd's config file, here):
	// SINGLE ("" too) or ACTIVE_STANDBY, whose VIP keepalived moves
	// between lbd instances (see docs/ha.md). The API does not render it,
	// as Octavia does not.
	Topology  string      `json:"topology,omitempty" yaml:"topology,omitempty"`
	Listeners []*Listener `json:"listeners,omitempty" yaml:"listeners,omitempty"`
	Pools     []*Pool     `json:"pools,omitempty" yaml:"pools,omitempty"`
}

// VIP is an entry of additional_vips.
type VIP struct {
	SubnetID  string `json:"subnet_id" yaml:"subnet_id"`
	IPAddress string `json:"ip_address,omitempty" yaml:"ip_address,omitempty"`
}

// Listener is an Octavia listener. For lbd it binds vip_address:protocol_port.
type Listener struct {
	ID                   string            `json:"id,omitempty" yaml:"id,omitempty"`
	Name                 string            `json:"name,omitempty" yaml:"name,omitempty"`
	Description          string            `json:"description,omitempty" yaml:"description,omitempty"`
	AdminStateUp         *bool             `json:"admin_state_up,omitempty" yaml:"admin_state_up,omitempty"`
	LoadBalancerID       string            `json:"loadbalancer_id,omitempty" yaml:"loadbalancer_id,omitempty"`
	Protocol             Protocol          `json:"protocol" yaml:"protocol"`
	ProtocolPort         int               `json:"protocol_port" yaml:"protocol_port"`
	ConnectionLimit      *int              `json:"connection_limit,omitempty" yaml:"connection_limit,omitempty"`
	TimeoutClientData    *int              `json:"timeout_client_data,omitempty" yaml:"timeout_client_data,omitempty"`
	TimeoutMemberConnect *int              `json:"timeout_member_connect,omitempty" yaml:"timeout_member_connect,omitempty"`
	TimeoutMemberData    *int              `json:"timeout_member_data,omitempty" yaml:"timeout_member_data,omitempty"`
	TimeoutTCPInspect    *int              `json:"timeout_tcp_inspect,omitempty" yaml:"timeout_tcp_inspect,omitempty"`
	InsertHeaders        map[string]string `json:"insert_headers,omitempty" yaml:"insert_headers,omitempty"`
	AllowedCIDRs         []string          `json:"allowed_cidrs,omitempty" yaml:"allowed_cidrs,omitempty"`
	DefaultPoolID        string            `json:"default_pool_id,omitempty" yaml:"default_pool_id,omitempty"`
	DefaultPool          *Pool             `json:"default_pool,omitempty" yaml:"default_pool,omitempty"`
	L7Policies           []*L7Policy       `json:"l7policies,omitempty" yaml:"l7policies,omitempty"`
	DefaultTLSRef        string            `json:"default_tls_container_ref,omitempty" yaml:"default_tls_container_ref,omitempty"`
	SNIContainerRefs     []string          `json:"sni_container_refs,omitempty" yaml:"sni_container_refs,omitempty"`
	ClientCATLSRef       string            `json:"client_ca_tls_container_ref,omitempty" yaml:"client_ca_tls_container_ref,omitempty"`
	ClientAuthentication string            `json:"client_authentication,omitempty" yaml:"client_authentication,omitempty"`
	ClientCRLRef         string            `json:"client_crl_container_ref,omitempty" yaml:"client_crl_container_ref,omitempty"`
	TLSCiphers           string            `json:"tls_ciphers,omitempty" yaml:"tls_ciphers,omitempty"`
	TLSVersions          []string          `json:"tls_versions,omitempty" yaml:"tls_versions,omitempty"`
	ALPNProtocols        []string          `json:"alpn_protocols,omitempty" yaml:"alpn_protocols,omitempty"`
	HSTSMaxAge           *int              `json:"hsts_max_age,omitempty" yaml:"hsts_max_age,omitempty"`
	HSTSIncludeSubdomain *bool             `json:"hsts_include_subdomains,omitempty" yaml:"hsts_include_subdomains,omitempty"`
	HSTSPreload          *bool             `json:"hsts_preload,omitempty" yaml:"hsts_preload,omitempty"`
	Tags                 []string          `json:"tags,omitempty" yaml:"tags,omitempty"`
	// ConnectionLogging overrides, for this listener, the global switch
	// that turns connection logging on or off (Octavia's is
	// [haproxy_amphora] connection_logging, lbd's --connection-logging).
	// Octavia has no such field: it is an lbd extension, taken under
	// provider "lbd" only. Unset (nil) follows the global switch.
	ConnectionLogging *bool `json:"connection_logging,omitempty" yaml:"connection_logging,omitempty"`
	// AcceptProxyProtocol is an lbd extension (provider lbd; off when
	// nil): connections from its allowed_cidrs must begin with a PROXY
	// protocol v1 or v2 header, whose source address is then the client's.
	AcceptProxyProtocol *AcceptProxy `json:"accept_proxy_protocol,omitempty" yaml:"accept_proxy_protocol,omitempty"`
}

// AcceptProxy says which upstreams (load balancers in front of lbd) may
// send a listener PROXY protocol headers.
type AcceptProxy struct {
	// AllowedCIDRs are the sources that must send a header. Any other
	// source is served as a client; a header from it is refused, not read.
	AllowedCIDRs []string `json:"allowed_cidrs" yaml:"allowed_cidrs"`
}

// LogsConnections reports whether the listener's connections are logged,
// given the global switch.
func (l *Listener) LogsConnections(global bool) bool { return boolOr(l.ConnectionLogging, global) }

// Pool is an Octavia pool.
type Pool struct {
	ID                 string              `json:"id,omitempty" yaml:"id,omitempty"`
	Name               string              `json:"name,omitempty" yaml:"name,omitempty"`
	Description        string              `json:"description,omitempty" yaml:"description,omitempty"`
	AdminStateUp       *bool               `json:"admin_state_up,omitempty" yaml:"admin_state_up,omitempty"`
	LoadBalancerID     string              `json:"loadbalancer_id,omitempty" yaml:"loadbalancer_id,omitempty"`
	ListenerID         string              `json:"listener_id,omitempty" yaml:"listener_id,omitempty"`
	Protocol           Protocol            `json:"protocol,omitempty" yaml:"protocol,omitempty"`
	LBAlgorithm        Algorithm           `json:"lb_algorithm,omitempty" yaml:"lb_algorithm,omitempty"`
	SessionPersistence *SessionPersistence `json:"session_persistence,omitempty" yaml:"session_persistence,omitempty"`
	Members            []*Member           `json:"members,omitempty" yaml:"members,omitempty"`
	HealthMonitor      *HealthMonitor      `json:"healthmonitor,omitempty" yaml:"healthmonitor,omitempty"`
	TLSEnabled         *bool               `json:"tls_enabled,omitempty" yaml:"tls_enabled,omitempty"`
	TLSContainerRef    string              `json:"tls_container_ref,omitempty" yaml:"tls_container_ref,omitempty"`
	CATLSContainerRef  string              `json:"ca_tls_container_ref,omitempty" yaml:"ca_tls_container_ref,omitempty"`
	CRLContainerRef    string              `json:"crl_container_ref,omitempty" yaml:"crl_container_ref,omitempty"`
	TLSCiphers         string              `json:"tls_ciphers,omitempty" yaml:"tls_ciphers,omitempty"`
	TLSVersions        []string            `json:"tls_versions,omitempty" yaml:"tls_versions,omitempty"`
	ALPNProtocols      []string            `json:"alpn_protocols,omitempty" yaml:"alpn_protocols,omitempty"`
	Tags               []string            `json:"tags,omitempty" yaml:"tags,omitempty"`
}

// SessionPersistence is a pool's session_persistence object.
type SessionPersistence struct {
	Type                   PersistenceType `json:"type" yaml:"type"`
	CookieName             string          `json:"cookie_name,omitempty" yaml:"cookie_name,omitempty"`
	PersistenceTimeout     *int            `json:"persistence_timeout,omitempty" yaml:"persistence_timeout,omitempty"`
	PersistenceGranularity string          `json:"persistence_granularity,omitempty" yaml:"persistence_granularity,omitempty"`
}

// Member is an Octavia pool member.
type Member struct {
	ID             string   `json:"id,omitempty" yaml:"id,omitempty"`
	Name           string   `json:"name,omitempty" yaml:"name,omitempty"`
	Address        string   `json:"address" yaml:"address"`
	ProtocolPort   int      `json:"protocol_port" yaml:"protocol_port"`
	Weight         *int     `json:"weight,omitempty" yaml:"weight,omitempty"`
	Backup         *bool    `json:"backup,omitempty" yaml:"backup,omitempty"`
	AdminStateUp   *bool    `json:"admin_state_up,omitempty" yaml:"admin_state_up,omitempty"`
	SubnetID       string   `json:"subnet_id,omitempty" yaml:"subnet_id,omitempty"`
	MonitorAddress string   `json:"monitor_address,omitempty" yaml:"monitor_address,omitempty"`
	MonitorPort    *int     `json:"monitor_port,omitempty" yaml:"monitor_port,omitempty"`
	RequestSRIOV   *bool    `json:"request_sriov,omitempty" yaml:"request_sriov,omitempty"`
	Tags           []string `json:"tags,omitempty" yaml:"tags,omitempty"`
}

// HealthMonitor is an Octavia health monitor (at most one per pool).
type HealthMonitor struct {
	ID             string      `json:"id,omitempty" yaml:"id,omitempty"`
	Name           string      `json:"name,omitempty" yaml:"name,omitempty"`
	PoolID         string      `json:"pool_id,omitempty" yaml:"pool_id,omitempty"`
	Type           MonitorType `json:"type" yaml:"type"`
	Delay          *int        `json:"delay,omitempty" yaml:"delay,omitempty"`
	Timeout        *int        `json:"timeout,omitempty" yaml:"timeout,omitempty"`
	MaxRetries     int         `json:"max_retries" yaml:"max_retries"`
	MaxRetriesDown *int        `json:"max_retries_down,omitempty" yaml:"max_retries_down,omitempty"`
	HTTPMethod     string      `json:"http_method,omitempty" yaml:"http_method,omitempty"`
	URLPath        string      `json:"url_path,omitempty" yaml:"url_path,omitempty"`
	ExpectedCodes  string      `json:"expected_codes,omitempty" yaml:"expected_codes,omitempty"`
	HTTPVersion    *float64    `json:"http_version,omitempty" yaml:"http_version,omitempty"`
	DomainName     string      `json:"domain_name,omitempty" yaml:"domain_name,omitempty"`
	AdminStateUp   *bool       `json:"admin_state_up,omitempty" yaml:"admin_state_up,omitempty"`
	Tags           []string    `json:"tags,omitempty" yaml:"tags,omitempty"`
}

// Enabled reports admin_state_up, which defaults to true.
func (lb *LoadBalancer) Enabled() bool { return boolOr(lb.AdminStateUp, true) }

// ActiveStandby reports whether the load balancer's topology is
// ACTIVE_STANDBY: its VIP is held by one lbd instance at a time, moved by
// VRRP, and bound on the others before it arrives (IP_FREEBIND).
func (lb *LoadBalancer) ActiveStandby() bool { return lb.Topology == TopologyActiveStandby }

// Enabled reports admin_state_up, which defaults to true.
func (l *Listener) Enabled() bool { return boolOr(l.AdminStateUp, true) }

// Enabled reports admin_state_up, which defaults to true.
func (p *Pool) Enabled() bool { return boolOr(p.AdminStateUp, true) }

// Enabled reports admin_state_up, which defaults to true.
func (m *Member) Enabled() bool { return boolOr(m.AdminStateUp, true) }

// Enabled reports admin_state_up, which defaults to true.
func (h *HealthMonitor) Enabled() bool { return boolOr(h.AdminStateUp, true) }

// PoolByID returns the load balancer's pool with that ID, or nil.
func (lb *LoadBalancer) PoolByID(id string) *Pool {
	for _, p := range lb.Pools {
		if p.ID == id {
			return p
		}
	}
	return nil
}

func boolOr(p *bool, def bool) bool {
	if p == nil {
		return def
	}
	return *p
}

// IntOr returns *p, or def when p is nil.
func IntOr(p *int, def int) int {
	if p == nil {
		return def
	}
	return *p
}

// Ptr returns a pointer to v; handy for optional fields.
func Ptr[T any](v T) *T { return &v }
