package ha_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"lbd/internal/netnstest"
)

// keptConn is one client connection kept open (HTTP keep-alive) across
// changes: each get sends a request on it and reads the answer.
type keptConn struct {
	addr string
	c    net.Conn
	br   *bufio.Reader
}

func (l *lab) keep(t *testing.T, addr string) *keptConn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := l.client.DialContext(ctx, "tcp", addr)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	k := &keptConn{addr: addr, c: c, br: bufio.NewReader(c)}
	if _, err := k.get(); err != nil {
		t.Fatalf("first request on a kept connection to %s: %v", addr, err)
	}
	return k
}

// get sends a request on the kept connection; an error means that the
// connection was dropped (or the answer was not a 200).
func (k *keptConn) get() (string, error) {
	k.c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(k.c, "GET / HTTP/1.1\r\nHost: ha-test\r\n\r\n"); err != nil {
		return "", err
	}
	resp, err := http.ReadResponse(k.br, nil)
	if err != nil {
		return "", err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s: %s", resp.Status, body)
	}
	if resp.Close {
		return "", fmt.Errorf("the answer closes the connection")
	}
	return strings.TrimSpace(string(body)), nil
}

// changesKeepTraffic: API changes applied by every instance, and changes
// that reload every keepalived (an ACTIVE_STANDBY load balancer with a VIP
// of its own created, then deleted), drop no established connection, fail
// no request of a steady load through the VIP, and do not move the VIP.
func (l *lab) changesKeepTraffic(t *testing.T) {
	t.Helper()
	master := l.waitMaster(t)
	conns := []*keptConn{l.keep(t, vip+":80")}
	for _, nd := range l.nodes {
		conns = append(conns, l.keep(t, nd.ip+":8000"))
	}
	var ok atomic.Int64
	stop := l.load(10*time.Millisecond, &ok)
	stopped := false
	defer func() {
		if !stopped {
			stop()
		}
	}()
	check := func(after string) {
		t.Helper()
		for _, k := range conns {
			if _, err := k.get(); err != nil {
				t.Errorf("after %s: the connection to %s established before was dropped: %v", after, k.addr, err)
			}
		}
		if !master.holdsVIP() {
			t.Errorf("after %s: the VIP left the MASTER %s", after, master.name)
		}
	}
	served := func(what, addr string) {
		t.Helper()
		c := l.client.HTTPClient(time.Second, false)
		netnstest.WaitFor(t, what, 15*time.Second, func() bool {
			_, err := l.get(c, addr)
			return err == nil
		})
	}

	// A change every instance applies to the listeners the connections
	// are on, and to a member they reach.
	webListener, membersPool := l.listenerID(t, "http"), l.poolID(t, "members")
	l.nodes[1].must(t, http.StatusOK, "PUT", "/v2/lbaas/listeners/"+webListener, map[string]any{"listener": map[string]any{"description": "changed under traffic"}})
	l.nodes[2].must(t, http.StatusOK, "PUT", "/v2/lbaas/listeners/"+l.listenerID(t, "direct-http"), map[string]any{"listener": map[string]any{"description": "changed under traffic"}})
	var m1 string
	for _, m := range l.nodes[0].must(t, http.StatusOK, "GET", "/v2/lbaas/pools/"+membersPool+"/members?name=m1", nil)["members"].([]any) {
		m1 = m.(map[string]any)["id"].(string)
	}
	l.nodes[0].must(t, http.StatusOK, "PUT", "/v2/lbaas/pools/"+membersPool+"/members/"+m1, map[string]any{"member": map[string]any{"weight": 2}})
	l.waitRevision(t, "state/lb/"+l.lbID(t, "web"))
	check("changes to listeners and a member")

	// keepalived reloaded everywhere: an ACTIVE_STANDBY load balancer
	// with a VIP of its own (topology from a flavor, as in Octavia).
	fp := l.nodes[0].must(t, http.StatusCreated, "POST", "/v2/lbaas/flavorprofiles", map[string]any{"flavorprofile": map[string]any{
		"name": "ha-as", "provider_name": "amphora", "flavor_data": `{"loadbalancer_topology": "ACTIVE_STANDBY"}`}})["flavorprofile"].(map[string]any)["id"]
	fl := l.nodes[0].must(t, http.StatusCreated, "POST", "/v2/lbaas/flavors", map[string]any{"flavor": map[string]any{
		"name": "ha-as", "flavor_profile_id": fp}})["flavor"].(map[string]any)["id"]
	reloads := l.reloads()
	lb := l.nodes[1].must(t, http.StatusCreated, "POST", "/v2/lbaas/loadbalancers", map[string]any{"loadbalancer": map[string]any{
		"name": "second", "vip_subnet_id": "8ced0346-1b20-4993-b175-66a23fc579f3", "vip_address": vip2, "flavor_id": fl,
		"listeners": []any{map[string]any{"name": "second-http", "protocol": "HTTP", "protocol_port": 80,
			"default_pool": map[string]any{"name": "second-members", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
				"members": []any{map[string]any{"address": "10.91.0.60", "protocol_port": 8081}}}}}}})["loadbalancer"].(map[string]any)["id"].(string)
	served("the second VIP to answer", vip2+":80")
	if out, _ := master.ns.Run("ip", "-o", "addr", "show", "dev", "eth0"); !strings.Contains(string(out), vip2+"/32") {
		t.Errorf("the second VIP is not on the MASTER %s with the first", master.name)
	}
	l.waitReloaded(t, reloads)
	check("every keepalived reloaded for a new VIP")

	reloads = l.reloads()
	l.nodes[2].must(t, http.StatusNoContent, "DELETE", "/v2/lbaas/loadbalancers/"+lb+"?cascade=true", nil)
	netnstest.WaitFor(t, "the second VIP to leave the MASTER", 15*time.Second, func() bool {
		out, _ := master.ns.Run("ip", "-o", "addr", "show", "dev", "eth0")
		return !strings.Contains(string(out), vip2+"/32")
	})
	l.waitReloaded(t, reloads)
	check("every keepalived reloaded for a VIP removed")

	stopped = true
	res := stop()
	failed := 0
	for _, r := range res {
		if r.err != nil {
			failed++
			t.Errorf("a request through the VIP failed during the changes (started %s): %v", r.start.Format(time.StampMilli), r.err)
		}
	}
	t.Logf("%d requests through the VIP during the changes, %d failed; %d kept connections served throughout", len(res), failed, len(conns))
}

// vip2 is the VIP of a second ACTIVE_STANDBY load balancer a test creates.
const vip2 = "10.91.0.101"

// reloads counts, per instance, the keepalived reloads it logged.
func (l *lab) reloads() []int {
	var n []int
	for _, nd := range l.nodes {
		n = append(n, strings.Count(nd.logs.String(), "keepalived reloading its configuration"))
	}
	return n
}

// waitReloaded waits until every running instance logged a reload more
// than in before.
func (l *lab) waitReloaded(t *testing.T, before []int) {
	t.Helper()
	for i, nd := range l.nodes {
		if !nd.running() {
			continue
		}
		netnstest.WaitFor(t, nd.name+"'s keepalived to reload", 15*time.Second, func() bool {
			return strings.Count(nd.logs.String(), "keepalived reloading its configuration") > before[i]
		})
	}
}

// waitRevision waits until every running instance serves the revision
// of key (under the prefix) or a later one.
func (l *lab) waitRevision(t *testing.T, key string) {
	t.Helper()
	_, rev, err := l.tool(t).Get(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	for _, nd := range l.nodes {
		if !nd.running() {
			continue
		}
		netnstest.WaitFor(t, nd.name+" to take the last revision", 10*time.Second, func() bool {
			rep, ok := l.instanceRecord(t, nd.name)
			return ok && rep.Revision >= rev
		})
	}
}

// killEach kills -9, one at a time, each kind of process while API
// changes are being acknowledged, and checks that every acknowledged
// change is served by every instance afterwards: a BACKUP's lbd and the
// MASTER's (changes made through the instance killed), etcd (changes
// through another instance), the MASTER's keepalived (changes through
// that instance, traffic through the VIP).
func (l *lab) killEach(t *testing.T) {
	t.Helper()
	lbID := l.lbID(t, "direct")
	pool := l.nodes[0].must(t, http.StatusCreated, "POST", "/v2/lbaas/pools", map[string]any{"pool": map[string]any{
		"loadbalancer_id": lbID, "name": "acked", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"}})["pool"].(map[string]any)["id"].(string)
	var acked []string
	seq := 0
	// write adds members through nd, one after the other, until one is
	// not acknowledged or stop is closed; it returns the acknowledged.
	write := func(nd *node, n *atomic.Int64, stop <-chan struct{}) (done func() []string) {
		var mu sync.Mutex
		var out []string
		fin := make(chan struct{})
		go func() {
			defer close(fin)
			for {
				select {
				case <-stop:
					return
				default:
				}
				seq++
				name := fmt.Sprintf("acked-%d", seq)
				code, _, err := nd.call("POST", "/v2/lbaas/pools/"+pool+"/members", map[string]any{"member": map[string]any{
					"name": name, "address": "10.91.0.60", "protocol_port": 20000 + seq}})
				if err != nil || code != http.StatusCreated {
					return
				}
				mu.Lock()
				out = append(out, name)
				mu.Unlock()
				n.Add(1)
			}
		}()
		return func() []string { <-fin; mu.Lock(); defer mu.Unlock(); return out }
	}
	verify := func(what string) {
		t.Helper()
		for _, nd := range l.nodes {
			if !nd.running() {
				continue
			}
			var missing []string
			netnstest.WaitFor(t, nd.name+" to serve every change acknowledged before "+what, 15*time.Second, func() bool {
				code, m, err := nd.call("GET", "/v2/lbaas/pools/"+pool+"/members", nil)
				if err != nil || code != http.StatusOK {
					return false
				}
				have := map[string]bool{}
				for _, x := range m["members"].([]any) {
					have[x.(map[string]any)["name"].(string)] = true
				}
				missing = missing[:0]
				for _, name := range acked {
					if !have[name] {
						missing = append(missing, name)
					}
				}
				return len(missing) == 0
			})
		}
		t.Logf("%s: all %d acknowledged changes served by every instance", what, len(acked))
	}
	killDuring := func(through *node, kill func()) {
		t.Helper()
		var n atomic.Int64
		stop := make(chan struct{})
		done := write(through, &n, stop)
		netnstest.WaitFor(t, "10 changes acknowledged through "+through.name, 20*time.Second, func() bool { return n.Load() >= 10 })
		kill()
		close(stop)
		got := done()
		if len(got) < 10 {
			t.Fatalf("only %d changes acknowledged", len(got))
		}
		acked = append(acked, got...)
	}

	// An lbd: a BACKUP, then the MASTER, each killed while acknowledging.
	for _, role := range []string{"BACKUP", "MASTER"} {
		master := l.waitMaster(t)
		victim := master
		if role == "BACKUP" {
			for _, nd := range l.nodes {
				if nd != master && nd.running() {
					victim = nd
					break
				}
			}
		}
		killDuring(victim, func() { victim.kill() })
		verify("the kill -9 of the " + role + "'s lbd")
		victim.start(t)
		verify(victim.name + "'s restart")
	}

	// etcd (this lab's only member: etcd acknowledges a write once it
	// is on its disk).
	killDuring(l.nodes[0], func() { l.etcd.Kill() })
	l.etcd.Restart()
	verify("etcd's kill -9")

	// The MASTER's keepalived: lbd starts it again; the VIP is served
	// by one instance after it.
	master := l.waitMaster(t)
	var ok atomic.Int64
	stopLoad := l.load(10*time.Millisecond, &ok)
	netnstest.WaitFor(t, "requests answered through the VIP", 10*time.Second, func() bool { return ok.Load() >= 20 })
	old := keepalivedPid(t, master)
	var killed time.Time
	killDuring(master, func() {
		killed = time.Now()
		if err := syscall.Kill(old, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
	})
	netnstest.WaitFor(t, master.name+"'s keepalived started again", 15*time.Second, func() bool {
		p := keepalivedPid(t, master)
		return p != 0 && p != old
	})
	after := ok.Load()
	netnstest.WaitFor(t, "the VIP to answer again", 15*time.Second, func() bool { return ok.Load() >= after+50 })
	now := l.waitMaster(t)
	res := stopLoad()
	failed := 0
	for _, r := range res {
		if r.err != nil && r.start.After(killed) {
			failed++
		}
	}
	t.Logf("kill -9 of the MASTER's keepalived: started again; VIP on %s; %d of the requests since failed", now.name, failed)
	verify("the kill -9 of the MASTER's keepalived")
}

// keepalivedPid is the pid of the keepalived lbd runs in nd (0 if none).
func keepalivedPid(t *testing.T, nd *node) int {
	t.Helper()
	nd.mu.Lock()
	cmd := nd.cmd
	nd.mu.Unlock()
	if cmd == nil {
		return 0
	}
	lbd := strconv.Itoa(cmd.Process.Pid)
	procs, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, p := range procs {
		data, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		s := string(data)
		i := strings.LastIndexByte(s, ')')
		if i < 0 || !strings.Contains(s[:i], "(keepalived") {
			continue
		}
		f := strings.Fields(s[i+2:])
		if len(f) > 1 && f[1] == lbd {
			pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(p)))
			return pid
		}
	}
	return 0
}
