package cloud

import (
	"context"

	"lbd/internal/autoscale"
	"lbd/internal/octavia/reconcile"
)

// upLoadBalancer converges the file's load balancer (with the servers'
// members) through the reconciler: created with one fully-populated call
// when it does not exist, then every difference one change, each followed
// by a wait for ACTIVE. What the file no longer has is deleted, and what
// cannot change (a protocol) or is in ERROR is replaced.
func (r *run) upLoadBalancer(ctx context.Context) error {
	// An autoscaling controller's members are its own.
	o := reconcile.Options{Prune: true, Replace: true, Keep: autoscale.Owns}
	if ref := r.spec.OS.VIPSubnet; ref != "" {
		sub, err := r.subnet(ctx, ref, "", "openstack.vip_subnet")
		if err != nil {
			return err
		}
		o.VIPSubnetID, o.VIPSubnetName = sub.ID, ref
	}
	lb, err := r.lbc.Converge(ctx, r.Run, r.desiredLB(), o)
	r.lb = lb
	return err
}
