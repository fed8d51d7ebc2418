package openstack

import (
	"context"

	"github.com/gophercloud/gophercloud/v2/openstack/loadbalancer/v2/loadbalancers"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/layer3/floatingips"
)

// Result is what Up or Down did (or, with plan, would do) and what exists
// afterwards.
type Result struct {
	Changes      []Change                    `json:"changes"`
	Servers      []Server                    `json:"servers,omitempty"`
	LoadBalancer *loadbalancers.LoadBalancer `json:"loadbalancer,omitempty"` // as last read; nil when there is none
	FloatingIP   *floatingips.FloatingIP     `json:"floating_ip,omitempty"`  // nil when there is none
	Status       *StatusTree                 `json:"status,omitempty"`       // after Up (not with plan)
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
// created, which the later ones build on.
type run struct {
	p    *Provisioner
	c    *Clients
	spec *Spec
	plan bool
	res  *Result

	done           []string // what this run did, for IncompleteError
	pending        *Change  // the change being applied
	pendingCreated bool     // the pending change's resource exists (recorded in done)

	sgID      string
	servers   []*Server
	vipSubnet string // resolved openstack.vip_subnet
	lb        *loadbalancers.LoadBalancer
	poolIDs   map[string]string // pool name → ID, as pools are found or created
}

func (p *Provisioner) newRun(spec *Spec, plan bool) *run {
	return &run{p: p, c: p.Clients, spec: spec, plan: plan, res: &Result{}, poolIDs: map[string]string{}}
}

const upNext = "run the same `lbctl up` again to finish (it finds what exists by name and resumes), or `lbctl down` with the same file to remove it"

// Up provisions the spec: security group, servers, load balancer, floating
// IP, in that order, creating what is missing and changing what differs.
// With plan it only reports the changes it would make. On failure or
// interruption (ctx cancelled) the error is an *IncompleteError naming what
// this run already did when it did anything.
func (p *Provisioner) Up(ctx context.Context, spec *Spec, plan bool) (*Result, error) {
	r := p.newRun(spec, plan)
	steps := []func(context.Context) error{
		r.upSecurityGroup,
		r.upServers,
		r.upLoadBalancer,
		r.upFloatingIP,
		r.pruneServers,
	}
	for _, step := range steps {
		if err := step(ctx); err != nil {
			return r.res, r.incomplete(err, upNext)
		}
	}
	for _, s := range r.servers {
		r.res.Servers = append(r.res.Servers, *s)
	}
	r.res.LoadBalancer = r.lb
	if plan || r.lb == nil {
		return r.res, nil
	}
	tree, err := r.statusTree(ctx)
	if err != nil {
		return r.res, err
	}
	r.res.Status = tree
	return r.res, nil
}
