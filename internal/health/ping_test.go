package health

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

var loopback = netip.MustParseAddrPort("127.0.0.1:0")

func TestPingPrivileged(t *testing.T) {
	c, err := NewPingChecker(PingPrivileged)
	if err != nil {
		if os.Geteuid() != 0 {
			t.Skipf("raw ICMP sockets need root or CAP_NET_RAW: %v", err)
		}
		t.Fatalf("NewPingChecker as root: %v", err)
	}
	if !c.Privileged() {
		t.Fatal("PingPrivileged gave an unprivileged checker")
	}
	c.Timeouts.Response = 2 * time.Second
	start := time.Now()
	if err := c.Check(checkCtx(t), loopback); err != nil {
		t.Fatalf("ping 127.0.0.1: %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("ping 127.0.0.1 took %s", d)
	}
}

// inNetns runs fn on a thread of its own in a new network namespace, with
// lo up, and returns fn's error. The thread is never unlocked, so the
// runtime discards it, and the namespace with it, when fn returns. Sockets
// fn opens on that thread, and the /proc/sys/net files it opens, belong to
// the new namespace; the host's sysctls are never touched.
func inNetns(t *testing.T, fn func() error) error {
	t.Helper()
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("the ip command is needed to bring lo up in a test network namespace")
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := syscall.Unshare(syscall.CLONE_NEWNET); err != nil {
			errc <- errSkip{fmt.Errorf("cannot create a network namespace (needs CAP_SYS_ADMIN): %w", err)}
			return
		}
		// A child forked from this locked thread inherits its namespace.
		if out, err := exec.Command("ip", "link", "set", "lo", "up").CombinedOutput(); err != nil {
			errc <- errors.New("ip link set lo up: " + err.Error() + ": " + string(out))
			return
		}
		errc <- fn()
	}()
	err := <-errc
	skipIfUnavailable(t, err)
	return err
}

// skipIfUnavailable skips the test, on its own goroutine (t.Skip on
// another would hang it), when err says that what it needs is missing.
func skipIfUnavailable(t *testing.T, err error) {
	t.Helper()
	var skip errSkip
	if errors.As(err, &skip) {
		t.Skip(skip.err)
	}
}

type errSkip struct{ err error }

func (e errSkip) Error() string { return e.err.Error() }

func setPingGroupRange(v string) error {
	return os.WriteFile("/proc/sys/net/ipv4/ping_group_range", []byte(v), 0o644)
}

func TestPingUnprivileged(t *testing.T) {
	err := inNetns(t, func() error {
		// A new namespace starts with ping_group_range "1 0": nobody may.
		if err := setPingGroupRange("1 0"); err != nil {
			return err
		}
		_, err := NewPingChecker(PingUnprivileged)
		if err == nil {
			return errors.New("NewPingChecker(PingUnprivileged) succeeded with ping_group_range \"1 0\"")
		}
		for _, want := range []string{"net.ipv4.ping_group_range = \"1 0\"", "sysctl -w net.ipv4.ping_group_range", "CAP_NET_RAW"} {
			if !strings.Contains(err.Error(), want) {
				return errors.New("error does not mention " + want + ": " + err.Error())
			}
		}
		// Auto falls back to a raw socket (we are root).
		if c, err := NewPingChecker(PingAuto); err != nil || !c.Privileged() {
			return errors.New("PingAuto did not fall back to a raw socket")
		}

		gid := strconv.Itoa(os.Getgid())
		if err := setPingGroupRange(gid + " " + gid); err != nil {
			return err
		}
		c, err := NewPingChecker(PingAuto)
		if err != nil {
			return err
		}
		if c.Privileged() {
			return errors.New("PingAuto chose a raw socket although ping sockets are allowed")
		}
		c.Timeouts.Response = 2 * time.Second
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := c.Check(ctx, loopback); err != nil {
			return errors.New("unprivileged ping 127.0.0.1: " + err.Error())
		}
		// lo down: the echo request cannot leave.
		if out, err := exec.Command("ip", "link", "set", "lo", "down").CombinedOutput(); err != nil {
			return errors.New("ip link set lo down: " + string(out))
		}
		c.Timeouts.Response = 300 * time.Millisecond
		err = c.Check(ctx, loopback)
		if err == nil {
			return errors.New("ping with lo down passed")
		}
		t.Logf("ping with lo down: %v", err)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
