package main

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestOpenStackCLIL7 drives L7 policies, L7 rules and session persistence
// with the real openstack CLI against lbd, the way Octavia's L7 cookbook
// does, and checks after each step that the traffic goes where the API
// says: rules of one policy are ANDed, the REJECT tier beats the others,
// positions move, a disabled policy takes no part, a sticky cookie keeps a
// client on its member.
func TestOpenStackCLIL7(t *testing.T) {
	requirePeer(t)
	if ln, err := net.Listen("tcp", peerLBDAddr); err != nil {
		t.Fatalf("peer-lbd's endpoint %s is taken: %v", peerLBDAddr, err)
	} else {
		ln.Close()
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const vip = "127.0.0.161"
	demoAt(t, ctx, "127.0.0.162:80", "web1")
	demoAt(t, ctx, "127.0.0.163:80", "web2")
	demoAt(t, ctx, "127.0.0.164:80", "static1")
	dir := t.TempDir()
	cfg := filepath.Join(dir, "lbd.yaml")
	os.WriteFile(cfg, []byte("loadbalancers: []\n"), 0o644)
	p := startAPI(t, peerLBDAddr, []string{"LBD_KEYSTONE_PASSWORD=secret"},
		"--config", cfg, "--state-dir", filepath.Join(dir, "state"), "--vip-address", vip,
		"--keystone-url", peerKeystone, "--keystone-username", "admin", "--keystone-project", "admin")

	client := &http.Client{Timeout: 5 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	// hit sends one request and names what answered: the member, or the
	// status and Location lbd answered itself.
	hit := func(path string, hdr ...string) string {
		t.Helper()
		req, _ := http.NewRequest("GET", "http://"+vip+path, nil)
		for i := 0; i+1 < len(hdr); i += 2 {
			if hdr[i] == "Host" {
				req.Host = hdr[i+1]
			} else {
				req.Header.Set(hdr[i], hdr[i+1])
			}
		}
		resp, err := client.Do(req)
		if err != nil {
			return "refused"
		}
		defer resp.Body.Close()
		if b := resp.Header.Get("X-Backend"); b != "" {
			return b
		}
		return strings.TrimSpace(resp.Status[:3] + " " + resp.Header.Get("Location"))
	}
	check := func(step string, want map[string]string) {
		t.Helper()
		for req, w := range want {
			parts := strings.Split(req, " ")
			if got := hit(parts[0], parts[1:]...); got != w {
				t.Errorf("after %s: %s answered by %q, want %q\nlbd logs:\n%s", step, req, got, w, p.logs.String())
			}
		}
	}

	osc(t, "loadbalancer", "create", "--name", "l7lb", "--vip-subnet-id", "lb-subnet")
	osc(t, "loadbalancer", "listener", "create", "--name", "l7web", "--protocol", "HTTP", "--protocol-port", "80", "l7lb")
	osc(t, "loadbalancer", "pool", "create", "--name", "l7default", "--lb-algorithm", "ROUND_ROBIN", "--listener", "l7web", "--protocol", "HTTP")
	osc(t, "loadbalancer", "member", "create", "--address", "127.0.0.162", "--protocol-port", "80", "l7default")
	osc(t, "loadbalancer", "pool", "create", "--name", "l7static", "--lb-algorithm", "ROUND_ROBIN", "--loadbalancer", "l7lb", "--protocol", "HTTP")
	osc(t, "loadbalancer", "member", "create", "--address", "127.0.0.164", "--protocol-port", "80", "l7static")
	check("the pools", map[string]string{"/": "web1", "/js/app.js": "web1"})

	// A policy without rules never matches.
	osc(t, "loadbalancer", "l7policy", "create", "--action", "REDIRECT_TO_POOL", "--redirect-pool", "l7static", "--name", "static", "l7web")
	check("l7policy create (no rules yet)", map[string]string{"/js/app.js": "web1"})
	osc(t, "loadbalancer", "l7rule", "create", "--compare-type", "STARTS_WITH", "--type", "PATH", "--value", "/js", "static")
	check("l7rule create PATH /js", map[string]string{"/js/app.js": "static1", "/": "web1", "/img/a.png": "web1"})
	// A second rule: both must match.
	rule := osc(t, "loadbalancer", "l7rule", "create", "--compare-type", "EQUAL_TO", "--type", "FILE_TYPE", "--value", "js", "static", "-f", "value", "-c", "id")
	check("l7rule create FILE_TYPE js (ANDed)", map[string]string{"/js/app.js": "static1", "/js/app.css": "web1"})
	osc(t, "loadbalancer", "l7rule", "set", "--value", "css", "static", rule)
	check("l7rule set FILE_TYPE css", map[string]string{"/js/app.js": "web1", "/js/app.css": "static1"})
	osc(t, "loadbalancer", "l7rule", "delete", "static", rule)
	check("l7rule delete", map[string]string{"/js/app.js": "static1", "/js/app.css": "static1"})

	// Redirect plain HTTP to HTTPS, as the cookbook does behind a TLS
	// terminator that says so in X-Forwarded-Proto.
	osc(t, "loadbalancer", "l7policy", "create", "--action", "REDIRECT_PREFIX", "--redirect-prefix", "https://www.example.com",
		"--redirect-http-code", "308", "--name", "https", "l7web")
	osc(t, "loadbalancer", "l7rule", "create", "--compare-type", "EQUAL_TO", "--type", "HEADER", "--key", "X-Forwarded-Proto", "--value", "http", "https")
	check("REDIRECT_PREFIX", map[string]string{
		"/js/app.js X-Forwarded-Proto http": "308 https://www.example.com/js/app.js", // redirects come before pools
		"/a?b=c X-Forwarded-Proto http":     "308 https://www.example.com/a?b=c",
		"/a X-Forwarded-Proto https":        "web1",
	})

	// REJECT comes first whatever its position.
	osc(t, "loadbalancer", "l7policy", "create", "--action", "REJECT", "--name", "deny", "--position", "3", "l7web")
	osc(t, "loadbalancer", "l7rule", "create", "--compare-type", "ENDS_WITH", "--type", "HOST_NAME", "--value", ".bad.example", "deny")
	check("REJECT", map[string]string{
		"/js/app.js Host www.bad.example":                           "403",
		"/ Host www.bad.example X-Forwarded-Proto http":             "403",
		"/js/app.js Host www.good.example":                          "static1",
		"/js/app.js Host www.good.example X-Forwarded-Proto http":   "308 https://www.example.com/js/app.js",
		"/js/app.js Host WWW.BAD.EXAMPLE":                           "403",                                   // HOST_NAME ignores case
		"/js/app.js Host www.bad.example:80 X-Forwarded-Proto http": "308 https://www.example.com/js/app.js", // the port is part of the host
	})
	// Positions: deny was created at 3 and stays last; moving it first
	// renumbers the others.
	var list []struct {
		Name     string `json:"name"`
		Position int    `json:"position"`
	}
	osc(t, "loadbalancer", "l7policy", "set", "--position", "1", "deny")
	if err := json.Unmarshal([]byte(osc(t, "loadbalancer", "l7policy", "list", "-f", "json", "-c", "name", "-c", "position")), &list); err != nil {
		t.Fatal(err)
	}
	order := map[string]int{}
	for _, x := range list {
		order[x.Name] = x.Position
	}
	if order["deny"] != 1 || order["static"] != 2 || order["https"] != 3 {
		t.Errorf("positions after l7policy set --position 1: %v", list)
	}
	osc(t, "loadbalancer", "l7policy", "set", "--disable", "deny")
	check("l7policy set --disable", map[string]string{"/js/app.js Host www.bad.example": "static1"})
	osc(t, "loadbalancer", "l7policy", "delete", "https")
	check("l7policy delete", map[string]string{"/a X-Forwarded-Proto http": "web1"})

	// Session persistence: HTTP_COOKIE on the default pool with two members.
	osc(t, "loadbalancer", "member", "create", "--address", "127.0.0.163", "--protocol-port", "80", "l7default")
	osc(t, "loadbalancer", "pool", "set", "--session-persistence", "type=HTTP_COOKIE", "l7default")
	resp, err := client.Get("http://" + vip + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	first, cookie := resp.Header.Get("X-Backend"), strings.Split(resp.Header.Get("Set-Cookie"), ";")[0]
	if !strings.HasPrefix(cookie, "SRV=") {
		t.Fatalf("HTTP_COOKIE: Set-Cookie %q", resp.Header.Get("Set-Cookie"))
	}
	for range 6 {
		if got := hit("/", "Cookie", cookie); got != first {
			t.Errorf("with cookie %s a request went to %s, not %s", cookie, got, first)
		}
	}
	var pool map[string]any
	json.Unmarshal([]byte(osc(t, "loadbalancer", "pool", "show", "l7default", "-f", "json")), &pool)
	if sp, _ := pool["session_persistence"].(string); !strings.Contains(sp, "HTTP_COOKIE") {
		t.Errorf("pool show: session_persistence %v", pool["session_persistence"])
	}

	// The pool a policy uses cannot go; the cascade takes everything.
	if out, err := oscErr("loadbalancer", "pool", "delete", "l7static"); err == nil || !strings.Contains(out, "is in use by L7 policy") {
		t.Errorf("deleting a pool in use: %v %s", err, out)
	}
	osc(t, "loadbalancer", "delete", "--cascade", "l7lb")
	if out := osc(t, "loadbalancer", "l7policy", "list", "-f", "value", "-c", "name"); out != "" {
		t.Errorf("policies after the cascade: %q", out)
	}
}

// oscErr runs the openstack CLI against lbd and returns its output and
// error, for commands expected to fail.
func oscErr(args ...string) (string, error) {
	cmd := exec.Command(openstackCLI, args...)
	env := []string{"OS_CLOUD=peer-lbd", "OS_CLIENT_CONFIG_FILE=" + filepath.Join(peerDir, "clouds.yaml")}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "OS_") {
			env = append(env, kv)
		}
	}
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}
