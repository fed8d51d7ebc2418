package cloud

import (
	"lbd/internal/octavia/reconcile"
)

// Provisioner runs Up and Down against one cloud. The Waiter's zero
// durations mean their defaults (every wait bounded by 10m, polls from 1s).
type Provisioner struct {
	Clients *Clients
	reconcile.Waiter
}

// lbClient is the load-balancer client of one run for spec, with lbctl up's
// and down's words in its errors.
func (p *Provisioner) lbClient(spec *Spec) *reconcile.Client {
	return &reconcile.Client{SC: p.Clients.LoadBalancer, Waiter: p.Waiter, Hint: hintFor,
		Advice: reconcile.Advice{Again: "lbctl up", Remove: "lbctl down -f " + spec.File}}
}
