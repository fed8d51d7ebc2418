package main

import (
	"context"
	"encoding/json"
	"lbd/internal/octavia/peertest"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The OpenStack peer (../shared/peers/openstack-up.sh) writes a clouds.yaml
// whose cloud peer-lbd authenticates with the peer's Keystone, resolves
// subnets in its Neutron and sends load-balancer calls to lbd on 9877.
const (
	peerDir      = "/tmp/openstack-peer"
	peerLBDAddr  = "127.0.0.1:9877"
	peerKeystone = "http://127.0.0.1:5000/v3"
	openstackCLI = "/usr/bin/openstack"
)

// requirePeer skips when the OpenStack peer is not running (only with
// LBD_SKIP_OPENSTACK=1: TestMain starts it otherwise) and holds the peer's
// test lock until the test ends: its services keep their state in SQLite,
// which fails concurrent writers, so tests from every package take turns.
func requirePeer(t *testing.T) {
	t.Helper()
	peertest.Need(t)
}

// TestMain starts the OpenStack peer (idempotent; quick when it runs).
func TestMain(m *testing.M) { peertest.Main(m) }

// osc runs the real openstack CLI against lbd (cloud peer-lbd).
func osc(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command(openstackCLI, args...)
	env := []string{"OS_CLOUD=peer-lbd", "OS_CLIENT_CONFIG_FILE=" + filepath.Join(peerDir, "clouds.yaml")}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "OS_") {
			env = append(env, kv)
		}
	}
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("openstack %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// TestOpenStackCLITutorial runs the Octavia tutorial's commands, unchanged,
// with the real openstack CLI against lbd, and checks after each step that
// the data plane does what the API says.
func TestOpenStackCLITutorial(t *testing.T) {
	requirePeer(t)
	if ln, err := net.Listen("tcp", peerLBDAddr); err != nil {
		t.Fatalf("peer-lbd's endpoint %s is taken: %v", peerLBDAddr, err)
	} else {
		ln.Close()
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// The VIP and members are loopback addresses; the tutorial's ports.
	const vip = "127.0.0.151"
	demoAt(t, ctx, "127.0.0.152:80", "web1")
	demoAt(t, ctx, "127.0.0.153:80", "web2")
	dir := t.TempDir()
	cfg := filepath.Join(dir, "lbd.yaml")
	os.WriteFile(cfg, []byte("loadbalancers: []\n"), 0o644)
	p := startAPI(t, peerLBDAddr, []string{"LBD_KEYSTONE_PASSWORD=secret"},
		"--config", cfg, "--state-dir", filepath.Join(dir, "state"), "--vip-address", vip,
		"--keystone-url", peerKeystone, "--keystone-username", "admin", "--keystone-project", "admin")
	url := "http://" + vip + ":80/"
	check := func(step string, n int, want map[string]int) {
		t.Helper()
		got := spread(url, n)
		if len(got) != len(want) {
			t.Errorf("after %s: traffic %v, want %v\nlbd logs:\n%s", step, got, want, p.logs.String())
			return
		}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("after %s: traffic %v, want %v", step, got, want)
				return
			}
		}
	}

	// lbd answers once a change is live: the create's answer is ACTIVE.
	if st := osc(t, "loadbalancer", "create", "--name", "lb1", "--vip-subnet-id", "lb-subnet", "-f", "value", "-c", "provisioning_status"); st != "ACTIVE" {
		t.Fatalf("lb1 is %s", st)
	}
	check("loadbalancer create", 1, map[string]int{"refused": 1})
	osc(t, "loadbalancer", "listener", "create", "--name", "listener1", "--protocol", "HTTP", "--protocol-port", "80", "lb1")
	check("listener create (no pool yet: lbd answers 503 itself)", 2, map[string]int{"": 2})
	osc(t, "loadbalancer", "pool", "create", "--name", "pool1", "--lb-algorithm", "ROUND_ROBIN", "--listener", "listener1", "--protocol", "HTTP")
	check("pool create", 2, map[string]int{"": 2})
	m1 := osc(t, "loadbalancer", "member", "create", "--subnet-id", "lb-subnet", "--address", "127.0.0.152", "--protocol-port", "80", "pool1", "-f", "value", "-c", "id")
	check("first member create", 4, map[string]int{"web1": 4})
	m2 := osc(t, "loadbalancer", "member", "create", "--subnet-id", "lb-subnet", "--address", "127.0.0.153", "--protocol-port", "80", "pool1", "-f", "value", "-c", "id")
	check("second member create", 6, map[string]int{"web1": 3, "web2": 3})
	hm := osc(t, "loadbalancer", "healthmonitor", "create", "--delay", "5", "--max-retries", "4", "--timeout", "10", "--type", "PING", "pool1", "-f", "value", "-c", "id")
	check("healthmonitor create", 6, map[string]int{"web1": 3, "web2": 3})

	var show map[string]any
	if err := json.Unmarshal([]byte(osc(t, "loadbalancer", "show", "lb1", "-f", "json")), &show); err != nil {
		t.Fatal(err)
	}
	if show["vip_address"] != vip || show["provisioning_status"] != "ACTIVE" || show["name"] != "lb1" {
		t.Errorf("loadbalancer show lb1 = %v", show)
	}
	var tree struct {
		Loadbalancer struct {
			Listeners []struct {
				Name  string
				Pools []struct {
					Name          string
					HealthMonitor *struct{ Type string } `json:"health_monitor"`
					Members       []struct{ Address string }
				}
			}
		}
	}
	status := osc(t, "loadbalancer", "status", "show", "lb1")
	if err := json.Unmarshal([]byte(status), &tree); err != nil {
		t.Fatalf("status show: %v\n%s", err, status)
	}
	ls := tree.Loadbalancer.Listeners
	if len(ls) != 1 || ls[0].Name != "listener1" || len(ls[0].Pools) != 1 || ls[0].Pools[0].Name != "pool1" ||
		ls[0].Pools[0].HealthMonitor == nil || ls[0].Pools[0].HealthMonitor.Type != "PING" || len(ls[0].Pools[0].Members) != 2 {
		t.Errorf("status show lb1:\n%s", status)
	}

	// The tutorial's deletes: members, monitor, pool, listener, load balancer.
	osc(t, "loadbalancer", "member", "delete", "pool1", m1)
	check("first member delete", 4, map[string]int{"web2": 4})
	osc(t, "loadbalancer", "member", "delete", "pool1", m2)
	check("second member delete", 2, map[string]int{"": 2})
	osc(t, "loadbalancer", "healthmonitor", "delete", hm)
	osc(t, "loadbalancer", "pool", "delete", "pool1")
	check("pool delete", 2, map[string]int{"": 2})
	osc(t, "loadbalancer", "listener", "delete", "listener1")
	check("listener delete", 1, map[string]int{"refused": 1})
	osc(t, "loadbalancer", "delete", "lb1")
	if names := osc(t, "loadbalancer", "list", "-f", "value", "-c", "name"); strings.Contains(names, "lb1") {
		t.Errorf("lb1 still listed after delete: %q", names)
	}
}
