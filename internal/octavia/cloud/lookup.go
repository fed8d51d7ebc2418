package cloud

import (
	"context"
	"fmt"
	"net/http"
	"regexp"

	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/flavors"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/keypairs"
	"github.com/gophercloud/gophercloud/v2/openstack/image/v2/images"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/networks"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/subnets"

	"lbd/internal/octavia/reconcile"
)

var uuidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$`)

func (r *run) network(ctx context.Context, ref, field string) (*networks.Network, error) {
	opts := networks.ListOpts{Name: ref}
	if uuidRE.MatchString(ref) {
		opts = networks.ListOpts{ID: ref}
	}
	pages, err := networks.List(r.c.Network, opts).AllPages(ctx)
	if err != nil {
		return nil, describe(fmt.Sprintf("find network %q", ref), err)
	}
	all, err := networks.ExtractNetworks(pages)
	if err != nil {
		return nil, describe(fmt.Sprintf("find network %q", ref), err)
	}
	n, err := reconcile.One("network", ref, field, "openstack network list", all, func(n networks.Network) string { return n.ID })
	return &n, err
}

// subnet finds a subnet by name or ID, within a network when networkID is set.
func (r *run) subnet(ctx context.Context, ref, networkID, field string) (*subnets.Subnet, error) {
	opts := subnets.ListOpts{Name: ref, NetworkID: networkID}
	if uuidRE.MatchString(ref) {
		opts = subnets.ListOpts{ID: ref, NetworkID: networkID}
	}
	pages, err := subnets.List(r.c.Network, opts).AllPages(ctx)
	if err != nil {
		return nil, describe(fmt.Sprintf("find subnet %q", ref), err)
	}
	all, err := subnets.ExtractSubnets(pages)
	if err != nil {
		return nil, describe(fmt.Sprintf("find subnet %q", ref), err)
	}
	s, err := reconcile.One("subnet", ref, field, "openstack subnet list", all, func(s subnets.Subnet) string { return s.ID })
	return &s, err
}

func (r *run) image(ctx context.Context, ref string) (string, error) {
	if r.c.Image == nil {
		if uuidRE.MatchString(ref) {
			return ref, nil
		}
		return "", fmt.Errorf("find image %q: the cloud's catalog has no image service (Glance): give openstack.servers.image as an ID", ref)
	}
	opts := images.ListOpts{Name: ref}
	if uuidRE.MatchString(ref) {
		opts = images.ListOpts{ID: ref}
	}
	pages, err := images.List(r.c.Image, opts).AllPages(ctx)
	if err != nil {
		return "", describe(fmt.Sprintf("find image %q", ref), err)
	}
	all, err := images.ExtractImages(pages)
	if err != nil {
		return "", describe(fmt.Sprintf("find image %q", ref), err)
	}
	img, err := reconcile.One("image", ref, "openstack.servers.image", "openstack image list", all, func(i images.Image) string { return i.ID })
	return img.ID, err
}

func (r *run) flavor(ctx context.Context, ref string) (string, error) {
	pages, err := flavors.ListDetail(r.c.Compute, flavors.ListOpts{AccessType: flavors.AllAccess}).AllPages(ctx)
	if err != nil {
		return "", describe(fmt.Sprintf("find flavor %q", ref), err)
	}
	all, err := flavors.ExtractFlavors(pages)
	if err != nil {
		return "", describe(fmt.Sprintf("find flavor %q", ref), err)
	}
	var match []flavors.Flavor
	for _, f := range all {
		if f.ID == ref || f.Name == ref {
			match = append(match, f)
		}
	}
	f, err := reconcile.One("flavor", ref, "openstack.servers.flavor", "openstack flavor list", match, func(f flavors.Flavor) string { return f.ID })
	return f.ID, err
}

// checkKeyPair fails early, before any server is created, when the key pair
// does not exist: Nova would fail only when booting.
func (r *run) checkKeyPair(ctx context.Context, name string) error {
	_, err := keypairs.Get(ctx, r.c.Compute, name, nil).Extract()
	if isCode(err, http.StatusNotFound) {
		return &reconcile.Error{Op: fmt.Sprintf("find key pair %q", name), Code: http.StatusNotFound,
			Message: fmt.Sprintf("no key pair %q for this user", name),
			Hint:    "create or import it with `openstack keypair create`, or fix openstack.servers.key_name in the file"}
	}
	return describe(fmt.Sprintf("find key pair %q", name), err)
}
