package octavia

import (
	"fmt"
	"maps"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"unicode"
)

// Validate checks the config against Octavia's rules (field types, enums,
// ranges, cross-references) and lbd's own (what the data plane can serve,
// addresses it must bind uniquely). Call SetDefaults first. Every problem is
// reported, not only the first, as a *ValidationError.
func (c *Config) Validate() error {
	var p problems
	names := map[string]int{}
	binds := map[string]string{}
	for i, lb := range c.LoadBalancers {
		path := fmt.Sprintf("loadbalancers[%d]", i)
		if lb == nil {
			p.missing(path)
			continue
		}
		if lb.Name != "" {
			if j, dup := names[lb.Name]; dup {
				p.add(path+".name", lb.Name, "must be unique among the file's load balancers (loadbalancers[%d] has it)", j)
			}
			names[lb.Name] = i
		}
		lb.validate(&p, path, true)
		// Two load balancers on one VIP cannot both bind the same port.
		for j, l := range lb.Listeners {
			if l == nil || lb.VIPAddress == "" || l.ProtocolPort == 0 {
				continue
			}
			key := lb.VIPAddress + "/" + l.Protocol.Transport() + "/" + fmt.Sprint(l.ProtocolPort)
			lpath := fmt.Sprintf("%s.listeners[%d]", path, j)
			if other, dup := binds[key]; dup && !strings.HasPrefix(other, path+".") {
				p.add(lpath+".protocol_port", l.ProtocolPort, "%s:%d is already bound by %s", lb.VIPAddress, l.ProtocolPort, other)
			} else if !dup {
				binds[key] = lpath
			}
		}
	}
	if c.OpenStack != nil {
		c.OpenStack.validate(&p, c)
	}
	return p.err()
}

// Validate checks one load balancer; path prefixes the field paths in errors.
func (lb *LoadBalancer) Validate(path string) error {
	var p problems
	lb.validate(&p, path, false)
	return p.err()
}

// strict is the config file's validation: it also refuses L7 policies
// whose redirect fields Octavia's API would silently turn into another
// action.
func (lb *LoadBalancer) validate(p *problems, path string, strict bool) {
	checkID(p, path, lb.ID)
	checkLen(p, path+".name", lb.Name)
	checkLen(p, path+".description", lb.Description)
	checkTags(p, path, lb.Tags)
	if lb.VIPAddress != "" {
		if _, err := netip.ParseAddr(lb.VIPAddress); err != nil {
			p.add(path+".vip_address", lb.VIPAddress, "must be an IPv4 or IPv6 address")
		}
	}
	for i, v := range lb.AdditionalVIPs {
		if v.IPAddress != "" {
			if _, err := netip.ParseAddr(v.IPAddress); err != nil {
				p.add(fmt.Sprintf("%s.additional_vips[%d].ip_address", path, i), v.IPAddress, "must be an IPv4 or IPv6 address")
			}
		}
	}
	if lb.Provider != ProviderAmphora && lb.Provider != ProviderLBD {
		p.add(path+".provider", lb.Provider, "provider is not enabled (one of %q, %q)", ProviderAmphora, ProviderLBD)
	}
	checkTopology(p, path, lb.Topology)

	// Pools: those at load-balancer level plus inline default pools. Octavia
	// requires every pool of a fully-populated create to be named, and the
	// names to be unique, because listeners refer to pools by name.
	poolNames := map[string]string{}
	notePool := func(pool *Pool, ppath string) {
		if pool.Name == "" {
			p.add(ppath+".name", nil, "pools must be named when creating a fully populated load balancer")
			return
		}
		if other, dup := poolNames[pool.Name]; dup {
			p.add(ppath+".name", pool.Name, "pool names must be unique within a load balancer (%s has it)", other)
			return
		}
		poolNames[pool.Name] = ppath
	}
	for i, pool := range lb.Pools {
		ppath := fmt.Sprintf("%s.pools[%d]", path, i)
		if pool == nil {
			p.missing(ppath)
			continue
		}
		notePool(pool, ppath)
		pool.validate(p, ppath, lb)
	}
	ports := map[string]string{}
	for i, l := range lb.Listeners {
		lpath := fmt.Sprintf("%s.listeners[%d]", path, i)
		if l == nil {
			p.missing(lpath)
			continue
		}
		l.validate(p, lpath, lb)
		if l.ProtocolPort != 0 && l.Protocol != "" {
			key := l.Protocol.Transport() + "/" + fmt.Sprint(l.ProtocolPort)
			if other, dup := ports[key]; dup {
				p.add(lpath+".protocol_port", l.ProtocolPort, "another listener on this load balancer is already using protocol %s and protocol_port %d (%s)", l.Protocol, l.ProtocolPort, other)
			} else {
				ports[key] = lpath
			}
		}
		for j, pol := range l.L7Policies {
			ppath := fmt.Sprintf("%s.l7policies[%d]", lpath, j)
			if pol == nil {
				p.missing(ppath)
				continue
			}
			if rp := pol.RedirectPool; rp != nil && !isPoolReference(rp) {
				notePool(rp, ppath+".redirect_pool")
				rp.validate(p, ppath+".redirect_pool", lb)
			}
			pol.validate(p, ppath, lb, l, strict)
		}
		pool, ppath := lb.listenerPool(l, lpath)
		switch {
		case l.DefaultPool != nil && l.DefaultPoolID != "":
			p.add(lpath+".default_pool_id", l.DefaultPoolID, "give default_pool or default_pool_id, not both")
		case l.DefaultPool != nil && isPoolReference(l.DefaultPool):
			if pool == nil {
				p.add(lpath+".default_pool.name", l.DefaultPool.Name, "pool was referenced but no full definition was found in the load balancer's pools")
			}
		case l.DefaultPool != nil:
			notePool(l.DefaultPool, ppath)
			l.DefaultPool.validate(p, ppath, lb)
		case l.DefaultPoolID != "" && pool == nil:
			p.add(lpath+".default_pool_id", l.DefaultPoolID, "no pool with this id in the load balancer's pools")
		}
		if pool == nil {
			continue
		}
		if l.Protocol == ProtocolPrometheus {
			p.add(lpath+".default_pool", nil, "Protocol PROMETHEUS listeners cannot have child objects")
			continue
		}
		if allowed, ok := ListenerPoolProtocols[l.Protocol]; ok && pool.Protocol != "" && !contains(allowed, pool.Protocol) {
			p.add(ppath+".protocol", pool.Protocol, "pool protocol is not allowed for a %s listener (allowed: %s)", l.Protocol, joinEnum(allowed))
		}
	}
}

// listenerPool resolves a listener's default pool: inline, by name or by ID.
// The path returned names where the pool is defined.
func (lb *LoadBalancer) listenerPool(l *Listener, lpath string) (*Pool, string) {
	if l.DefaultPool != nil && !isPoolReference(l.DefaultPool) {
		return l.DefaultPool, lpath + ".default_pool"
	}
	if l.DefaultPool != nil && l.DefaultPool.Name != "" {
		return lb.poolDefinition(l.DefaultPool.Name)
	}
	for i, pool := range lb.Pools {
		if pool != nil && l.DefaultPoolID != "" && pool.ID == l.DefaultPoolID {
			return pool, fmt.Sprintf("pools[%d]", i)
		}
	}
	return nil, ""
}

// poolDefinition finds the full definition of the pool with that name, as
// Octavia's fully-populated create does: at load-balancer level, as a
// listener's inline default pool, or as an L7 policy's inline redirect
// pool.
func (lb *LoadBalancer) poolDefinition(name string) (*Pool, string) {
	for i, pool := range lb.Pools {
		if pool != nil && pool.Name == name {
			return pool, fmt.Sprintf("pools[%d]", i)
		}
	}
	for i, l := range lb.Listeners {
		if l == nil {
			continue
		}
		if p := l.DefaultPool; p != nil && p.Name == name && !isPoolReference(p) {
			return p, fmt.Sprintf("listeners[%d].default_pool", i)
		}
		for j, pol := range l.L7Policies {
			if pol != nil && pol.RedirectPool != nil && pol.RedirectPool.Name == name && !isPoolReference(pol.RedirectPool) {
				return pol.RedirectPool, fmt.Sprintf("listeners[%d].l7policies[%d].redirect_pool", i, j)
			}
		}
	}
	return nil, ""
}

// isPoolReference reports whether an inline default_pool only names a pool
// defined at load-balancer level. Octavia treats a pool with nothing but a
// name that way.
func isPoolReference(p *Pool) bool {
	named := *p
	named.Name = ""
	named.AdminStateUp, named.TLSEnabled = nil, nil // filled by SetDefaults
	return p.Name != "" && isZeroPool(&named)
}

func isZeroPool(p *Pool) bool {
	return p.ID == "" && p.Description == "" && p.AdminStateUp == nil && p.LoadBalancerID == "" &&
		p.ListenerID == "" && p.Protocol == "" && p.LBAlgorithm == "" && p.SessionPersistence == nil &&
		p.Members == nil && p.HealthMonitor == nil && p.TLSEnabled == nil && p.TLSContainerRef == "" &&
		p.CATLSContainerRef == "" && p.CRLContainerRef == "" && p.TLSCiphers == "" &&
		p.TLSVersions == nil && p.ALPNProtocols == nil && p.Tags == nil
}

// lbdListenerProtocols are the listener protocols lbd's data plane serves.
var lbdListenerProtocols = []Protocol{ProtocolHTTP, ProtocolHTTPS, ProtocolTCP, ProtocolTerminatedHTTPS, ProtocolPrometheus}

func (l *Listener) validate(p *problems, path string, lb *LoadBalancer) {
	checkID(p, path, l.ID)
	checkLen(p, path+".name", l.Name)
	checkLen(p, path+".description", l.Description)
	checkTags(p, path, l.Tags)
	switch {
	case l.Protocol == "":
		p.missing(path + ".protocol")
	case !contains(ListenerProtocols, l.Protocol):
		p.add(path+".protocol", l.Protocol, "must be one of %s", joinEnum(ListenerProtocols))
	case !contains(lbdListenerProtocols, l.Protocol):
		p.add(path+".protocol", l.Protocol, "is not supported by lbd (supported: %s)", joinEnum(lbdListenerProtocols))
	}
	checkPort(p, path+".protocol_port", l.ProtocolPort)
	if l.ConnectionLimit != nil && *l.ConnectionLimit < -1 {
		p.add(path+".connection_limit", *l.ConnectionLimit, "must be -1 (unlimited) or greater")
	}
	for _, t := range []struct {
		name string
		v    *int
	}{
		{"timeout_client_data", l.TimeoutClientData},
		{"timeout_member_connect", l.TimeoutMemberConnect},
		{"timeout_member_data", l.TimeoutMemberData},
		{"timeout_tcp_inspect", l.TimeoutTCPInspect},
	} {
		if t.v != nil && (*t.v < 0 || *t.v > MaxTimeout) {
			p.add(path+"."+t.name, *t.v, "must be between 0 and %d milliseconds", MaxTimeout)
		}
	}
	if len(l.InsertHeaders) > 0 {
		if l.Protocol != ProtocolHTTP && l.Protocol != ProtocolTerminatedHTTPS {
			p.add(path+".insert_headers", nil, "insert_headers are only allowed on HTTP and TERMINATED_HTTPS listeners, not %s", l.Protocol)
		}
		for _, k := range slices.Sorted(maps.Keys(l.InsertHeaders)) {
			v := l.InsertHeaders[k]
			kpath := path + ".insert_headers." + k
			switch {
			case contains(InsertHeadersHTTP, k):
			case contains(InsertHeadersTLS, k):
				if l.Protocol != ProtocolTerminatedHTTPS {
					p.add(kpath, v, "header is only allowed on TERMINATED_HTTPS listeners")
				}
			default:
				p.add(kpath, v, "is not a supported header (supported: %s)", strings.Join(append(append([]string{}, InsertHeadersHTTP...), InsertHeadersTLS...), ", "))
				continue
			}
			if len(v) > 255 {
				p.add(kpath, v, "must be at most 255 characters")
			} else if !strings.EqualFold(v, "true") && !strings.EqualFold(v, "false") {
				p.add(kpath, v, "must be \"true\" or \"false\"")
			}
		}
	}
	var vip netip.Addr
	if lb != nil {
		vip, _ = netip.ParseAddr(lb.VIPAddress)
	}
	for i, c := range l.AllowedCIDRs {
		cpath := fmt.Sprintf("%s.allowed_cidrs[%d]", path, i)
		prefix, err := netip.ParsePrefix(c)
		if err != nil {
			p.add(cpath, c, "must be an IPv4 or IPv6 CIDR, like 192.0.2.0/24")
			continue
		}
		if vip.IsValid() && prefix.Addr().Is4() != vip.Is4() {
			p.add(cpath, c, "IP version is incompatible with the VIP %s", vip)
		}
	}
	if l.ConnectionLogging != nil && lb != nil && lb.Provider != ProviderLBD {
		p.add(path+".connection_logging", *l.ConnectionLogging, "is an lbd extension (Octavia's switch is global: [haproxy_amphora] connection_logging); set the load balancer's provider to %q to use it", ProviderLBD)
	}
	if ap := l.AcceptProxyProtocol; ap != nil {
		apath := path + ".accept_proxy_protocol"
		if lb != nil && lb.Provider != ProviderLBD {
			p.add(apath, nil, "is an lbd extension: set the load balancer's provider to %q to use it", ProviderLBD)
		}
		if l.Protocol != ProtocolHTTP && l.Protocol != ProtocolTCP && l.Protocol != ProtocolHTTPS && l.Protocol != ProtocolTerminatedHTTPS {
			p.add(apath, nil, "is only for TCP, HTTP, HTTPS and TERMINATED_HTTPS listeners, not %s", l.Protocol)
		}
		if len(ap.AllowedCIDRs) == 0 {
			p.add(apath+".allowed_cidrs", nil, "must name the upstreams that send PROXY headers (a list of CIDRs)")
		}
		for i, c := range ap.AllowedCIDRs {
			if _, err := netip.ParsePrefix(c); err != nil {
				p.add(fmt.Sprintf("%s.allowed_cidrs[%d]", apath, i), c, "must be an IPv4 or IPv6 CIDR, like 192.0.2.0/24")
			}
		}
	}
	if l.HSTSMaxAge != nil || l.HSTSIncludeSubdomain != nil || l.HSTSPreload != nil {
		p.add(path, nil, "hsts_max_age, hsts_include_subdomains and hsts_preload (Octavia 13) are not supported by lbd yet")
	}
	l.validateTLS(p, path)
}

// amphoraAlgorithms are the algorithms provider "amphora" takes.
var amphoraAlgorithms = []Algorithm{AlgorithmRoundRobin, AlgorithmLeastConnections, AlgorithmSourceIP}

// lbdPoolProtocols are the pool protocols lbd's data plane speaks to members.
var lbdPoolProtocols = []Protocol{ProtocolHTTP, ProtocolHTTPS, ProtocolTCP, ProtocolProxy, ProtocolProxyV2}

func (pool *Pool) validate(p *problems, path string, lb *LoadBalancer) {
	checkID(p, path, pool.ID)
	checkLen(p, path+".name", pool.Name)
	checkLen(p, path+".description", pool.Description)
	checkTags(p, path, pool.Tags)
	switch {
	case pool.Protocol == "":
		p.missing(path + ".protocol")
	case !contains(PoolProtocols, pool.Protocol):
		p.add(path+".protocol", pool.Protocol, "must be one of %s", joinEnum(PoolProtocols))
	case !contains(lbdPoolProtocols, pool.Protocol):
		p.add(path+".protocol", pool.Protocol, "is not supported by lbd (supported: %s)", joinEnum(lbdPoolProtocols))
	}
	switch {
	case pool.LBAlgorithm == "":
		p.missing(path + ".lb_algorithm")
	case !contains(Algorithms, pool.LBAlgorithm) && lb != nil && lb.Provider == ProviderAmphora:
		p.add(path+".lb_algorithm", pool.LBAlgorithm, "must be one of %s (provider %q; provider %q adds %s)",
			joinEnum(amphoraAlgorithms), ProviderAmphora, ProviderLBD, AlgorithmSourceIPPort)
	case !contains(Algorithms, pool.LBAlgorithm):
		p.add(path+".lb_algorithm", pool.LBAlgorithm, "must be one of %s", joinEnum(Algorithms))
	case pool.LBAlgorithm == AlgorithmSourceIPPort && lb != nil && lb.Provider == ProviderAmphora:
		p.add(path+".lb_algorithm", pool.LBAlgorithm, "provider 'amphora' does not support this option (Octavia answers 501); set the load balancer's provider to %q to use it", ProviderLBD)
	}
	if sp := pool.SessionPersistence; sp != nil {
		sp.validate(p, path+".session_persistence", pool.Protocol)
	}
	pool.validateTLS(p, path)
	seen := map[string]int{}
	for i, m := range pool.Members {
		mpath := fmt.Sprintf("%s.members[%d]", path, i)
		if m == nil {
			p.missing(mpath)
			continue
		}
		m.validate(p, mpath)
		if m.Address != "" && m.ProtocolPort != 0 {
			key := normalAddr(m.Address) + "/" + fmt.Sprint(m.ProtocolPort)
			if j, dup := seen[key]; dup {
				p.add(mpath, m.Address+":"+fmt.Sprint(m.ProtocolPort), "another member of this pool (members[%d]) already has this address and protocol_port", j)
			} else {
				seen[key] = i
			}
		}
	}
	if pool.HealthMonitor != nil {
		pool.HealthMonitor.validate(p, path+".healthmonitor", pool.Protocol)
	}
}

func (m *Member) validate(p *problems, path string) {
	checkID(p, path, m.ID)
	checkLen(p, path+".name", m.Name)
	checkTags(p, path, m.Tags)
	if m.Address == "" {
		p.missing(path + ".address")
	} else if _, err := netip.ParseAddr(m.Address); err != nil {
		p.add(path+".address", m.Address, "must be an IPv4 or IPv6 address")
	}
	checkPort(p, path+".protocol_port", m.ProtocolPort)
	if m.Weight != nil && (*m.Weight < 0 || *m.Weight > 256) {
		p.add(path+".weight", *m.Weight, "must be between 0 and 256 (0 drains the member)")
	}
	if m.MonitorAddress != "" {
		if _, err := netip.ParseAddr(m.MonitorAddress); err != nil {
			p.add(path+".monitor_address", m.MonitorAddress, "must be an IPv4 or IPv6 address")
		}
	}
	if m.MonitorPort != nil && (*m.MonitorPort < 1 || *m.MonitorPort > 65535) {
		p.add(path+".monitor_port", *m.MonitorPort, "must be between 1 and 65535")
	}
}

var (
	urlPathRE   = regexp.MustCompile(`^/[\x21-\x7e]*$`)
	hostnameRE  = regexp.MustCompile(`^(?i:[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.(?i:[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?))*\.?$`)
	lbdMonitors = []MonitorType{MonitorHTTP, MonitorHTTPS, MonitorPING, MonitorTCP, MonitorTLSHello, MonitorUDPConnect}
)

func (h *HealthMonitor) validate(p *problems, path string, poolProtocol Protocol) {
	checkID(p, path, h.ID)
	checkLen(p, path+".name", h.Name)
	checkTags(p, path, h.Tags)
	switch {
	case h.Type == "":
		p.missing(path + ".type")
	case !contains(MonitorTypes, h.Type):
		p.add(path+".type", h.Type, "must be one of %s", joinEnum(MonitorTypes))
	case !contains(lbdMonitors, h.Type):
		p.add(path+".type", h.Type, "is not supported by lbd (supported: %s)", joinEnum(lbdMonitors))
	}
	udpPool := poolProtocol == ProtocolUDP || poolProtocol == ProtocolSCTP
	if h.Type != "" && poolProtocol != "" {
		if udpPool && !contains([]MonitorType{MonitorUDPConnect, MonitorSCTP, MonitorTCP, MonitorHTTP}, h.Type) {
			p.add(path+".type", h.Type, "is not allowed for a %s pool (allowed: UDP-CONNECT, SCTP, TCP, HTTP)", poolProtocol)
		}
		if !udpPool && (h.Type == MonitorUDPConnect || h.Type == MonitorSCTP) {
			p.add(path+".type", h.Type, "is not allowed for a %s pool (UDP-CONNECT and SCTP monitors need a UDP or SCTP pool)", poolProtocol)
		}
	}
	if h.Delay == nil {
		p.missing(path + ".delay")
	} else if *h.Delay < 0 {
		p.add(path+".delay", *h.Delay, "must be 0 or greater (seconds between probes)")
	} else if h.Type == MonitorUDPConnect && *h.Delay < 3 {
		p.add(path+".delay", *h.Delay, "must be at least 3 seconds for UDP-CONNECT monitors")
	}
	if h.Timeout == nil {
		p.missing(path + ".timeout")
	} else if *h.Timeout < 0 {
		p.add(path+".timeout", *h.Timeout, "must be 0 or greater (seconds)")
	}
	if h.MaxRetries == 0 {
		p.missing(path + ".max_retries")
	} else if h.MaxRetries < 1 || h.MaxRetries > 10 {
		p.add(path+".max_retries", h.MaxRetries, "must be between 1 and 10")
	}
	if h.MaxRetriesDown != nil && (*h.MaxRetriesDown < 1 || *h.MaxRetriesDown > 10) {
		p.add(path+".max_retries_down", *h.MaxRetriesDown, "must be between 1 and 10")
	}
	if !h.Type.IsHTTP() {
		for _, f := range []struct {
			name string
			set  bool
		}{
			{"http_method", h.HTTPMethod != ""}, {"url_path", h.URLPath != ""},
			{"expected_codes", h.ExpectedCodes != ""}, {"http_version", h.HTTPVersion != nil},
			{"domain_name", h.DomainName != ""},
		} {
			if f.set && h.Type != "" {
				p.add(path+"."+f.name, nil, "is not a valid option for health monitors of type %s", h.Type)
			}
		}
		return
	}
	if h.HTTPMethod != "" && !contains(HTTPMethods, h.HTTPMethod) {
		p.add(path+".http_method", h.HTTPMethod, "must be one of %s", strings.Join(HTTPMethods, ", "))
	}
	if h.URLPath != "" && !urlPathRE.MatchString(h.URLPath) {
		p.add(path+".url_path", h.URLPath, "must be a URL path starting with '/' (no spaces or control characters)")
	}
	if h.ExpectedCodes != "" {
		if _, err := ParseExpectedCodes(h.ExpectedCodes); err != nil {
			p.add(path+".expected_codes", h.ExpectedCodes, "%v", err)
		}
	}
	if h.HTTPVersion != nil && *h.HTTPVersion != 1.0 && *h.HTTPVersion != 1.1 {
		p.add(path+".http_version", h.HTTPVersion, "must be 1.0 or 1.1")
	}
	if h.DomainName != "" {
		if len(h.DomainName) > 255 || !hostnameRE.MatchString(h.DomainName) {
			p.add(path+".domain_name", h.DomainName, "must be an RFC 1123 host name of 1 to 255 characters")
		}
		if h.HTTPVersion == nil || *h.HTTPVersion != 1.1 {
			p.add(path+".domain_name", h.DomainName, "needs http_version 1.1")
		}
	}
}

var uuidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$`)

func checkID(p *problems, path, id string) {
	if id != "" && !uuidRE.MatchString(id) {
		p.add(path+".id", id, "must be a UUID")
	}
}

func checkLen(p *problems, path, s string) {
	if len(s) > 255 {
		p.add(path, s[:20]+"...", "must be at most 255 characters (has %d)", len(s))
	}
}

func checkTags(p *problems, path string, tags []string) {
	for i, t := range tags {
		if len(t) > 255 {
			p.add(fmt.Sprintf("%s.tags[%d]", path, i), t[:20]+"...", "must be at most 255 characters")
		}
	}
}

func checkPort(p *problems, path string, port int) {
	if port == 0 {
		p.missing(path)
	} else if port < 1 || port > 65535 {
		p.add(path, port, "must be between 1 and 65535")
	}
}

func joinEnum[T ~string](list []T) string {
	s := make([]string, len(list))
	for i, v := range list {
		s[i] = string(v)
	}
	return strings.Join(s, ", ")
}

func normalAddr(s string) string {
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap().String()
	}
	return s
}

// badCookieName is what Octavia's check_session_persistence refuses in a
// cookie_name: controls, space and the separators "(),/:;<=>?@[\]{}.
func badCookieName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= 0x20 || c == '"' || c == '(' || c == ')' || c == ',' || c == '/' || (c >= ':' && c <= '@') ||
			(c >= '[' && c <= ']') || c == '{' || c == '}' || c == 0x7f {
			return true
		}
	}
	return false
}

// validate checks a pool's session_persistence as Octavia's pool create
// does, in its order and with its messages: WSME's field checks, the
// UDP/SCTP rules, then check_session_persistence.
func (sp *SessionPersistence) validate(p *problems, path string, protocol Protocol) {
	switch {
	case sp.Type == "":
		p.missing(path + ".type")
		return
	case !contains(PersistenceTypes, sp.Type):
		p.enum(path+".type", string(sp.Type), joinEnum(PersistenceTypes))
		return
	}
	if sp.CookieName != "" {
		if len(sp.CookieName) > 255 {
			p.wsme(path+".cookie_name", sp.CookieName, "Value should have a maximum character requirement of 255")
			return
		}
		if strings.ContainsFunc(sp.CookieName, func(r rune) bool { return unicode.IsSpace(r) || r == ',' || r == ';' || r == '\\' }) {
			p.wsme(path+".cookie_name", sp.CookieName, `Value should match the pattern ^[^\s,;\\]+$`)
			return
		}
	}
	if g := sp.PersistenceGranularity; g != "" {
		if _, err := netip.ParseAddr(g); err != nil {
			p.wsme(path+".persistence_granularity", g, "Value should be IPv4 or IPv6 format")
			return
		}
	}
	if protocol == ProtocolUDP || protocol == ProtocolSCTP {
		switch {
		case sp.Type == PersistenceSourceIP && sp.CookieName != "":
			p.octavia(400, path, nil, "Validation failure: session_persistence SOURCE_IP type for UDP and SCTP protocols only accepts: type, persistence_timeout, persistence_granularity.")
		case sp.CookieName != "":
			p.octavia(400, path+".cookie_name", sp.CookieName, "Validation failure: Cookie names are not supported for UDP/SCTP pools.")
		case sp.Type != PersistenceSourceIP:
			p.octavia(400, path+".type", sp.Type, fmt.Sprintf("Validation failure: Session persistence of type %s is not supported for UDP/SCTP protocol pools.", sp.Type))
		}
		if len(p.list) > 0 {
			return
		}
	} else if IntOr(sp.PersistenceTimeout, 0) != 0 || sp.PersistenceGranularity != "" {
		p.octavia(400, path, nil, "Validation failure: persistence_timeout and persistence_granularity is only for UDP and SCTP protocol pools.")
		return
	}
	switch {
	case sp.CookieName != "" && sp.Type != PersistenceAppCookie:
		p.octavia(400, path+".cookie_name", sp.CookieName, `Validation failure: Field "cookie_name" can only be specified with session persistence of type "APP_COOKIE".`)
	case sp.CookieName != "" && badCookieName(sp.CookieName):
		p.octavia(400, path+".cookie_name", sp.CookieName, `Validation failure: Supplied "cookie_name" is invalid.`)
	case sp.Type == PersistenceAppCookie && sp.CookieName == "":
		p.octavia(400, path+".cookie_name", nil, `Validation failure: Field "cookie_name" must be specified when using the "APP_COOKIE" session persistence type.`)
	}
}
