package cloud

import (
	"context"
	"errors"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2/openstack/loadbalancer/v2/loadbalancers"

	"lbd/internal/octavia/peertest"
	"lbd/internal/octavia/reconcile"
)

// lbOnly is a load balancer without servers, security group or floating IP:
// what these tests need is Octavia's life cycle, quickly.
const lbOnly = `
loadbalancers:
  - name: lbi
    listeners:
      - name: l1
        protocol: HTTP
        protocol_port: 80
        default_pool:
          name: p1
          protocol: HTTP
          lb_algorithm: ROUND_ROBIN
          members: [{name: m1, address: 10.0.2.200, protocol_port: 80}]
openstack:
  vip_subnet: Internal2-subnet
`

// TestTimeoutInterruptAndError drives a load balancer through what goes
// wrong: a wait that runs out of time (then up resumes), an LB in ERROR
// (up refuses, down removes it), Ctrl-C while it is being created (the error
// names what exists; down removes it while it is still PENDING_CREATE).
func TestTimeoutInterruptAndError(t *testing.T) {
	rec := &peertest.Recorder{}
	c := connect(t, rec)
	ctx := context.Background()
	spec := loadSpec(t, lbOnly, peertest.Suffix())
	t.Cleanup(func() {
		p := provisioner(t, c)
		if _, err := p.Down(context.Background(), spec, true, false); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})

	t.Run("timeout, then up resumes", func(t *testing.T) {
		p := provisioner(t, c)
		p.Timeout = 200 * time.Millisecond // the peer takes about a second
		_, err := p.Up(ctx, spec, false)
		var we *reconcile.WaitError
		var ie *reconcile.IncompleteError
		if !errors.As(err, &we) || !errors.As(err, &ie) || we.Err != nil || we.Failed {
			t.Fatalf("err = %v; want a timed-out wait inside an IncompleteError", err)
		}
		t.Logf("lbctl up would say:\n%v", err)
		for _, want := range []string{"is still PENDING_CREATE after", "raise --timeout", "already done by this run:", "created load balancer \"" + spec.LB.Name, "lbctl up"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error does not say %q:\n%v", want, err)
			}
		}
		rec.Reset()
		p.Timeout = time.Minute
		res, err := p.Up(ctx, spec, false)
		if err != nil {
			t.Fatal(err)
		}
		if res.LoadBalancer.ProvisioningStatus != "ACTIVE" || len(res.Changes) != 0 {
			t.Errorf("resumed up: %s, changes %v; want ACTIVE and nothing to do", res.LoadBalancer.ProvisioningStatus, res.Changes)
		}
		if m := rec.Mutations(); len(m) != 0 {
			t.Errorf("resumed up made calls that change things: %v", m)
		}
	})

	t.Run("member in ERROR is replaced", func(t *testing.T) {
		p := provisioner(t, c)
		r := p.newRun(spec, true)
		lb, err := r.lbc.FindLoadBalancer(ctx, spec.LB.Name)
		must(t, err)
		cur, err := r.lbc.ReadTree(ctx, lb)
		must(t, err)
		old := cur.Members[cur.Pools[0].ID][0]
		setError(t, "member", old.ID)
		res, err := p.Up(ctx, spec, false)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, ch := range res.Changes {
			got = append(got, ch.String())
		}
		want := []string{`- delete member "m1": replaced: it is in ERROR`, `+ create member "m1": 10.0.2.200:80 weight 1 in pool p1`}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("changes:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		cur, err = r.lbc.ReadTree(ctx, lb)
		must(t, err)
		if m := cur.Members[cur.Pools[0].ID]; len(m) != 1 || m[0].ID == old.ID || m[0].ProvisioningStatus != "ACTIVE" {
			t.Errorf("members after up: %+v", m)
		}
	})

	t.Run("load balancer in ERROR", func(t *testing.T) {
		p := provisioner(t, c)
		lb, err := p.lbClient(spec).FindLoadBalancer(ctx, spec.LB.Name)
		if err != nil || lb == nil {
			t.Fatalf("find: %v %v", lb, err)
		}
		setError(t, "load_balancer", lb.ID)
		_, err = p.Up(ctx, spec, false)
		if err == nil || !strings.Contains(err.Error(), "is in ERROR") || !strings.Contains(err.Error(), "lbctl down") {
			t.Fatalf("up on an LB in ERROR: %v; want a refusal pointing at lbctl down", err)
		}
		t.Logf("lbctl up would say:\n%v", err)
		res, err := p.Down(ctx, spec, false, false)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Changes) != 1 || !strings.Contains(res.Changes[0].Detail, "cascade") {
			t.Errorf("down of an LB in ERROR: %v; want one cascade delete", res.Changes)
		}
		if _, err := loadbalancers.Get(ctx, c.LoadBalancer, lb.ID).Extract(); !isCode(err, http.StatusNotFound) {
			t.Errorf("load balancer still there after down: %v", err)
		}
	})

	t.Run("ctrl-c while creating, then down", func(t *testing.T) {
		p := provisioner(t, c)
		cctx, cancel := context.WithCancel(ctx)
		defer cancel()
		p.Out.(*testWriter).onLine = func(line string) {
			if strings.Contains(line, "PENDING_CREATE") {
				cancel() // as Ctrl-C does, through signal.NotifyContext
			}
		}
		_, err := p.Up(cctx, spec, false)
		var ie *reconcile.IncompleteError
		if !errors.As(err, &ie) || !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v; want an interrupted IncompleteError", err)
		}
		t.Logf("lbctl up would say:\n%v", err)
		if len(ie.Done) != 1 || !strings.HasPrefix(ie.Done[0], "created load balancer") || !strings.Contains(err.Error(), "interrupted while waiting") {
			t.Errorf("the error does not name what exists:\n%v", err)
		}
		rec.Reset()
		p = provisioner(t, c)
		if _, err := p.Down(ctx, spec, true, false); err != nil {
			t.Fatal(err)
		}
		if lb, err := p.lbClient(spec).FindLoadBalancer(ctx, spec.LB.Name); err != nil || lb != nil {
			t.Errorf("after down: %v %v", lb, err)
		}
		t.Logf("calls of down: %v", rec.Calls())
	})
}

// TestNotFound: a 404 comes back with Octavia's own words and a hint.
func TestNotFound(t *testing.T) {
	c := connect(t, nil)
	p := provisioner(t, c)
	id := "4b4b9a9e-0000-4000-8000-000000000000"
	err := p.lbClient(&Spec{}).WaitActive(context.Background(), reconcile.LBRef{ID: id, Name: "gone"})
	var e *reconcile.Error
	if !errors.As(err, &e) || e.Code != http.StatusNotFound || e.Message != "Load Balancer "+id+" not found." || !strings.Contains(e.Hint, "does not exist") {
		t.Fatalf("err = %#v", err)
	}
}

// setError puts an Octavia object in ERROR, as a failed provisioning (an
// amphora that never boots) does on a real cloud: the peer's no-op drivers
// never fail, so its database is told directly.
func setError(t *testing.T, table, id string) {
	t.Helper()
	db := filepath.Join(peertest.State(), "octavia", "octavia.db")
	out, err := exec.Command("/usr/bin/python3", "-c",
		"import sqlite3,sys; c=sqlite3.connect(sys.argv[1], timeout=30); c.execute('update '+sys.argv[2]+\" set provisioning_status='ERROR' where id=?\", (sys.argv[3],)); c.commit()",
		db, table, id).CombinedOutput()
	if err != nil {
		t.Fatalf("set %s %s to ERROR: %v %s", table, id, err, out)
	}
}
