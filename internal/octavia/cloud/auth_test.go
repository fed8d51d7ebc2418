package cloud

import (
	"bufio"
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"lbd/internal/octavia/peertest"
)

// octaviaProxy stands in for a load-balancer endpoint given by hand (a local
// lbd, say): it forwards to the peer's real Octavia and counts the calls.
func octaviaProxy(t *testing.T) (*httptest.Server, func() []string) {
	t.Helper()
	target, _ := url.Parse("http://127.0.0.1:9876")
	var mu sync.Mutex
	var paths []string
	rp := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		paths = append(paths, r.URL.Path)
		mu.Unlock()
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), paths...)
	}
}

func TestLBEndpointFlag(t *testing.T) {
	peertest.Need(t)
	srv, seen := octaviaProxy(t)
	ctx := context.Background()
	c, err := Connect(ctx, AuthOptions{Cloud: peertest.Cloud, LBEndpoint: srv.URL + "/"})
	if err != nil {
		t.Fatal(err)
	}
	spec := loadSpec(t, lbOnly, peertest.Suffix())
	if _, err := provisioner(t, c).Up(ctx, spec, true); err != nil {
		t.Fatal(err)
	}
	if got := seen(); len(got) == 0 || got[0] != "/v2.0/lbaas/loadbalancers" {
		t.Errorf("calls through --lb-endpoint: %v; want the load balancer lookup", got)
	}
}

// TestCloudsYAMLOverride: load_balancer_endpoint_override of clouds.yaml is
// honoured as the openstack CLI honours it (gophercloud ignores it).
func TestCloudsYAMLOverride(t *testing.T) {
	peertest.Need(t)
	srv, seen := octaviaProxy(t)
	data, err := os.ReadFile(os.Getenv("OS_CLIENT_CONFIG_FILE"))
	must(t, err)
	// The peer's clouds.yaml has cloud peer-lbd with an override to lbd's
	// port; point it at the proxy instead.
	var out []string
	for line := range strings.Lines(string(data)) {
		if strings.Contains(line, "load_balancer_endpoint_override") {
			line = "    load_balancer_endpoint_override: " + srv.URL + "\n"
		}
		out = append(out, line)
	}
	file := filepath.Join(t.TempDir(), "clouds.yaml")
	must(t, os.WriteFile(file, []byte(strings.Join(out, "")), 0o600))
	t.Setenv("OS_CLIENT_CONFIG_FILE", file)
	if got := lbEndpointOverride("peer-lbd"); got != srv.URL {
		t.Fatalf("override = %q, want %q", got, srv.URL)
	}
	if got := lbEndpointOverride("peer"); got != "" {
		t.Errorf("cloud peer has no override, got %q", got)
	}
	c, err := Connect(context.Background(), AuthOptions{Cloud: "peer-lbd"})
	must(t, err)
	if _, err := (&Provisioner{Clients: c}).lbClient(&Spec{}).FindLoadBalancer(context.Background(), "lbi"+peertest.Suffix()); err != nil {
		t.Fatal(err)
	}
	if len(seen()) == 0 {
		t.Error("no call went to the overriding endpoint")
	}
}

// TestEnvAuth logs in from the OS_* environment of the peer's openrc, as
// after `source openrc`, with no clouds.yaml.
func TestEnvAuth(t *testing.T) {
	peertest.Need(t)
	f, err := os.Open(filepath.Join(peertest.State(), "openrc"))
	must(t, err)
	defer f.Close()
	t.Setenv("OS_CLIENT_CONFIG_FILE", "/nonexistent/clouds.yaml")
	t.Setenv("OS_CLOUD", "")
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(strings.TrimPrefix(sc.Text(), "export "), "="); ok && strings.HasPrefix(k, "OS_") {
			t.Setenv(k, v)
		}
	}
	c, err := Connect(context.Background(), AuthOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := (&run{c: c}).network(context.Background(), "External", ""); err != nil {
		t.Errorf("find network as the environment's user: %v", err)
	}
	t.Setenv("OS_AUTH_URL", "")
	if _, err := Connect(context.Background(), AuthOptions{}); err == nil || !strings.Contains(err.Error(), "--os-cloud") {
		t.Errorf("without credentials: %v; want advice to pass --os-cloud", err)
	}
}
