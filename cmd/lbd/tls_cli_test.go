package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"lbd/internal/lbdtest/pki"
	"lbd/internal/octavia/peertest"
)

// oscOn runs the real openstack CLI against cloud (peer: the real Octavia;
// peer-lbd: lbd) and returns its output and error.
func oscOn(cloud string, args ...string) (string, error) {
	cmd := exec.Command(openstackCLI, args...)
	env := []string{"OS_CLOUD=" + cloud, "OS_CLIENT_CONFIG_FILE=" + filepath.Join(peerDir, "clouds.yaml")}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "OS_") {
			env = append(env, kv)
		}
	}
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

func mustOsc(t *testing.T, cloud string, args ...string) string {
	t.Helper()
	out, err := oscOn(cloud, args...)
	if err != nil {
		t.Fatalf("openstack --os-cloud %s %s: %v\n%s", cloud, strings.Join(args, " "), err, out)
	}
	return out
}

// faultOf is the CLI's error message without its "(HTTP 400) (Request-ID:
// ...)" tail.
func faultOf(out string) string {
	if i := strings.Index(out, " (HTTP "); i >= 0 {
		out = out[:i]
	}
	return strings.TrimSpace(out)
}

// TestOpenStackCLIHTTPSTutorial runs the HTTPS variant of the tutorial with
// the real openstack CLI: a PKCS#12 bundle stored in the real Barbican
// (openssl pkcs12 -export, openstack secret store), a TERMINATED_HTTPS
// listener on its href, side by side with the real Octavia: both add their
// service user to the secret's read ACL and accept it, and both answer a
// ref Barbican does not have and a secret that is not PKCS#12 with the
// same 400. lbd then serves HTTPS and HTTP/2 with the certificate it read
// from Barbican, balancing each request.
func TestOpenStackCLIHTTPSTutorial(t *testing.T) {
	requirePeer(t)
	if ln, err := net.Listen("tcp", peerLBDAddr); err != nil {
		t.Fatalf("peer-lbd's endpoint %s is taken: %v", peerLBDAddr, err)
	} else {
		ln.Close()
	}
	sfx := peertest.Suffix()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const vip = "127.0.0.161"
	demoAt(t, ctx, "127.0.0.162:80", "web1")
	demoAt(t, ctx, "127.0.0.163:80", "web2")
	dir := t.TempDir()
	ca := pki.NewCA(t, "tutorial ca")
	leaf := ca.Issue(t, pki.Leaf{CN: "www.example.com", Key: pki.RSA})
	certFile := pki.Write(t, dir, "cert.pem", leaf.CertPEM())
	keyFile := pki.Write(t, dir, "key.pem", leaf.KeyPEM())
	p12 := filepath.Join(dir, "server.p12")
	if out, err := exec.Command("openssl", "pkcs12", "-export", "-inkey", keyFile, "-in", certFile, "-passout", "pass:", "-out", p12).CombinedOutput(); err != nil {
		t.Fatalf("openssl pkcs12: %v\n%s", err, out)
	}
	b64 := strings.TrimSpace(mustRun(t, "base64", "-w0", p12))
	// One secret for each, so that each ACL shows what its reader did.
	refs := map[string]string{}
	for _, cloud := range []string{"peer", "peer-lbd"} {
		refs[cloud] = mustOsc(t, "peer", "secret", "store", "--name", "cert-"+cloud+sfx, "--payload-content-type", "application/octet-stream",
			"--payload-content-encoding", "base64", "--payload", b64, "-f", "value", "-c", "Secret href")
	}
	ref := refs["peer-lbd"]
	notP12 := mustOsc(t, "peer", "secret", "store", "--name", "text"+sfx, "--payload", "not a certificate", "-f", "value", "-c", "Secret href")
	t.Cleanup(func() {
		oscOn("peer", "secret", "delete", refs["peer"])
		oscOn("peer", "secret", "delete", ref)
		oscOn("peer", "secret", "delete", notP12)
	})
	missing := ref[:strings.LastIndex(ref, "/")+1] + "00000000-0000-4000-8000-000000000000"

	cfg := filepath.Join(dir, "lbd.yaml")
	os.WriteFile(cfg, []byte("loadbalancers: []\n"), 0o644)
	p := startAPI(t, peerLBDAddr, []string{"LBD_KEYSTONE_PASSWORD=secret"},
		"--config", cfg, "--state-dir", filepath.Join(dir, "state"), "--vip-address", vip,
		"--keystone-url", peerKeystone, "--keystone-username", "admin", "--keystone-project", "admin")

	// The same load balancer on both.
	lbName := "lb-tls" + sfx
	for _, cloud := range []string{"peer", "peer-lbd"} {
		mustOsc(t, cloud, "loadbalancer", "create", "--name", lbName, "--vip-subnet-id", "lb-subnet", "--wait")
	}
	t.Cleanup(func() {
		for _, cloud := range []string{"peer", "peer-lbd"} {
			oscOn(cloud, "loadbalancer", "delete", "--cascade", "--wait", lbName)
		}
	})

	// Refs that cannot be served: the same answer from both.
	for _, bad := range []struct{ name, ref string }{{"a ref Barbican does not have", missing}, {"a secret that is not PKCS#12", notP12}} {
		var faults []string
		for _, cloud := range []string{"peer", "peer-lbd"} {
			out, err := oscOn(cloud, "loadbalancer", "listener", "create", "--name", "bad"+sfx, "--protocol", "TERMINATED_HTTPS",
				"--protocol-port", "443", "--default-tls-container-ref", bad.ref, lbName)
			if err == nil || !strings.Contains(out, "HTTP 400") {
				t.Fatalf("%s on %s: %v\n%s", bad.name, cloud, err, out)
			}
			faults = append(faults, faultOf(out))
		}
		octavia, lbd := faults[0], faults[1]
		if strings.HasPrefix(octavia, "The PKCS12 bundle is unreadable.") {
			// The tail is the parser's own error (OpenSSL's, crypto/x509's).
			octavia, lbd = octavia[:strings.Index(octavia, "Error:")], lbd[:max(0, strings.Index(lbd, "Error:"))]
		}
		if octavia != lbd {
			t.Errorf("%s:\nOctavia: %s\nlbd:     %s", bad.name, faults[0], faults[1])
		}
		t.Logf("%s: %s", bad.name, faults[1])
	}

	// The tutorial's HTTPS listener, on both.
	shows := map[string]map[string]any{}
	for _, cloud := range []string{"peer", "peer-lbd"} {
		out := mustOsc(t, cloud, "loadbalancer", "listener", "create", "--name", "https"+sfx, "--protocol", "TERMINATED_HTTPS",
			"--protocol-port", "443", "--default-tls-container-ref", refs[cloud], lbName, "--wait", "-f", "json")
		var show map[string]any
		if err := json.Unmarshal([]byte(out), &show); err != nil {
			t.Fatalf("%s: %v\n%s", cloud, err, out)
		}
		shows[cloud] = show
	}
	if shows["peer-lbd"]["default_tls_container_ref"] != ref {
		t.Errorf("lbd's default_tls_container_ref: %v", shows["peer-lbd"]["default_tls_container_ref"])
	}
	for _, f := range []string{"protocol", "provisioning_status", "tls_ciphers", "tls_versions",
		"alpn_protocols", "client_authentication", "sni_container_refs"} {
		if o, l := shows["peer"][f], shows["peer-lbd"][f]; jsonText(o) != jsonText(l) {
			t.Errorf("listener %s: Octavia %v, lbd %v", f, o, l)
		}
	}
	// Each added its service user (admin here) to its secret's read ACL.
	admin := mustOsc(t, "peer", "user", "show", "admin", "-f", "value", "-c", "id")
	for cloud, r := range refs {
		if acl := mustOsc(t, "peer", "acl", "get", r, "-f", "json"); !strings.Contains(acl, admin) {
			t.Errorf("%s: the secret's ACL does not list the service user %s:\n%s", cloud, admin, acl)
		}
	}

	mustOsc(t, "peer-lbd", "loadbalancer", "pool", "create", "--name", "pool"+sfx, "--lb-algorithm", "ROUND_ROBIN",
		"--listener", "https"+sfx, "--protocol", "HTTP", "--wait")
	for _, m := range []string{"127.0.0.162", "127.0.0.163"} {
		mustOsc(t, "peer-lbd", "loadbalancer", "member", "create", "--subnet-id", "lb-subnet", "--address", m, "--protocol-port", "80", "pool"+sfx, "--wait")
	}
	// lbd serves what it read from Barbican, to HTTP/1.1 and HTTP/2
	// clients, each request balanced.
	for _, h2 := range []bool{false, true} {
		tr := &http.Transport{TLSClientConfig: &tls.Config{ServerName: "www.example.com", RootCAs: ca.Pool()}, ForceAttemptHTTP2: h2}
		if !h2 {
			tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
		}
		c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
		got := map[string]int{}
		for range 4 {
			resp, err := c.Get("https://" + vip + ":443/")
			if err != nil {
				t.Fatalf("h2=%v: %v\nlbd logs:\n%s", h2, err, p.logs.String())
			}
			resp.Body.Close()
			if resp.ProtoMajor != map[bool]int{false: 1, true: 2}[h2] || !resp.TLS.PeerCertificates[0].Equal(leaf.Cert) {
				t.Errorf("h2=%v: HTTP/%d, certificate %v", h2, resp.ProtoMajor, resp.TLS.PeerCertificates[0].Subject)
			}
			got[resp.Header.Get("X-Backend")]++
		}
		tr.CloseIdleConnections()
		if got["web1"] != 2 || got["web2"] != 2 {
			t.Errorf("h2=%v: %v, want 2 each", h2, got)
		}
	}
}

func jsonText(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func mustRun(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).Output()
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return string(out)
}
