package barbican

import (
	"context"
	"encoding/base64"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"lbd/internal/certs"
	"lbd/internal/lbdtest/pki"
	"lbd/internal/octavia/peertest"
)

// TestMain starts the OpenStack peer, whose Barbican these tests use.
func TestMain(m *testing.M) { peertest.Main(m) }

// tenant is a project of its own with a member user, so that lbd's service
// user (admin of another project) cannot read its secrets unless their ACL
// lets it.
type tenant struct {
	project, user, password string
}

func (tn *tenant) env() []string {
	env := []string{"OS_CLIENT_CONFIG_FILE=/dev/null", "OS_AUTH_URL=" + peertest.KeystoneURL, "OS_USERNAME=" + tn.user,
		"OS_PASSWORD=" + tn.password, "OS_PROJECT_NAME=" + tn.project, "OS_USER_DOMAIN_NAME=Default",
		"OS_PROJECT_DOMAIN_NAME=Default", "OS_IDENTITY_API_VERSION=3", "OS_REGION_NAME=RegionOne"}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "OS_") {
			env = append(env, kv)
		}
	}
	return env
}

func osc(t *testing.T, env []string, args ...string) string {
	t.Helper()
	cmd := exec.Command("/usr/bin/openstack", args...)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("openstack %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

func admin() []string {
	env := []string{"OS_CLOUD=" + peertest.Cloud, "OS_CLIENT_CONFIG_FILE=" + filepath.Join(peertest.State(), "clouds.yaml")}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "OS_") {
			env = append(env, kv)
		}
	}
	return env
}

func newTenant(t *testing.T) *tenant {
	sfx := peertest.Suffix()
	tn := &tenant{project: "tls-p" + sfx, user: "tls-u" + sfx, password: "pw" + sfx}
	osc(t, admin(), "project", "create", tn.project)
	t.Cleanup(func() {
		cmd := exec.Command("/usr/bin/openstack", "project", "delete", tn.project)
		cmd.Env = admin()
		cmd.Run()
	})
	osc(t, admin(), "user", "create", "--project", tn.project, "--password", tn.password, tn.user)
	t.Cleanup(func() {
		cmd := exec.Command("/usr/bin/openstack", "user", "delete", tn.user)
		cmd.Env = admin()
		cmd.Run()
	})
	osc(t, admin(), "role", "add", "--project", tn.project, "--user", tn.user, "member")
	return tn
}

func lbdClient(t *testing.T) *Client {
	c, err := New(Options{AuthURL: peertest.KeystoneURL, Username: "admin", Password: "secret", ProjectName: "admin"})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestTenantSecretsThroughTheirACL stores a PKCS#12 bundle, a legacy
// certificate container and a CA as a tenant, and reads them as lbd:
// refused until the tenant's token adds lbd's service user to their read
// ACLs, as Octavia's API does, and read then.
func TestTenantSecretsThroughTheirACL(t *testing.T) {
	peertest.Need(t)
	tn := newTenant(t)
	env := tn.env()
	ca := pki.NewCA(t, "tenant ca")
	leaf := ca.Issue(t, pki.Leaf{CN: "www.example.com"})
	sfx := peertest.Suffix()
	p12 := osc(t, env, "secret", "store", "--name", "p12"+sfx, "--payload-content-type", "application/octet-stream",
		"--payload-content-encoding", "base64", "--payload", base64.StdEncoding.EncodeToString(leaf.PKCS12(t)), "-f", "value", "-c", "Secret href")
	certRef := osc(t, env, "secret", "store", "--name", "crt"+sfx, "--payload", string(leaf.CertPEM()), "-f", "value", "-c", "Secret href")
	keyRef := osc(t, env, "secret", "store", "--name", "key"+sfx, "--payload", string(leaf.KeyPEM()), "-f", "value", "-c", "Secret href")
	container := osc(t, env, "secret", "container", "create", "--name", "legacy"+sfx, "--type", "certificate",
		"--secret", "certificate="+certRef, "--secret", "private_key="+keyRef, "-f", "value", "-c", "Container href")
	caRef := osc(t, env, "secret", "store", "--name", "ca"+sfx, "--payload", string(ca.PEM()), "-f", "value", "-c", "Secret href")
	token := osc(t, env, "token", "issue", "-f", "value", "-c", "id")

	c := lbdClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, ref := range []string{p12, container, caRef} {
		if _, err := c.Fetch(ctx, ref); err == nil || !strings.Contains(err.Error(), "403") {
			t.Errorf("%s read before the ACL allowed it: %v", ref, err)
		}
	}
	store := certs.NewStore(c)
	for _, ref := range []string{p12, container} {
		if err := c.Grant(ctx, token, ref); err != nil {
			t.Fatalf("grant %s: %v", ref, err)
		}
		b, err := store.Bundle(ctx, ref)
		if err != nil {
			t.Fatalf("%s after the grant: %v", ref, err)
		}
		if !b.Cert.Leaf.Equal(leaf.Cert) || b.Names[0] != "www.example.com" {
			t.Errorf("%s: %v", ref, b.Names)
		}
	}
	if err := c.Grant(ctx, token, caRef); err != nil {
		t.Fatal(err)
	}
	if cas, err := store.CAs(ctx, caRef); err != nil || !cas[0].Equal(ca.Cert) {
		t.Errorf("CA: %v", err)
	}
	// The ACL lists lbd's service user once, however often it is granted.
	if err := c.Grant(ctx, token, p12); err != nil {
		t.Fatal(err)
	}
	_, user, _ := c.service(ctx)
	acl := osc(t, env, "acl", "get", p12, "-f", "json")
	if strings.Count(acl, user) != 1 {
		t.Errorf("ACL of %s:\n%s", p12, acl)
	}
	// Another tenant's token cannot open the ACL.
	other := newTenant(t)
	otherToken := osc(t, other.env(), "token", "issue", "-f", "value", "-c", "id")
	fresh := osc(t, env, "secret", "store", "--name", "p12b"+sfx, "--payload-content-type", "application/octet-stream",
		"--payload-content-encoding", "base64", "--payload", base64.StdEncoding.EncodeToString(leaf.PKCS12(t)), "-f", "value", "-c", "Secret href")
	if err := c.Grant(ctx, otherToken, fresh); err == nil {
		t.Error("another project's token changed the ACL")
	}
	for _, ref := range []string{p12, fresh, caRef} {
		osc(t, env, "secret", "delete", ref)
	}
	osc(t, env, "secret", "container", "delete", container)
	osc(t, env, "secret", "delete", certRef)
	osc(t, env, "secret", "delete", keyRef)
}

func TestParseRef(t *testing.T) {
	for _, c := range []struct{ ref, kind, id string }{
		{"http://127.0.0.1:9311/v1/secrets/0b5c", kindSecret, "0b5c"},
		{"https://kms.example.com/key-manager/v1/containers/77aa", kindContainer, "77aa"},
		{"0b5c", kindSecret, "0b5c"},
	} {
		k, id, err := parseRef(c.ref)
		if err != nil || k != c.kind || id != c.id {
			t.Errorf("%s: %s %s %v", c.ref, k, id, err)
		}
	}
	for _, bad := range []string{"http://127.0.0.1:9311/v1/orders/1", "http://x/"} {
		if _, _, err := parseRef(bad); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}
