package etcdlock

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"lbd/internal/autoscale/autoscaletest"
)

// etcd starts Debian's etcd-server on loopback ports of its own (make test
// installs it) and returns its client URL.
func etcd(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("etcd")
	if err != nil {
		if os.Getenv("LBD_SKIP_ETCD") == "1" {
			t.Skip("etcd not installed and LBD_SKIP_ETCD=1")
		}
		t.Fatal("etcd not found: install Debian's etcd-server (make test does)")
	}
	dir := t.TempDir()
	client := fmt.Sprintf("http://127.0.0.1:%d", autoscaletest.FreePort(t))
	peer := fmt.Sprintf("http://127.0.0.1:%d", autoscaletest.FreePort(t))
	logs := &autoscaletest.Buffer{}
	cmd := exec.Command(bin, "--name", "t", "--data-dir", filepath.Join(dir, "data"),
		"--listen-client-urls", client, "--advertise-client-urls", client,
		"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer, "--initial-cluster", "t="+peer)
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	autoscaletest.WaitHTTP(t, client+"/health", 30*time.Second, logs.String)
	return client
}

// Two controllers' locks on one group: the second waits while the first
// holds the lease, and gets it when the first unlocks; a holder whose
// lease is revoked (as when it stops renewing and the TTL passes) sees
// Lost, and the waiter gets the lock.
func TestEtcdLockExcludes(t *testing.T) {
	url := etcd(t)
	ctx := context.Background()
	a, err := New(url, "g1", 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := New(url, "g1", 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	la, err := a.Lock(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan error, 1)
	go func() {
		lb, err := b.Lock(ctx)
		if err == nil {
			defer lb.Unlock(ctx)
		}
		got <- err
	}()
	select {
	case err := <-got:
		t.Fatalf("the second got the lock while the first held it (%v)", err)
	case <-time.After(1500 * time.Millisecond):
	}
	if err := la.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-got:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the second never got the lock after the first unlocked")
	}

	// A lease that ends (revoked here; expired for a holder that died)
	// closes Lost, and another controller takes the lock.
	la, err = a.Lock(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s := la.(*lease).s
	if _, err := a.client.Revoke(ctx, s.Lease()); err != nil {
		t.Fatal(err)
	}
	select {
	case <-la.Lost():
	case <-time.After(10 * time.Second):
		t.Fatal("Lost not closed after the lease ended")
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	lb, err := b.Lock(wctx)
	if err != nil {
		t.Fatalf("the lock after the holder's lease ended: %v", err)
	}
	lb.Unlock(ctx)
}
