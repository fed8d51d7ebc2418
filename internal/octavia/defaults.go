package octavia

import "slices"

// Octavia's defaults (octavia/common/constants.py and its config options).
const (
	DefaultConnectionLimit      = -1
	DefaultTimeoutClientData    = 50000 // ms
	DefaultTimeoutMemberConnect = 5000  // ms
	DefaultTimeoutMemberData    = 50000 // ms
	DefaultTimeoutTCPInspect    = 0     // ms
	DefaultWeight               = 1
	DefaultMaxRetriesDown       = 3
	DefaultHTTPMethod           = "GET"
	DefaultURLPath              = "/"
	DefaultExpectedCodes        = "200"
	DefaultPersistenceTimeout   = 360 // s, UDP and SCTP pools only
	DefaultPersistenceGranular  = "255.255.255.255"
	DefaultClientAuthentication = "NONE"
	MaxTimeout                  = 2073600000 // ms, 24 days
)

// SetDefaults fills every unset optional field of the config with Octavia's
// default. It is the one place defaults are decided; validation and the data
// plane read the filled-in values.
func (c *Config) SetDefaults() {
	for _, lb := range c.LoadBalancers {
		if lb != nil {
			lb.SetDefaults()
		}
	}
}

// SetDefaults fills the load balancer and everything under it.
func (lb *LoadBalancer) SetDefaults() {
	setBool(&lb.AdminStateUp, true)
	if lb.Provider == "" {
		lb.Provider = ProviderAmphora
	}
	for _, l := range lb.Listeners {
		if l != nil {
			l.SetDefaults()
		}
	}
	for _, p := range lb.Pools {
		if p != nil {
			p.SetDefaults()
		}
	}
}

// SetDefaults fills the listener and its inline default pool.
func (l *Listener) SetDefaults() {
	setBool(&l.AdminStateUp, true)
	setInt(&l.ConnectionLimit, DefaultConnectionLimit)
	setInt(&l.TimeoutClientData, DefaultTimeoutClientData)
	setInt(&l.TimeoutMemberConnect, DefaultTimeoutMemberConnect)
	setInt(&l.TimeoutMemberData, DefaultTimeoutMemberData)
	setInt(&l.TimeoutTCPInspect, DefaultTimeoutTCPInspect)
	if l.ClientAuthentication == "" {
		l.ClientAuthentication = DefaultClientAuthentication
	}
	if l.Protocol == ProtocolTerminatedHTTPS {
		setTLSDefaults(&l.TLSCiphers, &l.TLSVersions, &l.ALPNProtocols)
	}
	if l.DefaultPool != nil {
		l.DefaultPool.SetDefaults()
	}
	for _, pol := range l.L7Policies {
		if pol != nil {
			pol.SetDefaults()
		}
	}
}

// SetDefaults fills the pool, its members and its monitor.
func (p *Pool) SetDefaults() {
	setBool(&p.AdminStateUp, true)
	setBool(&p.TLSEnabled, false)
	if *p.TLSEnabled {
		setTLSDefaults(&p.TLSCiphers, &p.TLSVersions, &p.ALPNProtocols)
	}
	if sp := p.SessionPersistence; sp != nil && (p.Protocol == ProtocolUDP || p.Protocol == ProtocolSCTP) {
		setInt(&sp.PersistenceTimeout, DefaultPersistenceTimeout)
		if sp.PersistenceGranularity == "" {
			sp.PersistenceGranularity = DefaultPersistenceGranular
		}
	}
	for _, m := range p.Members {
		if m != nil {
			m.SetDefaults()
		}
	}
	if p.HealthMonitor != nil {
		p.HealthMonitor.SetDefaults()
	}
}

// SetDefaults fills the member.
func (m *Member) SetDefaults() {
	setInt(&m.Weight, DefaultWeight)
	setBool(&m.Backup, false)
	setBool(&m.AdminStateUp, true)
}

// SetDefaults fills the monitor. HTTP-only fields get their defaults only on
// HTTP and HTTPS monitors, as Octavia renders them.
func (h *HealthMonitor) SetDefaults() {
	setBool(&h.AdminStateUp, true)
	setInt(&h.MaxRetriesDown, DefaultMaxRetriesDown)
	if h.Type.IsHTTP() {
		if h.HTTPMethod == "" {
			h.HTTPMethod = DefaultHTTPMethod
		}
		if h.URLPath == "" {
			h.URLPath = DefaultURLPath
		}
		if h.ExpectedCodes == "" {
			h.ExpectedCodes = DefaultExpectedCodes
		}
	}
}

// setTLSDefaults fills Octavia's cipher, version and ALPN defaults, which
// it stores only for TERMINATED_HTTPS listeners and pools with
// tls_enabled. An empty list given on purpose stays, for validation to
// refuse as Octavia does.
func setTLSDefaults(ciphers *string, versions, alpn *[]string) {
	if *ciphers == "" {
		*ciphers = DefaultTLSCiphers
	}
	if *versions == nil {
		*versions = slices.Clone(DefaultTLSVersions)
	}
	if *alpn == nil {
		*alpn = slices.Clone(DefaultALPNProtocols)
	}
}

func setBool(p **bool, v bool) {
	if *p == nil {
		*p = &v
	}
}

func setInt(p **int, v int) {
	if *p == nil {
		*p = &v
	}
}
