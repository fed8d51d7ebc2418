package main

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func randomSecret(prefix string) string {
	b := make([]byte, 12)
	rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// expectNoSecret fails if any secret shows in lbd's logs, its command line
// (what ps shows) or, for secretsOutsideEnv, its environment.
func expectNoSecret(t *testing.T, p *proc, logs string, secrets, secretsOutsideEnv []string) {
	t.Helper()
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", p.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	environ, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", p.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	ps, err := exec.Command("ps", "-ww", "-o", "args=", "-p", fmt.Sprint(p.cmd.Process.Pid)).Output()
	if err != nil {
		t.Fatalf("ps: %v", err)
	}
	if !strings.Contains(string(ps), "--config") {
		t.Fatalf("ps shows %q, not lbd's command line", ps)
	}
	for _, s := range secrets {
		for where, data := range map[string]string{"the logs": logs, "/proc/pid/cmdline": string(cmdline), "ps": string(ps)} {
			if strings.Contains(data, s) {
				t.Errorf("secret %q appears in %s", s, where)
			}
		}
	}
	for _, s := range secretsOutsideEnv {
		if bytes.Contains(environ, []byte(s)) {
			t.Errorf("secret %q appears in /proc/pid/environ", s)
		}
	}
}

// TestStaticTokenStaysSecret: lbd with --token-file, at debug level, gets
// requests with the right token, wrong ones and broken ones; neither the
// token nor what clients sent as tokens shows in its logs, its command line
// or ps, and a token file's content is not in its environment either.
func TestStaticTokenStaysSecret(t *testing.T) {
	token, wrong := randomSecret("tok-"), randomSecret("wrong-")
	dir := t.TempDir()
	cfg := filepath.Join(dir, "lbd.yaml")
	os.WriteFile(cfg, []byte("loadbalancers: []\n"), 0o644)
	tokenFile := filepath.Join(dir, "token")
	os.WriteFile(tokenFile, []byte(token+"\n"), 0o600)
	p := startProc(t, fmt.Sprintf("127.0.0.1:%d", freePort(t)), token, []string{"LBD_API_TOKEN="},
		"--config", cfg, "--token-file", tokenFile, "--log-level", "debug")
	p.must(t, 201, "POST", "/v2/lbaas/loadbalancers", map[string]any{"loadbalancer": map[string]any{"name": "x", "vip_subnet_id": subnetID}})
	p.must(t, 400, "POST", "/v2/lbaas/loadbalancers", map[string]any{"loadbalancer": map[string]any{"name": token, "vip_subnet_id": "not-a-uuid"}})
	for _, tok := range []string{wrong, wrong + " " + token, token + "x", "Bearer " + token, strings.Repeat(wrong, 300)} {
		q := *p
		q.token = tok
		if code, _, err := q.call("GET", "/v2/lbaas/loadbalancers", nil); err != nil || code != http.StatusUnauthorized {
			t.Errorf("token %.20q...: %d %v, want 401", tok, code, err)
		}
	}
	// The admin server and a bad request line on the API, carrying tokens.
	for _, u := range []string{"http://" + p.admin + "/metrics", "http://" + p.admin + "/nope", p.api + "/v2/lbaas/nope"} {
		req, _ := http.NewRequest("GET", u, nil)
		req.Header.Set("X-Auth-Token", wrong)
		if resp, err := apiClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}
	p.cmd.Process.Signal(syscall.SIGHUP) // a reload logs its config too
	// Two signals sent at once may be handled in either order (each by
	// whichever thread takes it): terminate once the reload is logged.
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(p.logs.String(), `"msg":"reloaded"`) && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	p.cmd.Wait()
	logs := p.logs.String()
	if !strings.Contains(logs, `"msg":"lbd stopped"`) || !strings.Contains(logs, `"msg":"reloaded"`) {
		t.Fatalf("lbd did not run as expected:\n%s", logs)
	}
	// ps and /proc of a process that has exited are gone: check a live one.
	p2 := startProc(t, fmt.Sprintf("127.0.0.1:%d", freePort(t)), token, []string{"LBD_API_TOKEN="},
		"--config", cfg, "--token-file", tokenFile, "--log-level", "debug")
	expectNoSecret(t, p2, logs+p2.logs.String(), []string{token, wrong}, []string{token})
}

// TestKeystonePasswordStaysSecret: lbd validating tokens with the peer's
// real Keystone, its service user's password in LBD_KEYSTONE_PASSWORD, at
// debug level: valid, invalid and garbage user tokens, then a second lbd
// with a wrong password whose logins Keystone refuses. No password and no
// token shows in the logs, the command line or ps.
func TestKeystonePasswordStaysSecret(t *testing.T) {
	requirePeer(t)
	admin := keystoneLogin(t, "admin", "secret")
	password := randomSecret("pw-")
	user := randomSecret("lbd-secrets-")
	userID := keystoneServiceUser(t, admin, user, password)
	t.Cleanup(func() { keystoneDo(t, admin, "DELETE", "/users/"+userID, nil, nil) })

	dir := t.TempDir()
	cfg := filepath.Join(dir, "lbd.yaml")
	os.WriteFile(cfg, []byte("loadbalancers: []\n"), 0o644)
	args := []string{"--config", cfg, "--log-level", "debug", "--keystone-url", peerKeystone,
		"--keystone-username", user, "--keystone-project", "admin"}
	p := startProc(t, fmt.Sprintf("127.0.0.1:%d", freePort(t)), admin, []string{"LBD_KEYSTONE_PASSWORD=" + password}, args...)
	p.must(t, 200, "GET", "/v2/lbaas/loadbalancers", nil)
	bogus := randomSecret("gAAAAA")
	for _, tok := range []string{bogus, admin + "x", "not a token at all"} {
		q := *p
		q.token = tok
		if code, _, err := q.call("GET", "/v2/lbaas/loadbalancers", nil); err != nil || code != http.StatusUnauthorized {
			t.Errorf("token %.20q...: %d %v, want 401", tok, code, err)
		}
	}
	expectNoSecret(t, p, p.logs.String(), []string{password, admin, bogus}, nil)
	noSecretInLogs(t, p, password, admin, bogus)

	wrongPW := randomSecret("wrongpw-")
	p2 := startProc(t, fmt.Sprintf("127.0.0.1:%d", freePort(t)), admin, []string{"LBD_KEYSTONE_PASSWORD=" + wrongPW}, args...)
	if code, _, err := p2.call("GET", "/v2/lbaas/loadbalancers", nil); err != nil || code != http.StatusServiceUnavailable {
		t.Errorf("with a wrong service password: %d %v, want 503", code, err)
	}
	// lbd's stderr reaches the test through a pipe: wait for the line.
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(p2.logs.String(), "token validation failed") {
		if time.Now().After(deadline) {
			t.Fatalf("the refused service login was not logged:\n%s", p2.logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	logs := p2.logs.String()
	expectNoSecret(t, p2, logs, []string{wrongPW, password, admin}, nil)
	noSecretInLogs(t, p2, wrongPW, password, admin)
}

// noSecretInLogs stops lbd and checks its whole log output, which the
// checks on the running process may have seen only part of.
func noSecretInLogs(t *testing.T, p *proc, secrets ...string) {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	p.cmd.Wait()
	logs := p.logs.String()
	for _, s := range secrets {
		if strings.Contains(logs, s) {
			t.Errorf("secret %q appears in the logs", s)
		}
	}
}

// keystoneLogin returns a project-scoped token for a Default-domain user
// on project admin.
func keystoneLogin(t *testing.T, user, password string) string {
	t.Helper()
	body := fmt.Sprintf(`{"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": %q,
		"domain": {"name": "Default"}, "password": %q}}}, "scope": {"project": {"name": "admin", "domain": {"name": "Default"}}}}}`, user, password)
	resp, err := http.Post(peerKeystone+"/auth/tokens", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("keystone login %s: %d %s", user, resp.StatusCode, b)
	}
	return resp.Header.Get("X-Subject-Token")
}

// keystoneDo sends a Keystone API request with token and decodes the answer
// into out (when not nil).
func keystoneDo(t *testing.T, token, method, path string, body, out any) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		data, _ := json.Marshal(body)
		rd = bytes.NewReader(data)
	}
	req, _ := http.NewRequest(method, peerKeystone+path, rd)
	req.Header.Set("X-Auth-Token", token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil {
		json.NewDecoder(resp.Body).Decode(out)
	}
	return resp.StatusCode
}

// keystoneServiceUser creates a user with the admin role on project
// admin, which lets it validate other users' tokens, as lbd's service user.
func keystoneServiceUser(t *testing.T, admin, name, password string) string {
	t.Helper()
	var u struct {
		User struct{ ID string } `json:"user"`
	}
	if code := keystoneDo(t, admin, "POST", "/users", map[string]any{"user": map[string]any{
		"name": name, "password": password, "domain_id": "default"}}, &u); code != http.StatusCreated {
		t.Fatalf("create keystone user: %d", code)
	}
	var projects struct {
		Projects []struct{ ID string } `json:"projects"`
	}
	keystoneDo(t, admin, "GET", "/projects?name=admin", nil, &projects)
	var roles struct {
		Roles []struct{ ID string } `json:"roles"`
	}
	keystoneDo(t, admin, "GET", "/roles?name=admin", nil, &roles)
	if len(projects.Projects) != 1 || len(roles.Roles) != 1 {
		t.Fatalf("keystone: project admin %v, role admin %v", projects, roles)
	}
	if code := keystoneDo(t, admin, "PUT", "/projects/"+projects.Projects[0].ID+"/users/"+u.User.ID+"/roles/"+roles.Roles[0].ID, nil, nil); code != http.StatusNoContent {
		t.Fatalf("grant admin role: %d", code)
	}
	return u.User.ID
}
