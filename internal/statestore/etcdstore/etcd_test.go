package etcdstore_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"lbd/internal/statestore"
	"lbd/internal/statestore/etcdstore"
	"lbd/internal/statestore/etcdstore/etcdtest"
)

var ctx = context.Background()

func TestParseURL(t *testing.T) {
	for _, tc := range []struct {
		in, endpoints, prefix string
		tls                   bool
		err                   string
	}{
		{in: "etcd://127.0.0.1:2379/lbd", endpoints: "127.0.0.1:2379", prefix: "/lbd"},
		{in: "etcd://10.0.0.1:2379,10.0.0.2:2379,[::1]:2379/prod/lbd/", endpoints: "10.0.0.1:2379,10.0.0.2:2379,[::1]:2379", prefix: "/prod/lbd"},
		{in: "etcds://etcd.example:2379", endpoints: "etcd.example:2379", prefix: "/lbd", tls: true},
		{in: "http://127.0.0.1:2379/lbd", err: `scheme "http" is not etcd or etcds`},
		{in: "etcd://127.0.0.1/lbd", err: `endpoint "127.0.0.1" is not HOST:PORT`},
		{in: "etcd://root:pw@127.0.0.1:2379/lbd", err: "credentials and options go in flags"},
		{in: "/var/lib/lbd", err: "not a URL"},
	} {
		c, err := etcdstore.ParseURL(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseURL(%q) = %v, want an error containing %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseURL(%q): %v", tc.in, err)
			continue
		}
		if got := strings.Join(c.Endpoints, ","); got != tc.endpoints || c.Prefix != tc.prefix || c.TLS != tc.tls {
			t.Errorf("ParseURL(%q) = %s %s tls=%v, want %s %s tls=%v", tc.in, got, c.Prefix, c.TLS, tc.endpoints, tc.prefix, tc.tls)
		}
	}
}

// TestLoadPages: a state larger than a page is read whole, in order of
// creation, at one revision.
func TestLoadPages(t *testing.T) {
	t.Parallel()
	defer etcdstore.SetLoadPage(7)()
	srv := etcdtest.Start(t, etcdtest.Options{})
	s := open(t, srv.Config(prefix()))
	var last int64
	for i := range 30 {
		rev, err := s.Commit(ctx, statestore.Txn{Ops: []statestore.Op{statestore.Put(fmt.Sprintf("k%02d", 29-i), []byte("v"))}})
		if err != nil {
			t.Fatal(err)
		}
		last = rev
	}
	snap, err := s.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if snap.Rev != last || len(snap.KVs) != 30 {
		t.Fatalf("loaded %d keys at revision %d, want 30 at %d", len(snap.KVs), snap.Rev, last)
	}
	for i, kv := range snap.KVs {
		if want := fmt.Sprintf("k%02d", 29-i); kv.Key != want {
			t.Fatalf("key %d is %s, want %s (order of creation)", i, kv.Key, want)
		}
	}
}

// TestUnavailable: with etcd down, a commit fails within the request
// timeout with an error matching ErrUnavailable, Available says so, and
// once etcd is back both work again.
func TestUnavailable(t *testing.T) {
	t.Parallel()
	srv := etcdtest.Start(t, etcdtest.Options{})
	cfg := srv.Config(prefix())
	cfg.RequestTimeout = time.Second
	s := open(t, cfg)
	txn := func(v string) statestore.Txn {
		return statestore.Txn{Ops: []statestore.Op{statestore.Put("k", []byte(v))}}
	}
	if _, err := s.Commit(ctx, txn("1")); err != nil {
		t.Fatal(err)
	}
	srv.Kill()
	start := time.Now()
	_, err := s.Commit(ctx, txn("2"))
	if !errors.Is(err, statestore.ErrUnavailable) || !strings.Contains(err.Error(), srv.Endpoint) {
		t.Fatalf("commit with etcd down: %v, want ErrUnavailable naming %s", err, srv.Endpoint)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("the failed commit took %s, want about the request timeout (1 s)", d)
	}
	waitFor(t, "Available to report etcd down", func() bool { return s.Available() != nil })
	if err := s.Available(); !errors.Is(err, statestore.ErrUnavailable) {
		t.Errorf("Available: %v, want ErrUnavailable", err)
	}
	srv.Restart()
	waitFor(t, "a commit to succeed after etcd's return", func() bool {
		_, err := s.Commit(ctx, txn("3"))
		return err == nil
	})
	if err := s.Available(); err != nil {
		t.Errorf("Available after etcd's return: %v", err)
	}
}

// TestTooLarge: transactions beyond etcd's limits are refused with an
// error naming the limit and the flags that raise it.
func TestTooLarge(t *testing.T) {
	t.Parallel()
	srv := etcdtest.Start(t, etcdtest.Options{Args: []string{"--max-txn-ops", "4", "--max-request-bytes", "8192"}})
	s := open(t, srv.Config(prefix()))
	var many statestore.Txn
	for i := range 6 {
		many.Ops = append(many.Ops, statestore.Put(fmt.Sprint("k", i), []byte("v")))
	}
	var tl *statestore.TooLargeError
	if _, err := s.Commit(ctx, many); !errors.As(err, &tl) || !strings.Contains(err.Error(), "--max-txn-ops") {
		t.Errorf("6 operations against --max-txn-ops 4: %v, want a TooLargeError naming --max-txn-ops", err)
	}
	big := statestore.Txn{Ops: []statestore.Op{statestore.Put("big", bytes.Repeat([]byte("x"), 10000))}}
	if _, err := s.Commit(ctx, big); !errors.As(err, &tl) || !strings.Contains(err.Error(), "--max-request-bytes") {
		t.Errorf("10 kB against --max-request-bytes 8192: %v, want a TooLargeError naming --max-request-bytes", err)
	}
	// Split within the store's limits (as lbd is told them), the parts pass.
	cfg := srv.Config(prefix())
	cfg.MaxTxnOps, cfg.MaxRequestBytes = 4, 8192
	s = open(t, cfg)
	for i, part := range statestore.Split(many, s.Limits()) {
		if _, err := s.Commit(ctx, part); err != nil {
			t.Fatalf("part %d: %v", i, err)
		}
	}
	if snap, err := s.Load(ctx); err != nil || len(snap.KVs) != 6 {
		t.Fatalf("after the parts: %d keys (%v), want 6", len(snap.KVs), err)
	}
}

// TestLock: one holder at a time; a holder that goes away frees the lock
// when its lease ends.
func TestLock(t *testing.T) {
	t.Parallel()
	srv := etcdtest.Start(t, etcdtest.Options{})
	cfg := srv.Config(prefix())
	a := dial(t, cfg)
	b := dial(t, cfg)
	la, err := a.Lock(ctx, "autoscale", 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.TryLock(ctx, "autoscale", 2*time.Second); !errors.Is(err, etcdstore.ErrLocked) {
		t.Fatalf("TryLock of a held lock: %v, want ErrLocked", err)
	}
	if err := la.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	lb, err := b.TryLock(ctx, "autoscale", 2*time.Second)
	if err != nil {
		t.Fatalf("TryLock of a freed lock: %v", err)
	}
	// b's process goes away without unlocking: the lock is lost to it and
	// a gets it once the lease ends.
	b.Close()
	select {
	case <-lb.Lost():
	case <-time.After(10 * time.Second):
		t.Fatal("Lost not closed after the holder's client closed")
	}
	lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	start := time.Now()
	la, err = a.Lock(lctx, "autoscale", 2*time.Second)
	if err != nil {
		t.Fatalf("Lock after the holder went away: %v", err)
	}
	t.Logf("lock taken over %s after its holder went away", time.Since(start).Round(time.Millisecond))
	la.Unlock(ctx)
}

// TestBeacons: Follow sees an instance's live record, its changes, and
// its end: at once when it stops, after the time to live when it goes
// silent.
func TestBeacons(t *testing.T) {
	t.Parallel()
	srv := etcdtest.Start(t, etcdtest.Options{})
	cfg := srv.Config(prefix())
	a, b, c := dial(t, cfg), dial(t, cfg), dial(t, cfg)
	fctx, cancel := context.WithCancel(ctx)
	defer cancel()
	view := c.Follow(fctx, etcdstore.Instances)
	expect := func(what, want string) {
		t.Helper()
		deadline := time.After(10 * time.Second)
		got := ""
		for {
			select {
			case recs := <-view:
				var parts []string
				for _, r := range recs {
					parts = append(parts, r.Name+"="+string(r.Value))
				}
				got = strings.Join(parts, " ")
				if got == want {
					return
				}
			case <-deadline:
				t.Fatalf("%s: instances are %q, want %q", what, got, want)
			}
		}
	}
	expect("at first", "")
	ba := a.Beacon("a", 2*time.Second)
	bb := b.Beacon("b", 2*time.Second)
	if err := ba.Beat(ctx, []byte("1")); err != nil {
		t.Fatal(err)
	}
	if err := bb.Beat(ctx, []byte("1")); err != nil {
		t.Fatal(err)
	}
	expect("both beating", "a=1 b=1")
	if err := bb.Beat(ctx, []byte("2")); err != nil {
		t.Fatal(err)
	}
	expect("b's new value", "a=1 b=2")
	if err := bb.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	expect("b stopped", "a=1")
	start := time.Now()
	expect("a silent", "") // a beats no more
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("a silent instance's record lasted %s after its time to live of 2 s", d)
	}
	// Beating again after the lease ended takes a new one.
	if err := ba.Beat(ctx, []byte("3")); err != nil {
		t.Fatal(err)
	}
	expect("a back", "a=3")
}

// TestShared: the first value stored wins; later callers read it.
func TestShared(t *testing.T) {
	t.Parallel()
	srv := etcdtest.Start(t, etcdtest.Options{})
	c := dial(t, srv.Config(prefix()))
	v, err := c.Shared(ctx, "vrrp", []byte("first"))
	if err != nil || string(v) != "first" {
		t.Fatalf("Shared on an empty key: %q, %v", v, err)
	}
	v, err = c.Shared(ctx, "vrrp", []byte("second"))
	if err != nil || string(v) != "first" {
		t.Fatalf("Shared on a stored key: %q, %v; want the first value", v, err)
	}
}

// TestTLSAndAuth: a server that wants TLS with client certificates and
// password authentication takes lbd's options as etcdctl's; wrong ones
// fail at Dial with an error saying what to fix.
func TestTLSAndAuth(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	pki := newPKI(t, dir)
	srv := etcdtest.Start(t, etcdtest.Options{
		Args: []string{"--cert-file", pki.serverCert, "--key-file", pki.serverKey,
			"--trusted-ca-file", pki.ca, "--client-cert-auth"},
		Client: etcdstore.Config{CACert: pki.ca, Cert: pki.clientCert, Key: pki.clientKey},
	})
	// Turn authentication on, as an operator would with etcdctl.
	tlsCfg := pki.clientTLS(t)
	admin, err := clientv3.New(clientv3.Config{Endpoints: []string{"https://" + srv.Endpoint}, TLS: tlsCfg, Logger: zap.NewNop(), DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	for _, step := range []func() error{
		func() error { _, err := admin.UserAdd(ctx, "root", "rootpw"); return err },
		func() error { _, err := admin.UserGrantRole(ctx, "root", "root"); return err },
		func() error { _, err := admin.UserAdd(ctx, "lbd", "s3cret"); return err },
		func() error { _, err := admin.RoleAdd(ctx, "lbd"); return err },
		func() error {
			_, err := admin.RoleGrantPermission(ctx, "lbd", "/lbd", clientv3.GetPrefixRangeEnd("/lbd"), clientv3.PermissionType(clientv3.PermReadWrite))
			return err
		},
		func() error { _, err := admin.UserGrantRole(ctx, "lbd", "lbd"); return err },
		func() error { _, err := admin.AuthEnable(ctx); return err },
	} {
		if err := step(); err != nil {
			t.Fatal(err)
		}
	}
	cfg := srv.Config("/lbd")
	cfg.Username, cfg.Password = "lbd", "s3cret"
	cfg.DialTimeout = 2 * time.Second
	s := open(t, cfg)
	if _, err := s.Commit(ctx, statestore.Txn{Ops: []statestore.Op{statestore.Put("k", []byte("v"))}}); err != nil {
		t.Fatalf("commit over TLS as lbd: %v", err)
	}
	if got := s.String(); got != "etcds://"+srv.Endpoint+"/lbd" {
		t.Errorf("store named %q", got)
	}

	bad := cfg
	bad.Password = "wrong"
	if _, err := etcdstore.Dial(ctx, bad); err == nil || !strings.Contains(err.Error(), "--etcd-user") {
		t.Errorf("wrong password: %v, want an error pointing at --etcd-user", err)
	}
	outside := cfg
	outside.Prefix = "/other"
	if _, err := etcdstore.Dial(ctx, outside); err == nil || !strings.Contains(err.Error(), "read-write access to the prefix") {
		t.Errorf("a prefix the user may not touch: %v, want an error about the user's role", err)
	}
	noCert := cfg
	noCert.Cert, noCert.Key = "", ""
	if _, err := etcdstore.Dial(ctx, noCert); err == nil {
		t.Error("connected without the client certificate the server requires")
	}
	halfCert := cfg
	halfCert.Key = ""
	if _, err := etcdstore.Dial(ctx, halfCert); err == nil || !strings.Contains(err.Error(), "--etcd-key") {
		t.Errorf("a certificate without its key: %v, want an error naming --etcd-key", err)
	}
}

func dial(t *testing.T, cfg etcdstore.Config) *etcdstore.Client {
	t.Helper()
	c, err := etcdstore.Dial(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// waitFor polls cond every 20 ms for up to 15 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type pki struct {
	ca, serverCert, serverKey, clientCert, clientKey string
}

func (p pki) clientTLS(t *testing.T) *tls.Config {
	cert, err := tls.LoadX509KeyPair(p.clientCert, p.clientKey)
	if err != nil {
		t.Fatal(err)
	}
	pem, _ := os.ReadFile(p.ca)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	return &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}}
}

// newPKI writes a CA, a server certificate for 127.0.0.1 and a client
// certificate, in PEM, under dir.
func newPKI(t *testing.T, dir string) pki {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "lbd test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	write := func(name, typ string, der []byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	leaf := func(name string, serial int64, usage x509.ExtKeyUsage) (string, string) {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
			IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		kder, _ := x509.MarshalECPrivateKey(key)
		return write(name+".crt", "CERTIFICATE", der), write(name+".key", "EC PRIVATE KEY", kder)
	}
	p := pki{ca: write("ca.crt", "CERTIFICATE", caDER)}
	p.serverCert, p.serverKey = leaf("server", 2, x509.ExtKeyUsageServerAuth)
	p.clientCert, p.clientKey = leaf("client", 3, x509.ExtKeyUsageClientAuth)
	return p
}
