package cloud

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/keypairs"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/ports"

	"lbd/internal/octavia/reconcile"
)

// listServers lists the project's servers. Nova's name filter is a regular
// expression, so names are matched here, exactly.
func (r *run) listServers(ctx context.Context) ([]servers.Server, error) {
	if r.c.Compute == nil {
		return nil, fmt.Errorf("list servers: the cloud's catalog has no compute service (Nova), which openstack.servers needs")
	}
	pages, err := servers.List(r.c.Compute, servers.ListOpts{}).AllPages(ctx)
	if err != nil {
		return nil, describe("list servers", err)
	}
	all, err := servers.ExtractServers(pages)
	return all, describe("list servers", err)
}

// upServers finds or creates the file's servers, waits for them to be
// ACTIVE and reads the fixed IPs that become member addresses.
func (r *run) upServers(ctx context.Context) error {
	cfg := r.spec.OS.Servers
	if cfg == nil {
		return nil
	}
	all, err := r.listServers(ctx)
	if err != nil {
		return err
	}
	net, err := r.network(ctx, cfg.Network, "openstack.servers.network")
	if err != nil {
		return err
	}
	subnetID := ""
	if cfg.Subnet != "" {
		sub, err := r.subnet(ctx, cfg.Subnet, net.ID, "openstack.servers.subnet")
		if err != nil {
			return err
		}
		subnetID = sub.ID
	}
	var missing []*Server
	for _, name := range cfg.ServerNames() {
		var found []servers.Server
		for _, s := range all {
			if s.Name == name {
				found = append(found, s)
			}
		}
		s := &Server{Name: name}
		switch len(found) {
		case 0:
			missing = append(missing, s)
		case 1:
			s.ID, s.Status = found[0].ID, found[0].Status
			if s.Status == "ERROR" {
				return &reconcile.Error{Op: fmt.Sprintf("server %q (%s)", name, s.ID), Message: "is in ERROR: " + found[0].Fault.Message,
					Hint: "Nova could not run it; delete it (`openstack server delete " + s.ID + "`, or lbctl down) and run lbctl up again"}
			}
		default:
			return &reconcile.Error{Op: fmt.Sprintf("find server %q", name), Code: http.StatusConflict,
				Message: fmt.Sprintf("%d servers have this name", len(found)), Hint: "delete or rename all but one, then run lbctl up again"}
		}
		r.servers = append(r.servers, s)
	}
	var changes []reconcile.Change
	if len(missing) > 0 {
		create, err := r.serverCreateOpts(ctx, net.ID)
		if err != nil {
			return err
		}
		for _, s := range missing {
			changes = append(changes, reconcile.Change{Op: reconcile.OpCreate, Kind: "server", Name: s.Name,
				Detail: fmt.Sprintf("image %s, flavor %s, network %s", cfg.Image, cfg.Flavor, cfg.Network),
				Do: func(ctx context.Context) error {
					got, err := servers.Create(ctx, r.c.Compute, create(s.Name), nil).Extract()
					if err != nil {
						return describe(fmt.Sprintf("create server %q", s.Name), err)
					}
					s.ID, s.Status = got.ID, "BUILD"
					r.Created(got.ID)
					return nil
				}})
		}
	}
	if err := r.Apply(ctx, changes); err != nil {
		return err
	}
	for _, s := range r.servers {
		if r.Plan {
			// Servers that exist have their addresses already (or will
			// once they boot), so the plan can compare members.
			if s.ID != "" {
				r.readAddress(ctx, s, net.ID, subnetID) //nolint:errcheck // a server still booting has none yet
			}
			continue
		}
		if s.Status != "ACTIVE" {
			if err := r.waitServer(ctx, s); err != nil {
				return err
			}
		}
		if err := r.readAddress(ctx, s, net.ID, subnetID); err != nil {
			return err
		}
	}
	return nil
}

// serverCreateOpts resolves image, flavor and key pair once, before any
// server is created, and returns the create request for a name.
func (r *run) serverCreateOpts(ctx context.Context, networkID string) (func(name string) servers.CreateOptsBuilder, error) {
	cfg := r.spec.OS.Servers
	imageID, err := r.image(ctx, cfg.Image)
	if err != nil {
		return nil, err
	}
	flavorID, err := r.flavor(ctx, cfg.Flavor)
	if err != nil {
		return nil, err
	}
	if cfg.KeyName != "" {
		if err := r.checkKeyPair(ctx, cfg.KeyName); err != nil {
			return nil, err
		}
	}
	return func(name string) servers.CreateOptsBuilder {
		opts := servers.CreateOpts{
			Name: name, ImageRef: imageID, FlavorRef: flavorID,
			Networks: []servers.Network{{UUID: networkID}},
			UserData: r.spec.UserData,
			Metadata: map[string]string{MetadataKey: r.spec.LB.Name},
		}
		if a := r.spec.Autoscaling; a != nil {
			opts.Metadata[GroupKey] = a.Group
		}
		if r.spec.OS.SecurityGroup != "" {
			opts.SecurityGroups = []string{firstOf(r.sgID, r.spec.OS.SecurityGroup)}
		}
		if cfg.KeyName == "" {
			return opts
		}
		return keypairs.CreateOptsExt{CreateOptsBuilder: opts, KeyName: cfg.KeyName}
	}, nil
}

func (r *run) waitServer(ctx context.Context, s *Server) error {
	what := fmt.Sprintf("server %q (%s)", s.Name, s.ID)
	return r.p.WaitFor(ctx, what, "ACTIVE", nil, "", func(ctx context.Context) (string, bool, error) {
		got, err := servers.Get(ctx, r.c.Compute, s.ID).Extract()
		if err != nil {
			return "", false, describe("read "+what, err)
		}
		s.Status = got.Status
		if got.Status == "ERROR" {
			return got.Status, false, &reconcile.Error{Op: "boot " + what, Message: firstOf(got.Fault.Message, "went to ERROR"),
				Hint: "Nova could not run it (`openstack server show " + s.ID + "` says more); lbctl down removes it"}
		}
		return got.Status, got.Status == "ACTIVE", nil
	})
}

// readAddress finds the server's fixed IP on the network (and subnet, when
// the file names one) through its Neutron ports.
func (r *run) readAddress(ctx context.Context, s *Server, networkID, subnetID string) error {
	op := fmt.Sprintf("read fixed IP of server %q", s.Name)
	pages, err := ports.List(r.c.Network, ports.ListOpts{DeviceID: s.ID, NetworkID: networkID}).AllPages(ctx)
	if err != nil {
		return describe(op, err)
	}
	all, err := ports.ExtractPorts(pages)
	if err != nil {
		return describe(op, err)
	}
	for _, p := range all {
		for _, ip := range p.FixedIPs {
			if subnetID == "" || ip.SubnetID == subnetID {
				s.Address, s.SubnetID = ip.IPAddress, ip.SubnetID
				return nil
			}
		}
	}
	return &reconcile.Error{Op: op, Message: fmt.Sprintf("server %s has no fixed IP on network %q%s", s.ID, r.spec.OS.Servers.Network,
		map[bool]string{true: " subnet " + r.spec.OS.Servers.Subnet}[subnetID != ""]),
		Hint: "check `openstack server show " + s.ID + "`; the network needs a subnet with free addresses"}
}

// lbctlServers are the project's servers lbctl created for this load
// balancer (they carry MetadataKey).
func (r *run) lbctlServers(ctx context.Context) ([]servers.Server, error) {
	if r.c.Compute == nil {
		return nil, nil
	}
	all, err := r.listServers(ctx)
	if err != nil {
		return nil, err
	}
	var out []servers.Server
	for _, s := range all {
		if s.Metadata[MetadataKey] == r.spec.LB.Name {
			out = append(out, s)
		}
	}
	return out, nil
}

// pruneServers deletes servers lbctl created for this load balancer that the
// file no longer asks for (count lowered, pattern changed), after the load
// balancer stopped sending them traffic.
func (r *run) pruneServers(ctx context.Context) error {
	if r.spec.OS.Servers == nil {
		return nil
	}
	want := map[string]bool{}
	for _, n := range r.spec.OS.Servers.ServerNames() {
		want[n] = true
	}
	mine, err := r.lbctlServers(ctx)
	if err != nil {
		return err
	}
	var surplus []servers.Server
	for _, s := range mine {
		if !want[s.Name] && s.Metadata[GroupKey] == "" { // the autoscaler's are its own
			surplus = append(surplus, s)
		}
	}
	return r.deleteServers(ctx, surplus, "no longer in the file")
}

// deleteServerChange deletes one server without waiting: Nova deletes them
// in parallel, and waitServersGone waits for all of them.
func (r *run) deleteServerChange(s servers.Server, why string) reconcile.Change {
	return reconcile.Change{Op: reconcile.OpDelete, Kind: "server", Name: s.Name, Detail: why, Do: func(ctx context.Context) error {
		err := servers.Delete(ctx, r.c.Compute, s.ID).ExtractErr()
		if isCode(err, http.StatusNotFound) {
			return nil
		}
		return describe(fmt.Sprintf("delete server %q (%s)", s.Name, s.ID), err)
	}}
}

// deleteServers deletes the servers and, unless planning, waits until Nova
// has removed them all (their ports go with them, which the security group's
// deletion needs).
func (r *run) deleteServers(ctx context.Context, list []servers.Server, why string) error {
	var changes []reconcile.Change
	for _, s := range list {
		changes = append(changes, r.deleteServerChange(s, why))
	}
	if err := r.Apply(ctx, changes); err != nil || r.Plan {
		return err
	}
	for _, s := range list {
		what := fmt.Sprintf("server %q (%s)", s.Name, s.ID)
		err := r.p.WaitFor(ctx, what, "deleted", []string{"ERROR"}, "Nova could not delete it; `openstack server show "+s.ID+"` says why",
			func(ctx context.Context) (string, bool, error) {
				got, err := servers.Get(ctx, r.c.Compute, s.ID).Extract()
				if isCode(err, http.StatusNotFound) {
					return "deleted", true, nil
				}
				if err != nil {
					return "", false, describe("read "+what, err)
				}
				// DELETED shows for a moment before the server is gone from
				// listings; SOFT_DELETED stays until the cloud reclaims it.
				return strings.ToUpper(firstOf(got.Status, "DELETING")), got.Status == "SOFT_DELETED", nil
			})
		if err != nil {
			return err
		}
	}
	return nil
}
