package health

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"time"
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
	// DefaultConnectTimeout bounds the connect of a Config without a
	// ConnectTimeout: 5s, as Octavia's default timeout_member_connect.
	DefaultConnectTimeout = 5 * time.Second
)

// Type is a monitor type: how a member is probed. The zero Type is no
// monitor at all.
type Type uint8

// Monitor types, one per Checker.
const (
	TypeNone       Type = iota // no monitor: nothing is probed
	TypeTCP                    // TCPChecker
	TypeHTTP                   // HTTPChecker
	TypeHTTPS                  // HTTPChecker with TLS
	TypeTLSHello               // TLSHelloChecker
	TypeUDPConnect             // UDPChecker
	TypePing                   // PingChecker
)

// typeNames spell the types as Octavia and HAProxy do, for logs and
// metric labels.
var typeNames = [...]string{
	TypeNone: "", TypeTCP: "TCP", TypeHTTP: "HTTP", TypeHTTPS: "HTTPS",
	TypeTLSHello: "TLS-HELLO", TypeUDPConnect: "UDP-CONNECT", TypePing: "PING",
}

// String returns the type's name as Octavia spells it ("TLS-HELLO"), or ""
// for TypeNone.
func (t Type) String() string {
	if int(t) < len(typeNames) {
		return typeNames[t]
	}
	return "Type(" + strconv.Itoa(int(t)) + ")"
}

// Config is a pool's health monitor in Go units, plus lbd's passive health
// settings. The zero Config means "no health monitor": no probes, members
// report StatusNoMonitor, and only passive health (on by default) can take a
// member out. Config is comparable, so callers can tell whether it changed.
//
// Config takes plain values and checks only what it needs to run: the
// ranges of the monitor's fields are the API model's rules, checked there.
// Out of range, Rise and Fall below 1 act as 1 and a negative Delay or
// Timeout as 0.
type Config struct {
	// Type is the monitor type; TypeNone means the pool has no monitor.
	Type Type
	// Disabled is admin_state_up=false. A disabled monitor probes nothing and
	// its members report StatusNoMonitor: Octavia then renders no "check" for
	// the servers, so HAProxy reports "no check" and keeps them in rotation.
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
	// empty ExpectedCodes means 200.
	HTTPMethod    string
	URLPath       string
	ExpectedCodes Codes
	HTTPVersion   string
	DomainName    string
	// Ping selects the ICMP socket kind for PING monitors.
	Ping PingMode
	// Passive configures ejection on live-traffic failures.
	Passive Passive
}

// active reports whether the config asks for probes.
func (c *Config) active() bool { return c.Type != TypeNone && !c.Disabled }

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
		if c.Type >= Type(len(typeNames)) {
			errs = append(errs, fmt.Errorf("type %s: not a monitor type", c.Type))
		}
		if (c.Type == TypeHTTP || c.Type == TypeHTTPS) && c.HTTPVersion != "" && c.HTTPVersion != "1.0" && c.HTTPVersion != "1.1" {
			errs = append(errs, fmt.Errorf("http_version %q: must be 1.0 or 1.1", c.HTTPVersion))
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
	case TypeTCP:
		return &TCPChecker{Timeouts: t}, nil
	case TypeHTTP, TypeHTTPS:
		expect := c.ExpectedCodes
		if expect == (Codes{}) {
			expect.Add(200, 200)
		}
		return &HTTPChecker{
			Timeouts: t, TLS: c.Type == TypeHTTPS,
			Method: c.HTTPMethod, Path: c.URLPath, Version: c.HTTPVersion, Host: c.DomainName,
			Expect: expect,
		}, nil
	case TypeTLSHello:
		return &TLSHelloChecker{Timeouts: t}, nil
	case TypeUDPConnect:
		return &UDPChecker{Timeouts: t}, nil
	case TypePing:
		p, err := NewPingChecker(c.Ping)
		if err != nil {
			return nil, err
		}
		p.Timeouts = t
		return p, nil
	}
	return nil, fmt.Errorf("type %s: not supported", c.Type)
}

// Target is one member as the monitor sees it.
type Target struct {
	// ID identifies the member across updates; it is what report receives.
	ID string
	// Name is the member's name, for log lines; "" when it has none.
	Name string
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
