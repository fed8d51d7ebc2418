package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"lbd/internal/statestore/diskfault"
)

// TestFullDiskIsReported: lbd's state directory on a filesystem that is
// full (a real tmpfs, filled): an API change is refused with a 500 whose
// fault names the file and the errno, /metrics counts it in
// lbd_state_save_errors_total, and the log names the file and the errno.
func TestFullDiskIsReported(t *testing.T) {
	dir := diskfault.Tmpfs(t, 1<<20)
	state := filepath.Join(dir, "state")
	cfg := filepath.Join(t.TempDir(), "lbd.yaml")
	os.WriteFile(cfg, []byte("loadbalancers: []\n"), 0o644)
	p := startProc(t, fmt.Sprintf("127.0.0.1:%d", freePort(t)), "", []string{"LBD_API_TOKEN="}, "--config", cfg, "--state-dir", state)
	lb := func(name string) map[string]any {
		var members []any
		for i := range 40 { // more than a page, so that a full disk cannot take it
			members = append(members, map[string]any{"address": fmt.Sprintf("192.0.2.%d", i+1), "protocol_port": 8080})
		}
		return map[string]any{"loadbalancer": map[string]any{"name": name, "vip_subnet_id": "8ced0346-1b20-4993-b175-66a23fc579f3",
			"listeners": []any{map[string]any{"protocol": "HTTP", "protocol_port": freePort(t), "default_pool": map[string]any{
				"name": "pool", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN", "members": members}}}}}
	}
	p.must(t, 201, "POST", "/v2/lbaas/loadbalancers", lb("stored"))
	diskfault.Fill(t, dir, 0)
	code, fault, err := p.call("POST", "/v2/lbaas/loadbalancers", lb("refused"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(state, "state.log")
	fs, _ := fault["faultstring"].(string)
	debug, _ := fault["debuginfo"].(string)
	if code != 500 || !strings.Contains(fs, path) || !strings.Contains(fs, "no space left on device (ENOSPC)") || !strings.Contains(debug, path) {
		t.Fatalf("create on a full disk: %d %v; want 500 with a faultstring naming %s and ENOSPC, and a debuginfo", code, fault, path)
	}
	resp, err := http.Get("http://" + p.admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `lbd_state_save_errors_total{errno="ENOSPC"} 1`) {
		t.Errorf("/metrics does not count the failed save:\n%s", grepLines(string(body), "lbd_state"))
	}
	logs := p.logs.String()
	if !strings.Contains(logs, fmt.Sprintf(`"file":%q`, path)) || !strings.Contains(logs, `"errno":"ENOSPC"`) {
		t.Errorf("the log does not name the file and the errno:\n%s", logs)
	}
	list := p.must(t, 200, "GET", "/v2/lbaas/loadbalancers", nil)["loadbalancers"].([]any)
	if len(list) != 1 {
		t.Errorf("after the refused change the API lists %d load balancers, want 1", len(list))
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
