package health

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"time"

	probing "github.com/prometheus-community/pro-bing"
)

// PingMode selects the kind of ICMP socket a PingChecker uses.
type PingMode int

// Ping modes.
const (
	// PingAuto uses an unprivileged socket when the kernel allows it and a
	// raw socket otherwise.
	PingAuto PingMode = iota
	// PingUnprivileged uses a datagram ICMP socket ("ping socket"), which
	// Linux grants to the groups in net.ipv4.ping_group_range. The kernel
	// hands each socket only its own replies.
	PingUnprivileged
	// PingPrivileged uses a raw ICMP socket: root or CAP_NET_RAW.
	PingPrivileged
)

func (m PingMode) String() string {
	switch m {
	case PingUnprivileged:
		return "unprivileged"
	case PingPrivileged:
		return "privileged"
	}
	return "auto"
}

// PingChecker sends one ICMP echo request and passes when the matching reply
// arrives within the response timeout (Octavia type PING; the amphora runs
// "ping -c 1" from an HAProxy external check). The target's port is ignored.
type PingChecker struct {
	Timeouts
	privileged bool
}

// NewPingChecker returns a PingChecker after making sure this process may
// open the ICMP socket it needs. PingAuto prefers the unprivileged datagram
// socket: it needs no capability, and the kernel demultiplexes replies per
// socket, where every raw socket sees every ICMP packet of the host. When
// neither kind can be opened the error says why and how to fix it.
func NewPingChecker(mode PingMode) (*PingChecker, error) {
	var errU, errP error
	if mode != PingPrivileged {
		if errU = trySocket(syscall.SOCK_DGRAM); errU == nil {
			return &PingChecker{}, nil
		}
	}
	if mode != PingUnprivileged {
		if errP = trySocket(syscall.SOCK_RAW); errP == nil {
			return &PingChecker{privileged: true}, nil
		}
	}
	var why []string
	if errU != nil {
		why = append(why, fmt.Sprintf("unprivileged ICMP sockets are not allowed for group %d (net.ipv4.ping_group_range = %q): %v",
			os.Getgid(), pingGroupRange(), errU))
	}
	if errP != nil {
		why = append(why, fmt.Sprintf("raw ICMP sockets need root or CAP_NET_RAW: %v", errP))
	}
	return nil, fmt.Errorf("PING health monitor cannot open an ICMP socket (%s); fix: run `sysctl -w net.ipv4.ping_group_range=\"0 2147483647\"`, "+
		"or give lbd CAP_NET_RAW (`setcap cap_net_raw+ep <lbd binary>`, or AmbientCapabilities=CAP_NET_RAW in its systemd unit)",
		strings.Join(why, "; "))
}

// Privileged reports whether the checker uses raw sockets.
func (c *PingChecker) Privileged() bool { return c.privileged }

// Check implements Checker.
func (c *PingChecker) Check(ctx context.Context, target netip.AddrPort) error {
	p := probing.New("")
	p.SetIPAddr(&net.IPAddr{IP: target.Addr().AsSlice(), Zone: target.Addr().Zone()})
	p.SetPrivileged(c.privileged)
	p.SetLogger(probing.NoopLogger{}) // its default logger is the global log package
	p.Count = 1
	wait := time.Second // the amphora's ping-wrapper.sh waits one second
	if dl := c.responseDeadline(ctx); !dl.IsZero() {
		wait = time.Until(dl)
	}
	if wait <= 0 {
		return errors.New("no time left for an echo request")
	}
	p.Timeout = wait
	err := p.RunWithContext(ctx)
	if p.Statistics().PacketsRecv > 0 {
		return nil
	}
	switch {
	case err == nil || isTimeout(err):
		return fmt.Errorf("no echo reply within %s", wait.Round(time.Millisecond))
	case errors.Is(err, context.Canceled):
		return errors.New("check cancelled")
	}
	return errors.New("ping: " + rootCause(err))
}

// trySocket opens and closes an IPv4 ICMP socket of the given type.
func trySocket(typ int) error {
	fd, err := syscall.Socket(syscall.AF_INET, typ|syscall.SOCK_CLOEXEC, syscall.IPPROTO_ICMP)
	if err != nil {
		return err
	}
	syscall.Close(fd)
	return nil
}

func pingGroupRange() string {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ping_group_range")
	if err != nil {
		return "unknown"
	}
	return strings.Join(strings.Fields(string(b)), " ")
}
