package ha_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"lbd/internal/netnstest"
	"lbd/internal/statestore/etcdstore"
	"lbd/internal/statestore/etcdstore/etcdtest"
)

// The lab: lbd instances, each in a network namespace of its own with two
// interfaces, eth0 on the data network (VRRP, the VIP, clients, members)
// and ctl0 on the control network (etcd, the API); a real etcd in a
// namespace on the control network; a client namespace and a members
// namespace on the data network. Every lbd runs its own real keepalived.
//
//	data 10.91.0.0/24: lbN .1N, client .50, members .60, VIP .100
//	ctl  10.92.0.0/24: lbN .1N, etcd .2
const (
	vip       = "10.91.0.100"
	etcdHost  = "10.92.0.2"
	apiToken  = "ha-test-token"
	etcdPfx   = "/lbd"
	adminAddr = "127.0.0.1:9102"
)

// labConfig is the config file every instance is given: an
// ACTIVE_STANDBY load balancer on the VIP, and a SINGLE one on every
// instance's own address (its listeners show what each data plane serves).
const labConfig = `
loadbalancers:
  - name: web
    vip_address: ` + vip + `
    topology: ACTIVE_STANDBY
    listeners:
      - name: http
        protocol: HTTP
        protocol_port: 80
        default_pool:
          name: members
          protocol: HTTP
          lb_algorithm: ROUND_ROBIN
          healthmonitor: {type: HTTP, delay: 1, timeout: 1, max_retries: 1, url_path: /}
          members:
            - {name: m1, address: 10.91.0.60, protocol_port: 8081}
            - {name: m2, address: 10.91.0.60, protocol_port: 8082}
  - name: direct
    vip_address: 0.0.0.0
    pools:
      - name: direct-members
        protocol: HTTP
        lb_algorithm: ROUND_ROBIN
        members:
          - {name: d1, address: 10.91.0.60, protocol_port: 8081}
    listeners:
      - name: direct-http
        protocol: HTTP
        protocol_port: 8000
        default_pool: {name: direct-members}
`

type lab struct {
	t       *testing.T
	net     *netnstest.Lab
	ctlNS   *netnstest.NS // etcd's, and where the test calls the APIs from
	client  *netnstest.NS
	members *netnstest.NS
	etcd    *etcdtest.Server
	bin     string
	lbctl   string
	cfgPath string
	nodes   []*node
	extra   []string // more flags for every lbd
	port    int      // the last port given to a listener a test added
}

// nextPort is a port for a listener a test adds.
func (l *lab) nextPort() int {
	l.port++
	return 9000 + l.port
}

type node struct {
	lab   *lab
	name  string
	ns    *netnstest.NS
	ip    string // data
	ctlIP string
	dir   string
	mu    sync.Mutex
	cmd   *exec.Cmd
	done  <-chan struct{}
	logs  *logBuffer
	http  *http.Client // from the control network
}

// logBuffer collects a process's output.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// binaries builds lbd and lbctl once per test process, into one
// directory.
var binaries = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "lbd-ha-bin")
	if err != nil {
		return "", err
	}
	// One go build for both: they compile and link in parallel.
	if out, err := exec.Command("go", "build", "-o", dir+"/", "lbd/cmd/lbd", "lbd/cmd/lbctl").CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build lbd lbctl: %v\n%s", err, out)
	}
	return dir, nil
})

func needTool(t *testing.T, name, pkg, env string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		if os.Getenv(env) == "1" {
			t.Skipf("%s not installed and %s=1", name, env)
		}
		t.Fatalf("%s not found: install Debian's %s package (make test does: scripts/ensure-deps.sh test)", name, pkg)
	}
}

// newLab builds the networks, starts etcd and the members, and starts n
// lbd instances; it returns once one of them holds the VIP.
func newLab(t *testing.T, n int, extra ...string) *lab {
	t.Helper()
	needTool(t, "keepalived", "keepalived", "LBD_SKIP_KEEPALIVED")
	etcdtest.Binary(t)
	nl := netnstest.New(t)
	dir, err := binaries()
	if err != nil {
		t.Fatal(err)
	}
	l := &lab{t: t, net: nl, bin: filepath.Join(dir, "lbd"), lbctl: filepath.Join(dir, "lbctl"), extra: extra}
	hub := nl.NS("hub")
	nl.Bridge(hub, "data")
	nl.Bridge(hub, "ctl")
	l.ctlNS = nl.NS("etcd")
	nl.Plug(l.ctlNS, "ctl0", etcdHost+"/24", hub, "ctl")
	l.client = nl.NS("client")
	nl.Plug(l.client, "eth0", "10.91.0.50/24", hub, "data")
	l.members = nl.NS("members")
	nl.Plug(l.members, "eth0", "10.91.0.60/24", hub, "data")
	for i := range n {
		name := fmt.Sprintf("lb%d", i+1)
		nd := &node{lab: l, name: name, ns: nl.NS(name), ip: fmt.Sprintf("10.91.0.%d", 11+i), ctlIP: fmt.Sprintf("10.92.0.%d", 11+i),
			dir: t.TempDir(), logs: &logBuffer{}}
		nl.Plug(nd.ns, "eth0", nd.ip+"/24", hub, "data")
		nl.Plug(nd.ns, "ctl0", nd.ctlIP+"/24", hub, "ctl")
		nd.http = l.ctlNS.HTTPClient(10*time.Second, false)
		l.nodes = append(l.nodes, nd)
	}
	l.etcd = etcdtest.Start(t, etcdtest.Options{Host: etcdHost, Wrap: []string{"ip", "netns", "exec", l.ctlNS.Name},
		Client: etcdstore.Config{Dialer: func(ctx context.Context, addr string) (net.Conn, error) {
			return l.ctlNS.DialContext(ctx, "tcp", addr)
		}}})
	for _, port := range []int{8081, 8082} {
		ln, err := l.members.Listen("tcp", fmt.Sprintf("10.91.0.60:%d", port))
		if err != nil {
			t.Fatal(err)
		}
		name := fmt.Sprintf("m%d", port-8080)
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			host, _, _ := net.SplitHostPort(r.RemoteAddr)
			fmt.Fprintf(w, "%s via %s\n", name, host)
		})}
		go srv.Serve(ln)
		t.Cleanup(func() { srv.Close() })
	}
	l.cfgPath = filepath.Join(t.TempDir(), "lbd.yaml")
	if err := os.WriteFile(l.cfgPath, []byte(labConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, nd := range l.nodes {
		nd.start(t)
	}
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		for _, nd := range l.nodes {
			var lines []string
			for line := range strings.SplitSeq(nd.logs.String(), "\n") {
				if strings.Contains(line, "keepalived") || strings.Contains(line, "--- start") || strings.Contains(line, `"level":"ERROR"`) {
					lines = append(lines, line)
				}
			}
			t.Logf("%s's keepalived and error lines:\n%s", nd.name, tail(strings.Join(lines, "\n"), 8000))
		}
	})
	l.waitMaster(t)
	return l
}

// start runs the instance's lbd and waits until its API answers; the lab
// kills it at the end.
func (nd *node) start(t *testing.T) {
	t.Helper()
	args := []string{"--config", nd.lab.cfgPath,
		"--state", "etcd://" + etcdHost + ":2379" + etcdPfx, "--instance-name", nd.name,
		"--vrrp-interface", "eth0", "--keepalived-dir", filepath.Join(nd.dir, "keepalived"),
		"--api-addr", nd.ctlIP + ":9876", "--admin-addr", adminAddr, "--state-dir", "none",
		"--heartbeat-interval", "1s", "--heartbeat-timeout", "3s",
		"--connection-logging=false", "--drain-timeout", "1s", "--shutdown-timeout", "2s"}
	args = append(args, nd.lab.extra...)
	cmd := nd.ns.Command(nd.lab.bin, args...)
	cmd.Env = append(os.Environ(), "LBD_API_TOKEN="+apiToken)
	fmt.Fprintf(nd.logs, "--- start %s\n", time.Now().Format(time.RFC3339Nano))
	cmd.Stdout, cmd.Stderr = nd.logs, nd.logs
	done, err := netnstest.Start(cmd)
	if err != nil {
		t.Fatal(err)
	}
	nd.mu.Lock()
	nd.cmd, nd.done = cmd, done
	nd.mu.Unlock()
	nd.lab.t.Cleanup(func() { nd.kill() })
	netnstest.WaitFor(t, nd.name+"'s API", 20*time.Second, func() bool {
		select {
		case <-done:
			t.Fatalf("%s exited at start:\n%s", nd.name, nd.logs.String())
		default:
		}
		code, _, err := nd.call("GET", "/", nil)
		return err == nil && code == http.StatusOK
	})
}

// kill ends lbd with SIGKILL (its keepalived gets SIGTERM from the
// kernel) and waits for both.
func (nd *node) kill() time.Time {
	nd.mu.Lock()
	cmd, done := nd.cmd, nd.done
	nd.cmd = nil
	nd.mu.Unlock()
	if cmd == nil {
		return time.Time{}
	}
	at := time.Now()
	cmd.Process.Signal(syscall.SIGKILL)
	<-done
	return at
}

// call sends an API request from the control network.
func (nd *node) call(method, path string, body any) (int, map[string]any, error) {
	var rd io.Reader
	if body != nil {
		data, _ := json.Marshal(body)
		rd = bytes.NewReader(data)
	}
	req, _ := http.NewRequest(method, "http://"+nd.ctlIP+":9876"+path, rd)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Auth-Token", apiToken)
	resp, err := nd.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	var m map[string]any
	json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m, nil
}

func (nd *node) must(t *testing.T, want int, method, path string, body any) map[string]any {
	t.Helper()
	code, m, err := nd.call(method, path, body)
	if err != nil || code != want {
		t.Fatalf("%s: %s %s: %d %v %v, want %d\nlogs:\n%s", nd.name, method, path, code, m, err, want, tail(nd.logs.String(), 3000))
	}
	return m
}

// holdsVIP reports whether the VIP is on the instance's eth0.
func (nd *node) holdsVIP() bool {
	out, _ := nd.ns.Run("ip", "-o", "addr", "show", "dev", "eth0")
	return strings.Contains(string(out), vip+"/32")
}

// running reports whether the instance's lbd runs.
func (nd *node) running() bool {
	nd.mu.Lock()
	defer nd.mu.Unlock()
	return nd.cmd != nil
}

// waitMaster waits until exactly one running instance holds the VIP and
// returns it.
func (l *lab) waitMaster(t *testing.T) *node {
	t.Helper()
	var m *node
	netnstest.WaitFor(t, "one instance to hold the VIP", 30*time.Second, func() bool {
		m = nil
		holders := 0
		for _, nd := range l.nodes {
			if nd.running() && nd.holdsVIP() {
				holders++
				m = nd
			}
		}
		return holders == 1
	})
	return m
}

// get asks addr (host:port) from the client namespace; the body names the
// member and the lbd instance that forwarded the request ("m1 via
// 10.91.0.11").
func (l *lab) get(c *http.Client, addr string) (string, error) {
	resp, err := c.Get("http://" + addr + "/")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s: %s", resp.Status, body)
	}
	return strings.TrimSpace(string(body)), nil
}

// tool is an etcd client from the control network, as etcdctl would be.
func (l *lab) tool(t *testing.T) *etcdstore.Client {
	t.Helper()
	c, err := etcdstore.Dial(context.Background(), l.etcd.Config(etcdPfx))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}
