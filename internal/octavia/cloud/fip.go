package cloud

import (
	"context"
	"fmt"
	"net/http"

	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/layer3/floatingips"

	"lbd/internal/octavia/reconcile"
)

// upFloatingIP makes sure a floating IP on the external network points at
// the VIP port: the one already there, else one lbctl created earlier and
// left unassociated, else a new one.
func (r *run) upFloatingIP(ctx context.Context) error {
	ref := r.spec.OS.FloatingIPNetwork
	if ref == "" {
		return nil
	}
	ext, err := r.network(ctx, ref, "openstack.floating_ip_network")
	if err != nil {
		return err
	}
	if r.lb == nil { // only while planning: the load balancer is still to be created
		return r.Apply(ctx, []reconcile.Change{{Op: reconcile.OpCreate, Kind: "floating IP", Detail: fmt.Sprintf("on network %q, for the VIP port of load balancer %q", ref, r.spec.LB.Name)}})
	}
	port := r.lb.VipPortID
	if port == "" {
		return &reconcile.Error{Op: fmt.Sprintf("floating IP for load balancer %q", r.lb.Name), Message: "the load balancer has no vip_port_id",
			Hint: "its provider gives no Neutron VIP port, so a floating IP cannot point at it; remove openstack.floating_ip_network"}
	}
	onPort, err := r.floatingIPs(ctx, floatingips.ListOpts{PortID: port})
	if err != nil {
		return err
	}
	if len(onPort) > 0 {
		r.res.FloatingIP = &onPort[0]
		if onPort[0].FloatingNetworkID != ext.ID {
			r.p.Printf("  note: the VIP port's floating IP %s is on another network than %q; lbctl leaves it", onPort[0].FloatingIP, ref)
		}
		return nil
	}
	mine, err := r.floatingIPs(ctx, floatingips.ListOpts{Description: r.spec.marker(), FloatingNetworkID: ext.ID, ProjectID: r.projectID()})
	if err != nil {
		return err
	}
	for _, f := range mine {
		if f.PortID != "" {
			continue
		}
		return r.Apply(ctx, []reconcile.Change{{Op: reconcile.OpUpdate, Kind: "floating IP", Name: f.FloatingIP, Detail: "associate with the VIP port " + port,
			Do: func(ctx context.Context) error {
				got, err := floatingips.Update(ctx, r.c.Network, f.ID, floatingips.UpdateOpts{PortID: &port}).Extract()
				if err != nil {
					return describe(fmt.Sprintf("associate floating IP %s with port %s", f.FloatingIP, port), err)
				}
				r.res.FloatingIP = got
				return nil
			}}})
	}
	return r.Apply(ctx, []reconcile.Change{{Op: reconcile.OpCreate, Kind: "floating IP", Detail: fmt.Sprintf("on network %q, for the VIP port %s of load balancer %q", ref, port, r.lb.Name),
		Do: func(ctx context.Context) error {
			got, err := floatingips.Create(ctx, r.c.Network, floatingips.CreateOpts{
				FloatingNetworkID: ext.ID, PortID: port, Description: r.spec.marker(),
			}).Extract()
			if err != nil {
				return describe(fmt.Sprintf("create floating IP on network %q for port %s", ref, port), err)
			}
			r.Created(got.ID)
			r.res.FloatingIP = got
			return nil
		}}})
}

func (r *run) floatingIPs(ctx context.Context, opts floatingips.ListOpts) ([]floatingips.FloatingIP, error) {
	pages, err := floatingips.List(r.c.Network, opts).AllPages(ctx)
	if err != nil {
		return nil, describe("list floating IPs", err)
	}
	all, err := floatingips.ExtractFloatingIPs(pages)
	return all, describe("list floating IPs", err)
}

// deleteFloatingIPs removes the floating IPs lbctl created for this load
// balancer (they carry its marker); others are left alone.
func (r *run) deleteFloatingIPs(ctx context.Context) ([]reconcile.Change, error) {
	mine, err := r.floatingIPs(ctx, floatingips.ListOpts{Description: r.spec.marker(), ProjectID: r.projectID()})
	if err != nil {
		return nil, err
	}
	var out []reconcile.Change
	for _, f := range mine {
		out = append(out, reconcile.Change{Op: reconcile.OpDelete, Kind: "floating IP", Name: f.FloatingIP, Do: func(ctx context.Context) error {
			err := floatingips.Delete(ctx, r.c.Network, f.ID).ExtractErr()
			if isCode(err, http.StatusNotFound) {
				return nil
			}
			return describe("delete floating IP "+f.FloatingIP, err)
		}})
	}
	return out, nil
}
