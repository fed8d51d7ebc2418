package proxy

import (
	"bufio"
	"context"
	"errors"
	"net"
	"net/http"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestFreebindActiveStandby: the listeners of an ACTIVE_STANDBY load
// balancer bind its VIP before the address is on the machine (as on the
// standby, before keepalived moves the VIP to it) and serve the moment it
// arrives; a SINGLE load balancer on that address is refused, naming the
// bind error. In a network namespace of its own, so the address is the
// test's.
func TestFreebindActiveStandby(t *testing.T) {
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("the ip command is needed to add the VIP in a test network namespace")
	}
	const tmpl = `
loadbalancers:
  - name: lb1
    vip_address: 192.0.2.10
    topology: {{.}}
    listeners:
      - {name: l1, protocol: HTTP, protocol_port: 8080, default_pool: {name: p1, protocol: HTTP, lb_algorithm: ROUND_ROBIN}}
`
	errc := make(chan error, 1)
	go func() {
		// Never unlocked: the thread, and the namespace with it, go when
		// the goroutine ends.
		runtime.LockOSThread()
		if err := syscall.Unshare(syscall.CLONE_NEWNET); err != nil {
			errc <- skipErr{err}
			return
		}
		errc <- func() error {
			if out, err := exec.Command("ip", "link", "set", "lo", "up").CombinedOutput(); err != nil {
				return errors.New("ip link set lo up: " + string(out))
			}
			rt := New(testLogger(t), Options{DrainTimeout: time.Second})
			defer rt.Shutdown(context.Background())
			err := rt.Apply(context.Background(), config(t, tmpl, "SINGLE"))
			if err == nil || !strings.Contains(err.Error(), "192.0.2.10:8080") || !strings.Contains(err.Error(), "cannot assign requested address") {
				return errors.New("SINGLE on an address the machine does not have: got " + errString(err) + ", want the bind error naming the address")
			}
			if err := rt.Apply(context.Background(), config(t, tmpl, "ACTIVE_STANDBY")); err != nil {
				return errors.New("ACTIVE_STANDBY before the VIP is here: " + err.Error())
			}
			if out, err := exec.Command("ip", "addr", "add", "192.0.2.10/32", "dev", "lo").CombinedOutput(); err != nil {
				return errors.New("ip addr add: " + string(out))
			}
			c, err := net.DialTimeout("tcp", "192.0.2.10:8080", 5*time.Second)
			if err != nil {
				return errors.New("the VIP arrived but its listener does not answer: " + err.Error())
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(5 * time.Second))
			c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				return errors.New("no HTTP answer on the VIP: " + err.Error())
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusServiceUnavailable {
				return errors.New("the pool has no member: want 503, got " + resp.Status)
			}
			return nil
		}()
	}()
	err := <-errc
	var skip skipErr
	if errors.As(err, &skip) {
		t.Skipf("cannot create a network namespace (needs CAP_SYS_ADMIN): %v", skip.err)
	}
	if err != nil {
		t.Fatal(err)
	}
}

type skipErr struct{ err error }

func (e skipErr) Error() string { return e.err.Error() }

func errString(err error) string {
	if err == nil {
		return "no error"
	}
	return err.Error()
}
