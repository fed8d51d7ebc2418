package cloud

import (
	"context"

	"github.com/gophercloud/gophercloud/v2/openstack/loadbalancer/v2/loadbalancers"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/layer3/floatingips"

	"lbd/internal/octavia/reconcile"
)

// Result is what Up or Down did (or, with plan, would do) and what exists
// afterwards.
type Result struct {
	Changes      []reconcile.Change          `json:"changes"`
	Servers      []Server                    `json:"servers,omitempty"`
	LoadBalancer *loadbalancers.LoadBalancer `json:"loadbalancer,omitempty"` // as last read; nil when there is none
	FloatingIP   *floatingips.FloatingIP     `json:"floating_ip,omitempty"`  // nil when there is none
	Status       *reconcile.StatusTree       `json:"status,omitempty"`       // after Up (not with plan)
}

// Server is one of the file's servers as found or created.
type Server struct {
	Name     string `json:"name"`
	ID       string `json:"id,omitempty"` // "" while only planned
	Status   string `json:"status,omitempty"`
	Address  string `json:"address,omitempty"` // the fixed IP that is its member address; "" until known
	SubnetID string `json:"subnet_id,omitempty"`
}

// run is the state of one Up or Down: what the earlier steps found or
// created, which the later ones build on, and (in reconcile.Run) the
// changes made and the record of what was done.
type run struct {
	*reconcile.Run
	p    *Provisioner
	c    *Clients
	lbc  *reconcile.Client
	spec *Spec
	res  *Result

	sgID    string
	servers []*Server
	lb      *loadbalancers.LoadBalancer
}

func (p *Provisioner) newRun(spec *Spec, plan bool) *run {
	return &run{Run: reconcile.NewRun(&p.Waiter, plan), p: p, c: p.Clients, lbc: p.lbClient(spec), spec: spec, res: &Result{}}
}

// steps runs the steps in order and returns the result; on failure the
// error names what this run already did, and next what to run.
func (r *run) steps(ctx context.Context, next string, steps ...func(context.Context) error) (*Result, error) {
	for _, step := range steps {
		if err := step(ctx); err != nil {
			r.res.Changes = r.Changes
			return r.res, r.Incomplete(err, next)
		}
	}
	r.res.Changes = r.Changes
	return r.res, nil
}

const upNext = "run the same `lbctl up` again to finish (it finds what exists by name and resumes), or `lbctl down` with the same file to remove it"

// Up provisions the spec: security group, servers, load balancer, floating
// IP, in that order, creating what is missing and changing what differs.
// With plan it only reports the changes it would make. On failure or
// interruption (ctx cancelled) the error is an *IncompleteError naming what
// this run already did when it did anything.
func (p *Provisioner) Up(ctx context.Context, spec *Spec, plan bool) (*Result, error) {
	r := p.newRun(spec, plan)
	res, err := r.steps(ctx, upNext, r.upSecurityGroup, r.upServers, r.upLoadBalancer, r.upFloatingIP, r.pruneServers)
	if err != nil {
		return res, err
	}
	for _, s := range r.servers {
		res.Servers = append(res.Servers, *s)
	}
	res.LoadBalancer = r.lb
	if plan || r.lb == nil {
		return res, nil
	}
	res.Status, err = r.lbc.Status(ctx, reconcile.Ref(r.lb))
	return res, err
}
