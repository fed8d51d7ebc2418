package ha_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"lbd/internal/ha"
	"lbd/internal/netnstest"
)

// result is one request of the steady load.
type result struct {
	start, end time.Time
	body       string
	err        error
}

// load sends a GET to the VIP every interval from the client namespace,
// each on a new connection, until stop; it returns every result. ok counts
// the requests answered so far.
func (l *lab) load(interval time.Duration, ok *atomic.Int64) (stop func() []result) {
	c := l.client.HTTPClient(5*time.Second, false)
	var mu sync.Mutex
	var out []result
	var wg sync.WaitGroup
	done, ticking := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(ticking)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := result{start: time.Now()}
				r.body, r.err = l.get(c, vip+":80")
				r.end = time.Now()
				if r.err == nil {
					ok.Add(1)
				}
				mu.Lock()
				out = append(out, r)
				mu.Unlock()
			}()
		}
	}()
	return func() []result {
		close(done)
		<-ticking // no wg.Add after this: Wait may start
		wg.Wait()
		mu.Lock()
		defer mu.Unlock()
		slices.SortFunc(out, func(a, b result) int { return a.start.Compare(b.start) })
		return out
	}
}

// instanceRecord reads an instance's live record from etcd.
func (l *lab) instanceRecord(t *testing.T, name string) (ha.Report, bool) {
	data, _, err := l.tool(t).Get(context.Background(), "instances/"+name)
	var rep ha.Report
	if err != nil || data == nil || json.Unmarshal(data, &rep) != nil {
		return rep, false
	}
	return rep, true
}

// kill is one kill -9 of the MASTER under load, measured.
type kill struct {
	failover time.Duration // until the VIP answered from the new MASTER
	failed   int           // requests that failed
	sent     int
	late     int // failed requests that started after the kill's window
}

// killMaster kills the MASTER's lbd under a steady load and measures how
// long until the VIP answers from another instance, and what failed.
func (l *lab) killMaster(t *testing.T) (kill, *node) {
	t.Helper()
	return l.failover(t, func(m *node) time.Time { return m.kill() })
}

// failover does something to the MASTER under a steady load (fail
// returns when) and measures how long until the VIP answers from another
// instance, and what failed.
func (l *lab) failover(t *testing.T, fail func(master *node) time.Time) (kill, *node) {
	t.Helper()
	master := l.waitMaster(t)
	var ok atomic.Int64
	stop := l.load(10*time.Millisecond, &ok)
	// Steady load through the master first.
	netnstest.WaitFor(t, "50 requests answered through the master", 15*time.Second, func() bool { return ok.Load() >= 50 })
	at := fail(master)
	var next *node
	netnstest.WaitFor(t, "another instance to take the VIP", 15*time.Second, func() bool {
		for _, nd := range l.nodes {
			if nd != master && nd.running() && nd.holdsVIP() {
				next = nd
				return true
			}
		}
		return false
	})
	// Load goes on until 50 more requests were answered (through the new
	// master: the old one is dead).
	after := ok.Load()
	netnstest.WaitFor(t, "50 requests answered after the switch", 15*time.Second, func() bool { return ok.Load() >= after+50 })
	res := stop()
	k := kill{failover: -1}
	for _, r := range res {
		k.sent++
		if r.err != nil {
			k.failed++
			// A request started after keepalived gave the VIP up (well
			// within 200 ms of the kill) must not fail: it waits for the
			// new MASTER's gratuitous ARP, then gets it.
			if r.start.After(at.Add(200 * time.Millisecond)) {
				k.late++
				t.Logf("late failure: started %s after the kill: %v", r.start.Sub(at).Round(time.Millisecond), r.err)
			}
			continue
		}
		if r.start.After(at) && strings.HasSuffix(r.body, "via "+next.ip) {
			if d := r.end.Sub(at); k.failover < 0 || d < k.failover {
				k.failover = d
			}
		}
	}
	return k, master
}

// TestHA runs the shared state and ACTIVE_STANDBY for real: three lbd
// instances with their keepalived in network namespaces, a real etcd,
// clients and members (see lab_test.go).
func TestHA(t *testing.T) {
	l := newLab(t, 3)

	t.Run("Roles", func(t *testing.T) {
		// lbctl status, from the control network, shows each instance's
		// role as Octavia's amphora list does: the one holding the VIP is
		// the MASTER.
		master := l.waitMaster(t)
		netnstest.WaitFor(t, "lbctl status to show one MASTER, the VIP's holder, and two BACKUPs", 15*time.Second, func() bool {
			out, err := l.ctlNS.Run(l.lbctl, "status", "web", "--endpoint", "http://"+l.nodes[1].ctlIP+":9876", "--token", apiToken)
			if err != nil {
				t.Fatalf("lbctl status: %v\n%s", err, out)
			}
			var masters, backups []string
			for line := range strings.SplitSeq(string(out), "\n") {
				f := strings.Fields(line)
				if len(f) == 6 && f[0] == "amphora" {
					switch f[4] {
					case "MASTER":
						masters = append(masters, f[2])
					case "BACKUP":
						backups = append(backups, f[2])
					}
				}
			}
			if len(masters) == 1 && masters[0] == master.ip && len(backups) == 2 {
				t.Logf("lbctl status web:\n%s", out)
				return true
			}
			return false
		})
	})

	t.Run("Propagation", func(t *testing.T) {
		// A listener added through one instance's API is served by every
		// instance's data plane within a second.
		lats := l.propagate(t, 3)
		for _, d := range lats {
			if d > time.Second {
				t.Errorf("an API change took %s to be served by every instance, want under 1 s", d)
			}
		}
	})

	t.Run("ChangesKeepTraffic", func(t *testing.T) { l.changesKeepTraffic(t) })

	t.Run("HealthShared", func(t *testing.T) {
		// A member only one instance cannot reach is ERROR in every
		// instance's API; once that instance is silent past the
		// heartbeat timeout, it is no longer counted.
		l.healthShared(t)
	})

	t.Run("RaceAndMalformed", func(t *testing.T) { l.raceAndMalformed(t) })

	t.Run("EtcdDownAndBack", func(t *testing.T) { l.etcdDownAndBack(t) })

	t.Run("Partition", func(t *testing.T) { l.partition(t) })

	t.Run("KillEach", func(t *testing.T) { l.killEach(t) })

	t.Run("KillMaster", func(t *testing.T) {
		k, _ := l.killMaster(t)
		t.Logf("kill -9 of the MASTER: VIP answered from the BACKUP after %s; %d of %d requests failed", k.failover.Round(time.Millisecond), k.failed, k.sent)
		if k.failover < 0 || k.failover > 3*time.Second {
			t.Errorf("failover took %s, want under 3 s (Octavia's defaults: advert_int 1 s)", k.failover)
		}
		if k.late > 0 {
			t.Errorf("%d requests started after the VIP moved failed; only those in flight on the dead instance may", k.late)
		}
	})
}

// propagate adds listeners through node 0's API n times and returns, for
// each, how long after the API answered every instance served it.
func (l *lab) propagate(t *testing.T, n int) []time.Duration {
	t.Helper()
	lbID := l.lbID(t, "direct")
	poolID := l.poolID(t, "direct-members")
	var lats []time.Duration
	for i := range n {
		port := l.nextPort()
		body := map[string]any{"listener": map[string]any{"loadbalancer_id": lbID, "protocol": "HTTP", "protocol_port": port,
			"name": fmt.Sprintf("added-%d", port), "default_pool_id": poolID}}
		l.nodes[i%len(l.nodes)].must(t, http.StatusCreated, "POST", "/v2/lbaas/listeners", body)
		acked := time.Now()
		c := l.client.HTTPClient(time.Second, false)
		var worst time.Duration
		for _, nd := range l.nodes {
			if !nd.running() {
				continue
			}
			addr := nd.ip + ":" + strconv.Itoa(port)
			for {
				if _, err := l.get(c, addr); err == nil {
					break
				}
				if time.Since(acked) > 10*time.Second {
					t.Fatalf("%s does not serve the listener on %d 10 s after the API answered", nd.name, port)
				}
				time.Sleep(2 * time.Millisecond) // polling the data plane
			}
			if d := time.Since(acked); d > worst {
				worst = d
			}
		}
		lats = append(lats, worst)
	}
	return lats
}

// lbID finds a load balancer by name through node 0's API.
func (l *lab) lbID(t *testing.T, name string) string {
	t.Helper()
	for _, lb := range l.nodes[0].must(t, http.StatusOK, "GET", "/v2/lbaas/loadbalancers?name="+name, nil)["loadbalancers"].([]any) {
		return lb.(map[string]any)["id"].(string)
	}
	t.Fatalf("no load balancer %s", name)
	return ""
}

func (l *lab) poolID(t *testing.T, name string) string {
	t.Helper()
	for _, p := range l.nodes[0].must(t, http.StatusOK, "GET", "/v2/lbaas/pools?name="+name, nil)["pools"].([]any) {
		return p.(map[string]any)["id"].(string)
	}
	t.Fatalf("no pool %s", name)
	return ""
}

func (l *lab) memberStatus(t *testing.T, nd *node, poolID, name string) string {
	t.Helper()
	for _, m := range nd.must(t, http.StatusOK, "GET", "/v2/lbaas/pools/"+poolID+"/members?name="+name, nil)["members"].([]any) {
		return m.(map[string]any)["operating_status"].(string)
	}
	t.Fatalf("no member %s", name)
	return ""
}

// healthShared cuts one instance off from member m2 (a route to nowhere
// in its namespace): every instance's API says m2 is ERROR; when that
// instance is killed, the others count it no more after the heartbeat
// timeout, and m2 is ONLINE again; then the instance comes back.
func (l *lab) healthShared(t *testing.T) {
	t.Helper()
	poolID := l.poolID(t, "members")
	var cut *node
	for _, nd := range l.nodes {
		if !nd.holdsVIP() {
			cut = nd
			break
		}
	}
	for _, nd := range l.nodes {
		if s := l.memberStatus(t, nd, poolID, "m2"); s != "ONLINE" {
			t.Fatalf("%s: m2 is %s before the cut, want ONLINE", nd.name, s)
		}
	}
	// m2's port only: the instance reaches m1, not m2.
	cut.ns.MustRun("ip", "route", "add", "blackhole", "10.91.0.60/32")
	cut.ns.MustRun("ip", "route", "add", "10.91.0.60/32", "dev", "eth0", "table", "100")
	cut.ns.MustRun("ip", "rule", "add", "to", "10.91.0.60", "ipproto", "tcp", "dport", "8081", "lookup", "100", "priority", "100")
	defer func() {
		cut.ns.Run("ip", "rule", "del", "priority", "100")
		cut.ns.Run("ip", "route", "del", "blackhole", "10.91.0.60/32")
	}()
	for _, nd := range l.nodes {
		netnstest.WaitFor(t, nd.name+"'s API to say m2 is ERROR", 15*time.Second, func() bool {
			return l.memberStatus(t, nd, poolID, "m2") == "ERROR"
		})
	}
	// Silent: killed. Its lease ends after the heartbeat timeout (3 s).
	killed := cut.kill()
	other := l.nodes[0]
	if other == cut {
		other = l.nodes[1]
	}
	netnstest.WaitFor(t, other.name+" to stop counting the silent instance", 15*time.Second, func() bool {
		return l.memberStatus(t, other, poolID, "m2") == "ONLINE"
	})
	t.Logf("the silent instance was no longer counted %s after it died (heartbeat timeout 3 s)", time.Since(killed).Round(100*time.Millisecond))
	cut.ns.Run("ip", "rule", "del", "priority", "100")
	cut.ns.Run("ip", "route", "del", "blackhole", "10.91.0.60/32")
	cut.start(t)
	netnstest.WaitFor(t, cut.name+" to be a BACKUP again", 20*time.Second, func() bool {
		rep, ok := l.instanceRecord(t, cut.name)
		return ok && rep.VRRPState == "BACKUP"
	})
}

// raceAndMalformed: concurrent changes to one load balancer through two
// instances: the losers get 409, and every instance ends with a winner's
// value; a value under the prefix that lbd cannot read is refused by every
// instance, each logging the key.
func (l *lab) raceAndMalformed(t *testing.T) {
	t.Helper()
	id := l.lbID(t, "direct")
	var wg sync.WaitGroup
	var mu sync.Mutex
	codes := map[int]int{}
	won := map[string]bool{}
	for i := range 20 {
		nd := l.nodes[i%2]
		wg.Add(1)
		go func() {
			defer wg.Done()
			desc := fmt.Sprintf("race-%d", i)
			code, _, err := nd.call("PUT", "/v2/lbaas/loadbalancers/"+id, map[string]any{"loadbalancer": map[string]any{"description": desc}})
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				t.Errorf("%s: %v", nd.name, err)
				return
			}
			codes[code]++
			if code == http.StatusOK {
				won[desc] = true
			}
		}()
	}
	wg.Wait()
	t.Logf("20 concurrent updates: %v", codes)
	if codes[http.StatusOK] == 0 || codes[http.StatusOK]+codes[http.StatusConflict] != 20 {
		t.Fatalf("answers %v: want 200s and 409s only, some 200", codes)
	}
	_, rev, _ := l.tool(t).Get(context.Background(), "state/lb/"+id)
	var final string
	for _, nd := range l.nodes {
		netnstest.WaitFor(t, nd.name+" to take the last revision", 10*time.Second, func() bool {
			rep, ok := l.instanceRecord(t, nd.name)
			return ok && rep.Revision >= rev
		})
		desc, _ := nd.must(t, http.StatusOK, "GET", "/v2/lbaas/loadbalancers/"+id, nil)["loadbalancer"].(map[string]any)["description"].(string)
		if !won[desc] || (final != "" && desc != final) {
			t.Errorf("%s holds description %q; acknowledged: %v; others hold %q", nd.name, desc, won, final)
		}
		final = desc
	}

	// Something else writes garbage under the prefix.
	bad := "state/lb/" + id
	good, _, err := l.tool(t).Get(context.Background(), bad)
	if err != nil {
		t.Fatal(err)
	}
	badRev, err := l.tool(t).Put(context.Background(), bad, []byte(`{"loadbalancer": `))
	if err != nil {
		t.Fatal(err)
	}
	for _, nd := range l.nodes {
		netnstest.WaitFor(t, nd.name+" to log the refused key", 10*time.Second, func() bool {
			logs := nd.logs.String()
			return strings.Contains(logs, `"key":"lb/`+id+`"`) && strings.Contains(logs, fmt.Sprintf(`"revision":%d`, badRev))
		})
		desc, _ := nd.must(t, http.StatusOK, "GET", "/v2/lbaas/loadbalancers/"+id, nil)["loadbalancer"].(map[string]any)["description"].(string)
		if desc != final {
			t.Errorf("%s: description %q after the bad value, want %q kept", nd.name, desc, final)
		}
		if _, err := l.get(l.client.HTTPClient(2*time.Second, false), nd.ip+":8000"); err != nil {
			t.Errorf("%s stopped serving after the bad value: %v", nd.name, err)
		}
	}
	// The load balancer's key is not what the instances hold: a change
	// to it is refused (409) until the key is repaired, as an operator
	// would, with the last good record.
	l.nodes[0].must(t, http.StatusConflict, "PUT", "/v2/lbaas/loadbalancers/"+id, map[string]any{"loadbalancer": map[string]any{"description": "x"}})
	fixRev, err := l.tool(t).Put(context.Background(), bad, good)
	if err != nil {
		t.Fatal(err)
	}
	for _, nd := range l.nodes {
		netnstest.WaitFor(t, nd.name+" to take the repaired key", 10*time.Second, func() bool {
			rep, ok := l.instanceRecord(t, nd.name)
			return ok && rep.Revision >= fixRev
		})
	}
	l.nodes[0].must(t, http.StatusOK, "PUT", "/v2/lbaas/loadbalancers/"+id, map[string]any{"loadbalancer": map[string]any{"description": "repaired"}})
}

// etcdDownAndBack: with etcd down the instances serve on and refuse API
// changes with a 503 that says why; with etcd back, changes flow.
func (l *lab) etcdDownAndBack(t *testing.T) {
	t.Helper()
	// Every acknowledged change survives etcd's kill -9.
	lbID := l.lbID(t, "direct")
	before, _, err := l.tool(t).Get(context.Background(), "state/lb/"+lbID)
	if err != nil || before == nil {
		t.Fatalf("the load balancer's key: %q, %v", before, err)
	}
	l.etcd.Kill()
	c := l.client.HTTPClient(2*time.Second, false)
	for _, nd := range l.nodes {
		if _, err := l.get(c, nd.ip+":8000"); err != nil {
			t.Errorf("%s does not serve with etcd down: %v", nd.name, err)
		}
	}
	if _, err := l.get(c, vip+":80"); err != nil {
		t.Errorf("the VIP does not answer with etcd down: %v", err)
	}
	code, f, err := l.nodes[1].call("PUT", "/v2/lbaas/loadbalancers/"+lbID, map[string]any{"loadbalancer": map[string]any{"name": "direct"}})
	fs, _ := f["faultstring"].(string)
	if err != nil || code != http.StatusServiceUnavailable || !strings.Contains(fs, "cannot be reached") || !strings.Contains(fs, etcdHost) {
		t.Errorf("an API change with etcd down: %d %v %v; want a 503 saying etcd at %s cannot be reached", code, f, err, etcdHost)
	}
	t.Logf("with etcd down: %d %s", code, fs)
	l.etcd.Restart()
	if after, _, err := l.tool(t).Get(context.Background(), "state/lb/"+lbID); err != nil || !bytes.Equal(after, before) {
		t.Errorf("after etcd's kill -9 and restart the load balancer's key is %q (%v), was %q", after, err, before)
	}
	netnstest.WaitFor(t, "API changes to work again", 20*time.Second, func() bool {
		code, _, _ := l.nodes[1].call("PUT", "/v2/lbaas/loadbalancers/"+lbID, map[string]any{"loadbalancer": map[string]any{"description": "after etcd"}})
		return code == http.StatusOK
	})
	// Every instance's watch is back (a change through one that has not
	// yet taken the one above would lose to it: 409).
	l.waitRevision(t, "state/lb/"+lbID)
	lats := l.propagate(t, 1)
	t.Logf("a change after etcd's return served everywhere %s after its answer", lats[0].Round(time.Millisecond))
}

// partition cuts one instance off from etcd (its control link down, its
// connections to etcd ended): changes made meanwhile elsewhere, with the
// history compacted, reach it in one full read when the link is back; it
// never applies a state older than the one it had, nor the intermediate
// ones it missed.
func (l *lab) partition(t *testing.T) {
	t.Helper()
	cut := l.nodes[2]
	lbID := l.lbID(t, "direct")
	cut.ns.MustRun("ip", "link", "set", "ctl0", "down")
	// Its connections to etcd end now, as they would after the keepalive
	// timeout: otherwise TCP delivers the watch's events once the link is
	// back, and there is nothing to catch up.
	cut.ns.MustRun("ss", "-K", "dst", etcdHost)
	setName := func(nd *node, name string) {
		nd.must(t, http.StatusOK, "PUT", "/v2/lbaas/listeners/"+l.listenerID(t, "direct-http"), map[string]any{"listener": map[string]any{"name": name}})
	}
	// Two changes while it is away: a listener added, then removed and
	// another added.
	pool := l.poolID(t, "direct-members")
	add := func(port int) string {
		m := l.nodes[0].must(t, http.StatusCreated, "POST", "/v2/lbaas/listeners", map[string]any{"listener": map[string]any{
			"loadbalancer_id": lbID, "protocol": "HTTP", "protocol_port": port, "default_pool_id": pool}})
		return m["listener"].(map[string]any)["id"].(string)
	}
	stalePort, newPort := l.nextPort(), l.nextPort()
	stale := add(stalePort)
	waitServed(t, l, l.nodes[0], stalePort, true)
	l.nodes[0].must(t, http.StatusNoContent, "DELETE", "/v2/lbaas/listeners/"+stale, nil)
	add(newPort)
	setName(l.nodes[1], "renamed while away")
	tool := l.tool(t)
	_, rev, err := tool.Get(context.Background(), "state/lb/"+lbID)
	if err != nil {
		t.Fatal(err)
	}
	if err := tool.Compact(context.Background(), rev); err != nil {
		t.Fatal(err)
	}
	// Still serving what it had; its own changes are refused.
	waitServed(t, l, cut, newPort, false)
	cut.ns.MustRun("ip", "link", "set", "ctl0", "up")
	waitServed(t, l, cut, newPort, true)
	if _, err := l.get(l.client.HTTPClient(time.Second, false), cut.ip+":"+strconv.Itoa(stalePort)); err == nil {
		t.Errorf("%s serves the listener that was added and removed while it was away", cut.name)
	}
	var revs []int64
	for line := range strings.SplitSeq(cut.logs.String(), "\n") {
		if !strings.Contains(line, "applied a change from the shared state") {
			continue
		}
		var m struct {
			Revision int64  `json:"revision"`
			Via      string `json:"via"`
		}
		json.Unmarshal([]byte(line), &m)
		revs = append(revs, m.Revision)
	}
	if !slices.IsSorted(revs) {
		t.Errorf("%s applied revisions out of order: %v", cut.name, revs)
	}
	if !strings.Contains(cut.logs.String(), `"via":"full read"`) {
		t.Errorf("%s did not read the state whole after the compaction", cut.name)
	}
}

func (l *lab) listenerID(t *testing.T, name string) string {
	t.Helper()
	for _, x := range l.nodes[0].must(t, http.StatusOK, "GET", "/v2/lbaas/listeners?name="+name, nil)["listeners"].([]any) {
		return x.(map[string]any)["id"].(string)
	}
	t.Fatalf("no listener %s", name)
	return ""
}

// waitServed waits until nd serves (or does not serve) port; not serving
// is checked once, after the others serve it.
func waitServed(t *testing.T, l *lab, nd *node, port int, want bool) {
	t.Helper()
	c := l.client.HTTPClient(time.Second, false)
	addr := nd.ip + ":" + strconv.Itoa(port)
	if !want {
		if _, err := l.get(c, addr); err == nil {
			t.Errorf("%s serves %d while cut off from etcd", nd.name, port)
		}
		return
	}
	netnstest.WaitFor(t, fmt.Sprintf("%s to serve %d", nd.name, port), 20*time.Second, func() bool {
		_, err := l.get(c, addr)
		return err == nil
	})
}

// TestHAFigures measures for the closing note (make ha-figures): failover
// time and failed requests over LBD_HA_KILLS kill -9s of the MASTER (two
// instances, Octavia's VRRP defaults), the propagation of API changes to
// every instance (p50/p99 over LBD_HA_CHANGES), and an idle follower's
// memory and CPU.
func TestHAFigures(t *testing.T) {
	kills, _ := strconv.Atoi(os.Getenv("LBD_HA_KILLS"))
	if kills == 0 {
		t.Skip("set LBD_HA_KILLS (make ha-figures: 10) to measure")
	}
	changes, _ := strconv.Atoi(os.Getenv("LBD_HA_CHANGES"))
	if changes == 0 {
		changes = 100
	}
	l := newLab(t, 2)
	var all []kill
	for i := range kills {
		k, dead := l.killMaster(t)
		t.Logf("kill %d: failover %s, %d of %d requests failed", i+1, k.failover.Round(time.Millisecond), k.failed, k.sent)
		all = append(all, k)
		dead.start(t)
		netnstest.WaitFor(t, dead.name+" to be a BACKUP again", 30*time.Second, func() bool {
			rep, ok := l.instanceRecord(t, dead.name)
			return ok && rep.VRRPState == "BACKUP"
		})
	}
	var fo []time.Duration
	failed, sent := 0, 0
	for _, k := range all {
		fo = append(fo, k.failover)
		failed += k.failed
		sent += k.sent
	}
	slices.Sort(fo)
	t.Logf("FIGURE failover over %d kills: min %s, median %s, max %s; failed requests %d of %d (per kill: %v)",
		len(fo), fo[0].Round(time.Millisecond), fo[len(fo)/2].Round(time.Millisecond), fo[len(fo)-1].Round(time.Millisecond), failed, sent, failedPerKill(all))

	// The MASTER's VIP network cut (as a dead host): the BACKUP hears no
	// advertisement and takes over after the master-down interval.
	var cuts []time.Duration
	for range 3 {
		k, old := l.failover(t, func(m *node) time.Time {
			m.ns.MustRun("ip", "link", "set", "eth0", "down")
			return time.Now()
		})
		cuts = append(cuts, k.failover)
		t.Logf("VIP network of the MASTER cut: failover %s, %d of %d requests failed", k.failover.Round(time.Millisecond), k.failed, k.sent)
		old.ns.MustRun("ip", "link", "set", "eth0", "up")
		l.waitMaster(t)
	}
	slices.Sort(cuts)
	t.Logf("FIGURE failover when the MASTER's VIP network is cut, 3 times: %v", cuts)

	lats := l.propagate(t, changes)
	slices.Sort(lats)
	t.Logf("FIGURE propagation of an API change to every instance's data plane over %d changes: p50 %s, p99 %s, max %s",
		len(lats), lats[len(lats)/2].Round(time.Millisecond), lats[len(lats)*99/100].Round(time.Millisecond), lats[len(lats)-1].Round(time.Millisecond))

	// An idle follower: the instance that is not MASTER, for 30 s.
	var follower *node
	for _, nd := range l.nodes {
		if !nd.holdsVIP() {
			follower = nd
		}
	}
	pid := follower.cmd.Process.Pid
	before := cpuTicks(t, pid)
	start := time.Now()
	time.Sleep(30 * time.Second) // the measurement's span
	used := time.Duration(cpuTicks(t, pid)-before) * (time.Second / 100)
	t.Logf("FIGURE idle follower: RSS %s, CPU %.2f%% of one core over %s", rss(t, pid), 100*used.Seconds()/time.Since(start).Seconds(), time.Since(start).Round(time.Second))
}

func failedPerKill(ks []kill) []int {
	var out []int
	for _, k := range ks {
		out = append(out, k.failed)
	}
	return out
}

// cpuTicks is a process's user and system time in clock ticks (1/100 s).
func cpuTicks(t *testing.T, pid int) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+2:]))
	u, _ := strconv.ParseInt(f[11], 10, 64)
	s, _ := strconv.ParseInt(f[12], 10, 64)
	return u + s
}

func rss(t *testing.T, pid int) string {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return "?"
}
