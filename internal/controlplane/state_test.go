package controlplane_test

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"lbd/internal/octavia"
)

// fileConfig parses a config file the way lbd loads it.
func fileConfig(t *testing.T, yaml string) *octavia.Config {
	t.Helper()
	cfg, err := octavia.Parse("test.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

const fileV1 = `
loadbalancers:
  - name: filelb
    vip_address: 127.0.0.1
    listeners:
      - name: web
        protocol: HTTP
        protocol_port: 9080
        default_pool:
          name: webpool
          protocol: HTTP
          lb_algorithm: ROUND_ROBIN
          members:
            - {address: 127.0.0.21, protocol_port: 8081}
`

// fileV2 edits filelb: a second member.
const fileV2 = fileV1 + `            - {address: 127.0.0.22, protocol_port: 8082}
`

func TestStateSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	e := newEnv(t, dir, nil)
	lb := e.must(http.StatusCreated, "POST", "/v2/lbaas/loadbalancers", fullLB("lb1", 8080), "loadbalancer")
	pool := lb["pools"].([]any)[0].(map[string]any)
	e.must(http.StatusCreated, "POST", "/v2/lbaas/pools/"+str(pool, "id")+"/members",
		map[string]any{"member": map[string]any{"address": "127.0.0.13", "protocol_port": 8083, "name": "third"}}, "member")
	before := e.must(http.StatusOK, "GET", "/v2/lbaas/loadbalancers/"+str(lb, "id"), nil, "loadbalancer")

	// A second control plane on the same directory: what a restarted lbd does.
	e.cp.Close()
	e2 := newEnv(t, dir, nil)
	after := e2.must(http.StatusOK, "GET", "/v2/lbaas/loadbalancers/"+str(lb, "id"), nil, "loadbalancer")
	for _, k := range []string{"id", "name", "created_at", "updated_at", "vip_address", "provisioning_status"} {
		if before[k] != after[k] {
			t.Errorf("after restart %s = %v, was %v", k, after[k], before[k])
		}
	}
	ms := e2.must(http.StatusOK, "GET", "/v2/lbaas/pools/"+str(pool, "id")+"/members", nil, "")["members"].([]any)
	if len(ms) != 3 {
		t.Fatalf("after restart: %d members, want 3", len(ms))
	}
	cfg := e2.dp.last()
	if cfg == nil || len(cfg.LoadBalancers) != 1 || len(cfg.LoadBalancers[0].Pools[0].Members) != 3 {
		t.Fatalf("restarted control plane applied %+v, want the stored load balancer with 3 members", cfg)
	}
	// No temporary files are left behind.
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != "state.log" {
		t.Errorf("state directory holds %v, want only state.log", entries)
	}
}

func TestUnwritableStateRefusesChange(t *testing.T) {
	dir := t.TempDir()
	e := newEnv(t, dir, nil)
	e.must(http.StatusCreated, "POST", "/v2/lbaas/loadbalancers", lbBody("kept"), "loadbalancer")
	// Replace the state directory by a file: every save now fails, even
	// for root, whom permissions would not stop.
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir, []byte("not a directory"), 0o600); err != nil {
		t.Fatal(err)
	}
	e.fault(http.StatusInternalServerError, "could not be saved to "+filepath.Join(dir, "state.log")+": no such file or directory (ENOENT)",
		"POST", "/v2/lbaas/loadbalancers", lbBody("lost"))
	list := e.must(http.StatusOK, "GET", "/v2/lbaas/loadbalancers", nil, "")["loadbalancers"].([]any)
	if len(list) != 1 || list[0].(map[string]any)["name"] != "kept" {
		t.Errorf("after a failed save the API shows %v, want only 'kept'", list)
	}
	if cfg := e.dp.last(); len(cfg.LoadBalancers) != 1 {
		t.Errorf("after a failed save the data plane serves %d load balancers, want 1 (rolled back)", len(cfg.LoadBalancers))
	}
}

func TestFileAndAPIMerge(t *testing.T) {
	dir := t.TempDir()
	e := newEnv(t, dir, fileConfig(t, fileV1))
	ctx := context.Background()
	lbs := e.must(http.StatusOK, "GET", "/v2/lbaas/loadbalancers?name=filelb", nil, "")["loadbalancers"].([]any)
	if len(lbs) != 1 {
		t.Fatalf("file load balancer not served: %v", lbs)
	}
	fileLB := lbs[0].(map[string]any)
	poolID := str(e.must(http.StatusOK, "GET", "/v2/lbaas/pools?name=webpool", nil, "")["pools"].([]any)[0].(map[string]any), "id")
	members := func(en *env) int {
		return len(en.must(http.StatusOK, "GET", "/v2/lbaas/pools/"+poolID+"/members", nil, "")["members"].([]any))
	}
	apiLB := e.must(http.StatusCreated, "POST", "/v2/lbaas/loadbalancers", lbBody("apilb"), "loadbalancer")

	// Reloading the same file changes nothing.
	if err := e.cp.SetFileConfig(ctx, fileConfig(t, fileV1)); err != nil {
		t.Fatal(err)
	}
	again := e.must(http.StatusOK, "GET", "/v2/lbaas/loadbalancers/"+str(fileLB, "id"), nil, "loadbalancer")
	if again["created_at"] != fileLB["created_at"] || again["updated_at"] != fileLB["updated_at"] || again["updated_at"] == nil {
		t.Errorf("reloading an unchanged file touched the load balancer: %v", again)
	}

	// The API changes the file's load balancer: the stored copy wins over
	// the unchanged file, also across a restart.
	e.must(http.StatusCreated, "POST", "/v2/lbaas/pools/"+poolID+"/members",
		map[string]any{"member": map[string]any{"address": "127.0.0.23", "protocol_port": 8083}}, "member")
	if err := e.cp.SetFileConfig(ctx, fileConfig(t, fileV1)); err != nil {
		t.Fatal(err)
	}
	if n := members(e); n != 2 {
		t.Errorf("after reloading the unchanged file: %d members, want the API's 2", n)
	}
	e.cp.Close()
	e2 := newEnv(t, dir, fileConfig(t, fileV1))
	if n := members(e2); n != 2 {
		t.Errorf("after restart with the unchanged file: %d members, want the API's 2", n)
	}

	// Editing the file's entry makes the file win again; the API's load
	// balancer is untouched.
	if err := e2.cp.SetFileConfig(ctx, fileConfig(t, fileV2)); err != nil {
		t.Fatal(err)
	}
	ms := e2.must(http.StatusOK, "GET", "/v2/lbaas/pools/"+poolID+"/members", nil, "")["members"].([]any)
	if len(ms) != 2 || str(ms[1].(map[string]any), "address") != "127.0.0.22" {
		t.Errorf("after editing the file: members %v, want the file's .21 and .22", ms)
	}
	e2.must(http.StatusOK, "GET", "/v2/lbaas/loadbalancers/"+str(apiLB, "id"), nil, "loadbalancer")

	// Deleting the file's load balancer through the API sticks while the
	// file entry is unchanged.
	if code, _ := e2.do("DELETE", "/v2/lbaas/loadbalancers/"+str(fileLB, "id")+"?cascade=true", nil); code != http.StatusNoContent {
		t.Fatalf("delete file load balancer: %d", code)
	}
	if err := e2.cp.SetFileConfig(ctx, fileConfig(t, fileV2)); err != nil {
		t.Fatal(err)
	}
	if code, _ := e2.do("GET", "/v2/lbaas/loadbalancers/"+str(fileLB, "id"), nil); code != http.StatusNotFound {
		t.Errorf("deleted file load balancer came back on reload: %d", code)
	}
	// Removing it from the file and adding it back brings it back.
	if err := e2.cp.SetFileConfig(ctx, &octavia.Config{}); err != nil {
		t.Fatal(err)
	}
	if err := e2.cp.SetFileConfig(ctx, fileConfig(t, fileV1)); err != nil {
		t.Fatal(err)
	}
	e2.must(http.StatusOK, "GET", "/v2/lbaas/loadbalancers/"+str(fileLB, "id"), nil, "loadbalancer")
	if cfg := e2.dp.last(); len(cfg.LoadBalancers) != 2 {
		t.Errorf("data plane serves %d load balancers, want the file's and the API's", len(cfg.LoadBalancers))
	}
	// And all of it is what a restart finds.
	e2.cp.Close()
	e3 := newEnv(t, dir, fileConfig(t, fileV1))
	if cfg := e3.dp.last(); len(cfg.LoadBalancers) != 2 {
		t.Errorf("after restart the data plane serves %d load balancers, want the file's and the API's", len(cfg.LoadBalancers))
	}
}

func TestFileConflictRefused(t *testing.T) {
	e := newEnv(t, "", nil)
	e.must(http.StatusCreated, "POST", "/v2/lbaas/loadbalancers", fullLB("apilb", 9080), "loadbalancer")
	n := e.dp.applies()
	err := e.cp.SetFileConfig(context.Background(), fileConfig(t, fileV1))
	if err == nil {
		t.Fatal("a file binding the API's port was accepted")
	}
	if e.dp.applies() != n {
		t.Errorf("a refused reload reached the data plane")
	}
}
