package health

import (
	"errors"
	"fmt"
	"net/netip"
	"time"

	"lbd/internal/octavia"
)

// Defaults and limits of the probe schedule.
const (
	// ZeroDelayInterval is the interval used for a monitor whose delay is 0.
	// Octavia accepts delay 0 but HAProxy rejects "inter 0", so the amphora
	// would fail to load such a config; lbd probes once a second instead of
	// spinning.
	ZeroDelayInterval = time.Second
	// minInterval is a floor against busy loops for sub-second intervals,
	// which only Go callers (tests) can ask for.
	minInterval = 10 * time.Millisecond
	// DefaultConnectTimeout is Octavia's timeout_member_connect (5000 ms).
	DefaultConnectTimeout = octavia.DefaultTimeoutMemberConnect * time.Millisecond
)

// Config is a pool's health monitor in Go units, plus lbd's passive health
// settings. The zero Config means "no health monitor": no probes, members
// report NO_MONITOR, and only passive health (on by default) can take a
// member out. Config is comparable, so callers can tell whether it changed.
type Config struct {
	// Type is the monitor type; empty means the pool has no monitor.
	Type octavia.MonitorType
	// Disabled is admin_state_up=false. A disabled monitor probes nothing and
	// its members report NO_MONITOR: Octavia then renders no "check" for the
	// servers, so HAProxy reports "no check" and keeps them in rotation.
	Disabled bool
	// Delay is the interval between probes of one member. 0 means
	// ZeroDelayInterval.
	Delay time.Duration
	// Timeout bounds a probe's response phase after the connect. 0 means that
	// Delay bounds the whole probe, as HAProxy does without "timeout check".
	Timeout time.Duration
	// ConnectTimeout is the listener's timeout_member_connect; the connect
	// phase is bounded by min(ConnectTimeout, Delay). 0 means
	// DefaultConnectTimeout.
	ConnectTimeout time.Duration
	// Rise is max_retries: consecutive passing probes that bring a down
	// member back up.
	Rise int
	// Fall is max_retries_down: consecutive failing probes that take an up
	// member down.
	Fall int
	// HTTPMethod, URLPath, ExpectedCodes, HTTPVersion ("1.0" or "1.1") and
	// DomainName configure HTTP and HTTPS monitors; see HTTPChecker. An
	// empty ExpectedCodes means Octavia's default, 200.
	HTTPMethod    string
	URLPath       string
	ExpectedCodes octavia.StatusSet
	HTTPVersion   string
	DomainName    string
	// Ping selects the ICMP socket kind for PING monitors.
	Ping PingMode
	// Passive configures ejection on live-traffic failures.
	Passive Passive
}

// ConfigFromOctavia converts a pool's health monitor, defaults already set
// (see octavia.HealthMonitor.SetDefaults), into a Config. hm may be nil (no
// monitor). timeoutMemberConnectMS is the listener's timeout_member_connect
// in milliseconds, 0 for Octavia's default. Passive is left at its defaults.
func ConfigFromOctavia(hm *octavia.HealthMonitor, timeoutMemberConnectMS int) (Config, error) {
	var c Config
	c.ConnectTimeout = time.Duration(timeoutMemberConnectMS) * time.Millisecond
	if hm == nil {
		return c, nil
	}
	c.Type = hm.Type
	c.Disabled = !hm.Enabled()
	c.Delay = time.Duration(octavia.IntOr(hm.Delay, 0)) * time.Second
	c.Timeout = time.Duration(octavia.IntOr(hm.Timeout, 0)) * time.Second
	c.Rise = hm.MaxRetries
	c.Fall = octavia.IntOr(hm.MaxRetriesDown, octavia.DefaultMaxRetriesDown)
	if hm.Type.IsHTTP() {
		c.HTTPMethod = orDefault(hm.HTTPMethod, octavia.DefaultHTTPMethod)
		c.URLPath = orDefault(hm.URLPath, octavia.DefaultURLPath)
		codes, err := octavia.ParseExpectedCodes(orDefault(hm.ExpectedCodes, octavia.DefaultExpectedCodes))
		if err != nil {
			return c, fmt.Errorf("healthmonitor.expected_codes %q: %w", hm.ExpectedCodes, err)
		}
		c.ExpectedCodes = codes
		c.HTTPVersion = "1.0"
		if hm.HTTPVersion != nil && *hm.HTTPVersion == 1.1 {
			c.HTTPVersion = "1.1"
		}
		c.DomainName = hm.DomainName
	}
	return c, c.validate()
}

// active reports whether the config asks for probes.
func (c *Config) active() bool { return c.Type != "" && !c.Disabled }

// interval is the effective delay between probes.
func (c *Config) interval() time.Duration {
	switch {
	case c.Delay <= 0:
		return ZeroDelayInterval
	case c.Delay < minInterval:
		return minInterval
	}
	return c.Delay
}

// timeouts returns the phase bounds and the bound of the whole probe.
func (c *Config) timeouts() (Timeouts, time.Duration) {
	delay := c.interval()
	connect := c.ConnectTimeout
	if connect <= 0 {
		connect = DefaultConnectTimeout
	}
	connect = min(connect, delay)
	if c.Timeout <= 0 {
		return Timeouts{Connect: connect, Response: delay}, delay
	}
	return Timeouts{Connect: connect, Response: c.Timeout}, connect + c.Timeout
}

func (c *Config) validate() error {
	var errs []error
	if c.active() {
		switch c.Type {
		case octavia.MonitorHTTP, octavia.MonitorHTTPS, octavia.MonitorPING, octavia.MonitorTCP,
			octavia.MonitorTLSHello, octavia.MonitorUDPConnect:
		default:
			errs = append(errs, fmt.Errorf("healthmonitor.type %q: lbd supports HTTP, HTTPS, PING, TCP, TLS-HELLO and UDP-CONNECT", c.Type))
		}
		if c.Rise < 1 || c.Rise > 10 {
			errs = append(errs, fmt.Errorf("healthmonitor.max_retries %d: must be between 1 and 10", c.Rise))
		}
		if c.Fall < 1 || c.Fall > 10 {
			errs = append(errs, fmt.Errorf("healthmonitor.max_retries_down %d: must be between 1 and 10", c.Fall))
		}
		if c.Delay < 0 {
			errs = append(errs, fmt.Errorf("healthmonitor.delay %s: must not be negative", c.Delay))
		}
		if c.Timeout < 0 {
			errs = append(errs, fmt.Errorf("healthmonitor.timeout %s: must not be negative", c.Timeout))
		}
		if c.Type.IsHTTP() && c.HTTPVersion != "" && c.HTTPVersion != "1.0" && c.HTTPVersion != "1.1" {
			errs = append(errs, fmt.Errorf("healthmonitor.http_version %q: must be 1.0 or 1.1", c.HTTPVersion))
		}
	}
	if err := c.Passive.validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// newChecker builds the checker for an active config.
func (c *Config) newChecker() (Checker, error) {
	t, _ := c.timeouts()
	switch c.Type {
	case octavia.MonitorTCP:
		return &TCPChecker{Timeouts: t}, nil
	case octavia.MonitorHTTP, octavia.MonitorHTTPS:
		expect := c.ExpectedCodes
		if expect == (octavia.StatusSet{}) {
			expect, _ = octavia.ParseExpectedCodes(octavia.DefaultExpectedCodes)
		}
		return &HTTPChecker{
			Timeouts: t, TLS: c.Type == octavia.MonitorHTTPS,
			Method: c.HTTPMethod, Path: c.URLPath, Version: c.HTTPVersion, Host: c.DomainName,
			Expect: expect,
		}, nil
	case octavia.MonitorTLSHello:
		return &TLSHelloChecker{Timeouts: t}, nil
	case octavia.MonitorUDPConnect:
		return &UDPChecker{Timeouts: t}, nil
	case octavia.MonitorPING:
		p, err := NewPingChecker(c.Ping)
		if err != nil {
			return nil, err
		}
		p.Timeouts = t
		return p, nil
	}
	return nil, fmt.Errorf("healthmonitor.type %q: not supported", c.Type)
}

// Target is one member as the monitor sees it.
type Target struct {
	// ID identifies the member across updates; it is what report receives.
	ID string
	// Addr is the member's address and protocol_port.
	Addr netip.AddrPort
	// MonitorAddr and MonitorPort are monitor_address and monitor_port;
	// zero values mean "use Addr's".
	MonitorAddr netip.Addr
	MonitorPort uint16
	// Enabled is admin_state_up. A disabled member is not probed and reports
	// OFFLINE, as HAProxy's "disabled" (MAINT) servers are not checked.
	Enabled bool
	// Weight is the member's weight; 0 reports DRAINING. Probes continue.
	Weight int
}

// ProbeAddr is where probes go: Addr, overridden by MonitorAddr/MonitorPort.
func (t Target) ProbeAddr() netip.AddrPort {
	addr, port := t.Addr.Addr(), t.Addr.Port()
	if t.MonitorAddr.IsValid() {
		addr = t.MonitorAddr
	}
	if t.MonitorPort != 0 {
		port = t.MonitorPort
	}
	return netip.AddrPortFrom(addr, port)
}

// TargetFromOctavia converts a member, defaults already set.
func TargetFromOctavia(m *octavia.Member) (Target, error) {
	addr, err := netip.ParseAddr(m.Address)
	if err != nil {
		return Target{}, fmt.Errorf("member %s address %q: %w", m.ID, m.Address, err)
	}
	if m.ProtocolPort < 1 || m.ProtocolPort > 65535 {
		return Target{}, fmt.Errorf("member %s protocol_port %d: must be between 1 and 65535", m.ID, m.ProtocolPort)
	}
	t := Target{
		ID:      m.ID,
		Addr:    netip.AddrPortFrom(addr.Unmap(), uint16(m.ProtocolPort)),
		Enabled: m.Enabled(),
		Weight:  octavia.IntOr(m.Weight, octavia.DefaultWeight),
	}
	if m.MonitorAddress != "" {
		ma, err := netip.ParseAddr(m.MonitorAddress)
		if err != nil {
			return Target{}, fmt.Errorf("member %s monitor_address %q: %w", m.ID, m.MonitorAddress, err)
		}
		t.MonitorAddr = ma.Unmap()
	}
	if m.MonitorPort != nil {
		if *m.MonitorPort < 1 || *m.MonitorPort > 65535 {
			return Target{}, fmt.Errorf("member %s monitor_port %d: must be between 1 and 65535", m.ID, *m.MonitorPort)
		}
		t.MonitorPort = uint16(*m.MonitorPort)
	}
	return t, nil
}
