package api

import (
	"time"

	"lbd/internal/octavia"
)

// The types below are Octavia 11's response bodies, field for field
// (octavia/api/v2/types/*.py): every key is always present, with null where
// Octavia renders None. tenant_id repeats project_id, as Octavia still does.
// A "full" variant is what the fully-populated create answers with: children
// inline instead of {"id"} references, and no back-references to parents.

// Timestamp renders as Octavia does (Python's isoformat of a naive UTC
// datetime): microseconds when there are any, no zone suffix; null when
// zero.
type Timestamp time.Time

// MarshalJSON renders the timestamp.
func (t Timestamp) MarshalJSON() ([]byte, error) {
	tt := time.Time(t).UTC()
	if tt.IsZero() {
		return []byte("null"), nil
	}
	layout := "2006-01-02T15:04:05"
	if tt.Nanosecond()/1000 != 0 {
		layout += ".000000"
	}
	return []byte(`"` + tt.Format(layout) + `"`), nil
}

// IDRef is a {"id": ...} reference to another object.
type IDRef struct {
	ID string `json:"id"`
}

// LoadBalancer is a load balancer as GET, PUT and lists render it.
type LoadBalancer struct {
	ID                 string        `json:"id"`
	Name               string        `json:"name"`
	Description        string        `json:"description"`
	ProvisioningStatus string        `json:"provisioning_status"`
	OperatingStatus    string        `json:"operating_status"`
	AdminStateUp       bool          `json:"admin_state_up"`
	ProjectID          *string       `json:"project_id"`
	TenantID           *string       `json:"tenant_id"`
	CreatedAt          Timestamp     `json:"created_at"`
	UpdatedAt          Timestamp     `json:"updated_at"`
	VIPAddress         *string       `json:"vip_address"`
	VIPPortID          *string       `json:"vip_port_id"`
	VIPSubnetID        *string       `json:"vip_subnet_id"`
	VIPNetworkID       *string       `json:"vip_network_id"`
	VIPQoSPolicyID     *string       `json:"vip_qos_policy_id"`
	AdditionalVIPs     []octavia.VIP `json:"additional_vips"`
	Listeners          []IDRef       `json:"listeners"`
	Pools              []IDRef       `json:"pools"`
	Provider           string        `json:"provider"`
	FlavorID           *string       `json:"flavor_id"`
	AvailabilityZone   *string       `json:"availability_zone"`
	Tags               []string      `json:"tags"`
}

// LoadBalancerFull is the answer to a create: children inline.
type LoadBalancerFull struct {
	LoadBalancer
	Listeners []ListenerFull `json:"listeners"`
	Pools     []PoolFull     `json:"pools"`
}

// ListenerFull is a listener inside a full response: its L7 policies
// inline, with their rules.
type ListenerFull struct {
	Listener
	L7Policies []L7PolicyFull `json:"l7policies"`
}

// Listener is a listener. Loadbalancers is nil (and left out) in full
// responses.
type Listener struct {
	ID                      string            `json:"id"`
	Name                    string            `json:"name"`
	Description             string            `json:"description"`
	ProvisioningStatus      string            `json:"provisioning_status"`
	OperatingStatus         string            `json:"operating_status"`
	AdminStateUp            bool              `json:"admin_state_up"`
	Protocol                string            `json:"protocol"`
	ProtocolPort            int               `json:"protocol_port"`
	ConnectionLimit         int               `json:"connection_limit"`
	DefaultTLSContainerRef  *string           `json:"default_tls_container_ref"`
	SNIContainerRefs        []string          `json:"sni_container_refs"`
	ProjectID               *string           `json:"project_id"`
	TenantID                *string           `json:"tenant_id"`
	DefaultPoolID           *string           `json:"default_pool_id"`
	L7Policies              []IDRef           `json:"l7policies"`
	InsertHeaders           map[string]string `json:"insert_headers"`
	CreatedAt               Timestamp         `json:"created_at"`
	UpdatedAt               Timestamp         `json:"updated_at"`
	Loadbalancers           []IDRef           `json:"loadbalancers,omitempty"`
	TimeoutClientData       int               `json:"timeout_client_data"`
	TimeoutMemberConnect    int               `json:"timeout_member_connect"`
	TimeoutMemberData       int               `json:"timeout_member_data"`
	TimeoutTCPInspect       int               `json:"timeout_tcp_inspect"`
	Tags                    []string          `json:"tags"`
	ClientCATLSContainerRef *string           `json:"client_ca_tls_container_ref"`
	ClientAuthentication    string            `json:"client_authentication"`
	ClientCRLContainerRef   *string           `json:"client_crl_container_ref"`
	AllowedCIDRs            []string          `json:"allowed_cidrs"`
	TLSCiphers              *string           `json:"tls_ciphers"`
	TLSVersions             []string          `json:"tls_versions"`
	ALPNProtocols           []string          `json:"alpn_protocols"`
	// ConnectionLogging is lbd's per-listener override of the global
	// access-log switch (provider lbd only); absent when not set, so that
	// Octavia's rendering is unchanged.
	ConnectionLogging *bool `json:"connection_logging,omitempty"`
}

// SessionPersistence is a pool's session_persistence.
type SessionPersistence struct {
	Type                   string  `json:"type"`
	CookieName             *string `json:"cookie_name"`
	PersistenceTimeout     *int    `json:"persistence_timeout"`
	PersistenceGranularity *string `json:"persistence_granularity"`
}

// PoolBase is what every rendering of a pool has.
type PoolBase struct {
	ID                 string              `json:"id"`
	Name               string              `json:"name"`
	Description        string              `json:"description"`
	ProvisioningStatus string              `json:"provisioning_status"`
	OperatingStatus    string              `json:"operating_status"`
	AdminStateUp       bool                `json:"admin_state_up"`
	Protocol           string              `json:"protocol"`
	LBAlgorithm        string              `json:"lb_algorithm"`
	SessionPersistence *SessionPersistence `json:"session_persistence"`
	ProjectID          *string             `json:"project_id"`
	TenantID           *string             `json:"tenant_id"`
	Listeners          []IDRef             `json:"listeners"`
	CreatedAt          Timestamp           `json:"created_at"`
	UpdatedAt          Timestamp           `json:"updated_at"`
	Tags               []string            `json:"tags"`
	TLSContainerRef    *string             `json:"tls_container_ref"`
	CATLSContainerRef  *string             `json:"ca_tls_container_ref"`
	CRLContainerRef    *string             `json:"crl_container_ref"`
	TLSEnabled         bool                `json:"tls_enabled"`
	TLSCiphers         *string             `json:"tls_ciphers"`
	TLSVersions        []string            `json:"tls_versions"`
	ALPNProtocols      []string            `json:"alpn_protocols"`
}

// Pool is a pool as GET, PUT and lists render it. Octavia leaves
// healthmonitor_id out, rather than null, when the pool has no monitor.
type Pool struct {
	PoolBase
	Loadbalancers   []IDRef `json:"loadbalancers"`
	HealthMonitorID *string `json:"healthmonitor_id,omitempty"`
	Members         []IDRef `json:"members"`
}

// PoolFull is a pool inside a full response: members and monitor inline,
// no back-reference to the load balancer and no healthmonitor_id, as
// Octavia renders it.
type PoolFull struct {
	PoolBase
	Members       []Member       `json:"members"`
	HealthMonitor *HealthMonitor `json:"healthmonitor"`
}

// Member is a pool member.
type Member struct {
	ID                 string    `json:"id"`
	Name               string    `json:"name"`
	OperatingStatus    string    `json:"operating_status"`
	ProvisioningStatus string    `json:"provisioning_status"`
	AdminStateUp       bool      `json:"admin_state_up"`
	Address            string    `json:"address"`
	ProtocolPort       int       `json:"protocol_port"`
	Weight             int       `json:"weight"`
	Backup             bool      `json:"backup"`
	SubnetID           *string   `json:"subnet_id"`
	ProjectID          *string   `json:"project_id"`
	TenantID           *string   `json:"tenant_id"`
	CreatedAt          Timestamp `json:"created_at"`
	UpdatedAt          Timestamp `json:"updated_at"`
	MonitorAddress     *string   `json:"monitor_address"`
	MonitorPort        *int      `json:"monitor_port"`
	Tags               []string  `json:"tags"`
}

// HealthMonitor is a health monitor. Pools is nil (and left out) in full
// responses.
type HealthMonitor struct {
	ID                 string    `json:"id"`
	Name               string    `json:"name"`
	Type               string    `json:"type"`
	Delay              int       `json:"delay"`
	Timeout            int       `json:"timeout"`
	MaxRetries         int       `json:"max_retries"`
	MaxRetriesDown     int       `json:"max_retries_down"`
	HTTPMethod         *string   `json:"http_method"`
	URLPath            *string   `json:"url_path"`
	ExpectedCodes      *string   `json:"expected_codes"`
	AdminStateUp       bool      `json:"admin_state_up"`
	ProjectID          *string   `json:"project_id"`
	TenantID           *string   `json:"tenant_id"`
	Pools              []IDRef   `json:"pools,omitempty"`
	ProvisioningStatus string    `json:"provisioning_status"`
	OperatingStatus    string    `json:"operating_status"`
	CreatedAt          Timestamp `json:"created_at"`
	UpdatedAt          Timestamp `json:"updated_at"`
	Tags               []string  `json:"tags"`
	HTTPVersion        *float64  `json:"http_version"`
	DomainName         *string   `json:"domain_name"`
}

// StatusTree is the body of GET /loadbalancers/{id}/status.
type StatusTree struct {
	LoadBalancer LoadBalancerStatus `json:"loadbalancer"`
}

// LoadBalancerStatus is the root of a status tree.
type LoadBalancerStatus struct {
	ID                 string           `json:"id"`
	Name               string           `json:"name"`
	OperatingStatus    string           `json:"operating_status"`
	ProvisioningStatus string           `json:"provisioning_status"`
	Listeners          []ListenerStatus `json:"listeners"`
}

// ListenerStatus is a listener in a status tree.
type ListenerStatus struct {
	ID                 string       `json:"id"`
	Name               string       `json:"name"`
	OperatingStatus    string       `json:"operating_status"`
	ProvisioningStatus string       `json:"provisioning_status"`
	Pools              []PoolStatus `json:"pools"`
}

// PoolStatus is a pool in a status tree. Octavia's code emits the monitor
// as health_monitor, its api-ref and gophercloud read healthmonitor: both
// keys carry it. Both are left out when the pool has no monitor.
type PoolStatus struct {
	ID                 string               `json:"id"`
	Name               string               `json:"name"`
	ProvisioningStatus string               `json:"provisioning_status"`
	OperatingStatus    string               `json:"operating_status"`
	HealthMonitor      *HealthMonitorStatus `json:"health_monitor,omitempty"`
	HealthMonitorAlias *HealthMonitorStatus `json:"healthmonitor,omitempty"`
	Members            []MemberStatus       `json:"members"`
}

// HealthMonitorStatus is a monitor in a status tree.
type HealthMonitorStatus struct {
	ID                 string `json:"id"`
	Name               string `json:"name"`
	Type               string `json:"type"`
	ProvisioningStatus string `json:"provisioning_status"`
	OperatingStatus    string `json:"operating_status"`
}

// MemberStatus is a member in a status tree.
type MemberStatus struct {
	ID                 string `json:"id"`
	Name               string `json:"name"`
	OperatingStatus    string `json:"operating_status"`
	ProvisioningStatus string `json:"provisioning_status"`
	Address            string `json:"address"`
	ProtocolPort       int    `json:"protocol_port"`
}

// Nullable returns nil for "", so the field renders as null.
func Nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
