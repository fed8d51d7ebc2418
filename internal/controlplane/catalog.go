package controlplane

import (
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"slices"
	"strings"

	"lbd/internal/octavia"
	"lbd/internal/octavia/api"
)

// The catalog: flavor profiles and flavors, availability zone profiles and
// availability zones, stored in the state beside the load balancers, as
// Octavia 11 keeps and checks them (octavia/api/v2/controllers/flavor*.py,
// availability_zone*.py); providers.go validates their metadata.

type flavorProfile struct {
	ID           string `json:"id"`
	Name         string `json:"name"`
	ProviderName string `json:"provider_name"`
	FlavorData   string `json:"flavor_data"`
}

type flavor struct {
	ID              string `json:"id"`
	Name            string `json:"name"`
	Description     string `json:"description"`
	Enabled         bool   `json:"enabled"`
	FlavorProfileID string `json:"flavor_profile_id"`
}

type azProfile struct {
	ID           string `json:"id"`
	Name         string `json:"name"`
	ProviderName string `json:"provider_name"`
	Data         string `json:"availability_zone_data"`
}

type availabilityZone struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	Enabled     bool   `json:"enabled"`
	ProfileID   string `json:"availability_zone_profile_id"`
}

// checkLength is WSME's StringType(max_length=255) check of a name or
// description.
func checkLength(field string, v *string) error {
	if v != nil && len([]rune(*v)) > 255 {
		return api.InvalidInput(field, *v, "Value should have a maximum character requirement of 255")
	}
	return nil
}

// checkData is the max_length=4096 of a profile's metadata document.
func checkData(field string, v *string) error {
	if v != nil && len([]rune(*v)) > 4096 {
		return api.InvalidInput(field, *v, "Value should have a maximum character requirement of 4096")
	}
	return nil
}

func mandatory(field string, v *string) error {
	if v == nil {
		return api.InvalidInput(field, nil, "Mandatory field missing.")
	}
	return nil
}

// editCatalog runs a change of the catalog: edit works on a clone of the
// state, which is then stored and swapped in (commitState). It does not
// touch the data plane: catalog objects configure nothing until a load
// balancer is created with them. Catalog changes are rare; they run alone,
// as a reload does.
func (cp *ControlPlane) editCatalog(ctx context.Context, edit func(st *state) error) error {
	cp.gate.Lock()
	defer cp.gate.Unlock()
	cp.applyMu.Lock()
	defer cp.applyMu.Unlock()
	cp.mu.Lock()
	st := cp.st.clone()
	cp.mu.Unlock()
	if err := edit(st); err != nil {
		return err
	}
	return cp.commitState(ctx, st)
}

// patched overlays a PUT body on a copy of a record through the record's
// JSON form (api.ApplyPatch's rules: null resets to the zero value).
func patched[T any](rec *T, p api.Patch) (*T, error) {
	c := *rec
	if err := api.ApplyPatch(&c, p); err != nil {
		return nil, err
	}
	return &c, nil
}

// explicitNull reports a PUT attribute given as null.
func explicitNull(p api.Patch, name string) bool {
	raw, ok := p[name]
	return ok && strings.TrimSpace(string(raw)) == "null"
}

// --- flavor profiles ---

func fpView(fp *flavorProfile) api.FlavorProfile {
	return api.FlavorProfile{ID: fp.ID, Name: fp.Name, ProviderName: fp.ProviderName, FlavorData: fp.FlavorData}
}

// FlavorProfiles implements api.Catalog.
func (cp *ControlPlane) FlavorProfiles() []api.FlavorProfile {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	out := make([]api.FlavorProfile, 0, len(cp.st.FlavorProfiles))
	for _, fp := range cp.st.FlavorProfiles {
		out = append(out, fpView(fp))
	}
	return out
}

// FlavorProfile implements api.Catalog.
func (cp *ControlPlane) FlavorProfile(id string) (api.FlavorProfile, error) {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	fp := cp.st.FlavorProfiles[id]
	if fp == nil {
		return api.FlavorProfile{}, api.NotFound(api.KindFlavorProfile, id)
	}
	return fpView(fp), nil
}

// CreateFlavorProfile implements api.Catalog.
func (cp *ControlPlane) CreateFlavorProfile(ctx context.Context, in api.FlavorProfileRequest) (api.FlavorProfile, error) {
	for _, f := range []struct {
		name string
		v    *string
	}{{"name", in.Name}, {"provider_name", in.ProviderName}, {"flavor_data", in.FlavorData}} {
		if err := mandatory(f.name, f.v); err != nil {
			return api.FlavorProfile{}, err
		}
	}
	if err := firstErr(checkLength("name", in.Name), checkLength("provider_name", in.ProviderName), checkData("flavor_data", in.FlavorData)); err != nil {
		return api.FlavorProfile{}, err
	}
	if err := validateProfile(*in.ProviderName, "flavor_data", *in.FlavorData, flavorKeys); err != nil {
		return api.FlavorProfile{}, err
	}
	fp := &flavorProfile{ID: newID(), Name: *in.Name, ProviderName: *in.ProviderName, FlavorData: *in.FlavorData}
	err := cp.editCatalog(ctx, func(st *state) error {
		st.FlavorProfiles[fp.ID] = fp
		return nil
	})
	return fpView(fp), err
}

// UpdateFlavorProfile implements api.Catalog. A profile a flavor uses
// keeps its provider and metadata.
func (cp *ControlPlane) UpdateFlavorProfile(ctx context.Context, id string, p api.Patch) (api.FlavorProfile, error) {
	for _, name := range []string{"name", "provider_name", "flavor_data"} {
		if explicitNull(p, name) {
			return api.FlavorProfile{}, api.Errorf(http.StatusBadRequest, "None is not a valid option for %s", name)
		}
	}
	var out *flavorProfile
	err := cp.editCatalog(ctx, func(st *state) error {
		_, dataChange := p["flavor_data"]
		_, provChange := p["provider_name"]
		if (dataChange || provChange) && slices.ContainsFunc(slices.Collect(maps.Values(st.Flavors)), func(f *flavor) bool { return f.FlavorProfileID == id }) {
			return api.Errorf(http.StatusConflict, "Flavor profile %s is in use and cannot be modified.", id)
		}
		if id == api.NilUUID || st.FlavorProfiles[id] == nil {
			return api.NotFound(api.KindFlavorProfile, id)
		}
		fp, err := patched(st.FlavorProfiles[id], p)
		if err != nil {
			return err
		}
		if err := firstErr(checkLength("name", &fp.Name), checkLength("provider_name", &fp.ProviderName), checkData("flavor_data", &fp.FlavorData)); err != nil {
			return err
		}
		if dataChange || provChange {
			if err := validateProfile(fp.ProviderName, "flavor_data", fp.FlavorData, flavorKeys); err != nil {
				return err
			}
		}
		fp.ID = id
		st.FlavorProfiles[id] = fp
		out = fp
		return nil
	})
	if err != nil {
		return api.FlavorProfile{}, err
	}
	return fpView(out), nil
}

// DeleteFlavorProfile implements api.Catalog.
func (cp *ControlPlane) DeleteFlavorProfile(ctx context.Context, id string) error {
	return cp.editCatalog(ctx, func(st *state) error {
		for _, f := range st.Flavors {
			if f.FlavorProfileID == id {
				return api.Errorf(http.StatusConflict, "Flavor profile %s is in use and cannot be modified.", id)
			}
		}
		if st.FlavorProfiles[id] == nil {
			return api.NotFound(api.KindFlavorProfile, id)
		}
		delete(st.FlavorProfiles, id)
		return nil
	})
}

// --- flavors ---

func flavorView(f *flavor) api.Flavor {
	return api.Flavor{ID: f.ID, Name: f.Name, Description: f.Description, Enabled: f.Enabled, FlavorProfileID: f.FlavorProfileID}
}

// Flavors implements api.Catalog.
func (cp *ControlPlane) Flavors() []api.Flavor {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	out := make([]api.Flavor, 0, len(cp.st.Flavors))
	for _, f := range cp.st.Flavors {
		out = append(out, flavorView(f))
	}
	return out
}

// Flavor implements api.Catalog.
func (cp *ControlPlane) Flavor(id string) (api.Flavor, error) {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	f := cp.st.Flavors[id]
	if f == nil {
		return api.Flavor{}, api.NotFound(api.KindFlavor, id)
	}
	return flavorView(f), nil
}

// CreateFlavor implements api.Catalog. Flavor names are unique.
func (cp *ControlPlane) CreateFlavor(ctx context.Context, in api.FlavorRequest) (api.Flavor, error) {
	if err := firstErr(mandatory("name", in.Name), mandatory("flavor_profile_id", in.FlavorProfileID)); err != nil {
		return api.Flavor{}, err
	}
	if err := firstErr(checkLength("name", in.Name), checkLength("description", in.Description),
		checkUUIDs("flavor_profile_id", *in.FlavorProfileID)); err != nil {
		return api.Flavor{}, err
	}
	f := &flavor{ID: newID(), Name: *in.Name, Description: deref(in.Description), Enabled: in.Enabled == nil || *in.Enabled,
		FlavorProfileID: *in.FlavorProfileID}
	err := cp.editCatalog(ctx, func(st *state) error {
		if st.FlavorProfiles[f.FlavorProfileID] == nil {
			return api.NotFound(api.KindFlavorProfile, f.FlavorProfileID)
		}
		for _, o := range st.Flavors {
			if o.Name == f.Name {
				return api.Errorf(http.StatusConflict, "A flavor of %s already exists.", f.Name)
			}
		}
		st.Flavors[f.ID] = f
		return nil
	})
	return flavorView(f), err
}

// UpdateFlavor implements api.Catalog: name, description and enabled.
func (cp *ControlPlane) UpdateFlavor(ctx context.Context, id string, p api.Patch) (api.Flavor, error) {
	var out *flavor
	err := cp.editCatalog(ctx, func(st *state) error {
		if st.Flavors[id] == nil {
			return api.NotFound(api.KindFlavor, id)
		}
		f, err := patched(st.Flavors[id], p)
		if err != nil {
			return err
		}
		if err := firstErr(checkLength("name", &f.Name), checkLength("description", &f.Description)); err != nil {
			return err
		}
		for oid, o := range st.Flavors {
			if oid != id && o.Name == f.Name {
				return api.Errorf(http.StatusConflict, "A flavor of %s already exists.", f.Name)
			}
		}
		f.ID = id
		st.Flavors[id] = f
		out = f
		return nil
	})
	if err != nil {
		return api.Flavor{}, err
	}
	return flavorView(out), nil
}

// DeleteFlavor implements api.Catalog: refused while a load balancer uses
// the flavor.
func (cp *ControlPlane) DeleteFlavor(ctx context.Context, id string) error {
	return cp.editCatalog(ctx, func(st *state) error {
		if st.Flavors[id] == nil {
			return api.NotFound(api.KindFlavor, id)
		}
		for _, lb := range st.LoadBalancers {
			if lb.FlavorID == id {
				return api.Errorf(http.StatusConflict, "Flavor %s is in use and cannot be modified.", id)
			}
		}
		delete(st.Flavors, id)
		return nil
	})
}

// --- availability zone profiles ---

func azpView(p *azProfile) api.AvailabilityZoneProfile {
	return api.AvailabilityZoneProfile{ID: p.ID, Name: p.Name, ProviderName: p.ProviderName, AvailabilityZoneData: p.Data}
}

// AvailabilityZoneProfiles implements api.Catalog.
func (cp *ControlPlane) AvailabilityZoneProfiles() []api.AvailabilityZoneProfile {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	out := make([]api.AvailabilityZoneProfile, 0, len(cp.st.AZProfiles))
	for _, p := range cp.st.AZProfiles {
		out = append(out, azpView(p))
	}
	return out
}

// AvailabilityZoneProfile implements api.Catalog.
func (cp *ControlPlane) AvailabilityZoneProfile(id string) (api.AvailabilityZoneProfile, error) {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	p := cp.st.AZProfiles[id]
	if p == nil {
		return api.AvailabilityZoneProfile{}, api.NotFound(api.KindAvailabilityZoneProfile, id)
	}
	return azpView(p), nil
}

// CreateAvailabilityZoneProfile implements api.Catalog.
func (cp *ControlPlane) CreateAvailabilityZoneProfile(ctx context.Context, in api.AvailabilityZoneProfileRequest) (api.AvailabilityZoneProfile, error) {
	if err := firstErr(mandatory("name", in.Name), mandatory("provider_name", in.ProviderName),
		mandatory("availability_zone_data", in.AvailabilityZoneData)); err != nil {
		return api.AvailabilityZoneProfile{}, err
	}
	if err := firstErr(checkLength("name", in.Name), checkLength("provider_name", in.ProviderName),
		checkData("availability_zone_data", in.AvailabilityZoneData)); err != nil {
		return api.AvailabilityZoneProfile{}, err
	}
	if err := validateProfile(*in.ProviderName, "availability_zone_data", *in.AvailabilityZoneData, azKeys); err != nil {
		return api.AvailabilityZoneProfile{}, err
	}
	p := &azProfile{ID: newID(), Name: *in.Name, ProviderName: *in.ProviderName, Data: *in.AvailabilityZoneData}
	err := cp.editCatalog(ctx, func(st *state) error {
		st.AZProfiles[p.ID] = p
		return nil
	})
	return azpView(p), err
}

// UpdateAvailabilityZoneProfile implements api.Catalog. A profile an
// availability zone uses keeps its provider and metadata.
func (cp *ControlPlane) UpdateAvailabilityZoneProfile(ctx context.Context, id string, p api.Patch) (api.AvailabilityZoneProfile, error) {
	for _, name := range []string{"name", "provider_name", "availability_zone_data"} {
		if explicitNull(p, name) {
			return api.AvailabilityZoneProfile{}, api.Errorf(http.StatusBadRequest, "None is not a valid option for %s", name)
		}
	}
	var out *azProfile
	err := cp.editCatalog(ctx, func(st *state) error {
		_, dataChange := p["availability_zone_data"]
		_, provChange := p["provider_name"]
		if (dataChange || provChange) && slices.ContainsFunc(slices.Collect(maps.Values(st.AZs)), func(z *availabilityZone) bool { return z.ProfileID == id }) {
			return api.Errorf(http.StatusConflict, "Availability Zone Profile %s is in use and cannot be modified.", id)
		}
		if id == api.NilUUID || st.AZProfiles[id] == nil {
			return api.NotFound(api.KindAvailabilityZoneProfile, id)
		}
		np, err := patched(st.AZProfiles[id], p)
		if err != nil {
			return err
		}
		if err := firstErr(checkLength("name", &np.Name), checkLength("provider_name", &np.ProviderName),
			checkData("availability_zone_data", &np.Data)); err != nil {
			return err
		}
		if dataChange || provChange {
			if err := validateProfile(np.ProviderName, "availability_zone_data", np.Data, azKeys); err != nil {
				return err
			}
		}
		np.ID = id
		st.AZProfiles[id] = np
		out = np
		return nil
	})
	if err != nil {
		return api.AvailabilityZoneProfile{}, err
	}
	return azpView(out), nil
}

// DeleteAvailabilityZoneProfile implements api.Catalog.
func (cp *ControlPlane) DeleteAvailabilityZoneProfile(ctx context.Context, id string) error {
	return cp.editCatalog(ctx, func(st *state) error {
		for _, z := range st.AZs {
			if z.ProfileID == id {
				return api.Errorf(http.StatusConflict, "Availability Zone Profile %s is in use and cannot be modified.", id)
			}
		}
		if st.AZProfiles[id] == nil {
			return api.NotFound(api.KindAvailabilityZoneProfile, id)
		}
		delete(st.AZProfiles, id)
		return nil
	})
}

// --- availability zones ---

func azView(z *availabilityZone) api.AvailabilityZone {
	return api.AvailabilityZone{Name: z.Name, Description: z.Description, Enabled: z.Enabled, AvailabilityZoneProfileID: z.ProfileID}
}

// AvailabilityZones implements api.Catalog.
func (cp *ControlPlane) AvailabilityZones() []api.AvailabilityZone {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	out := make([]api.AvailabilityZone, 0, len(cp.st.AZs))
	for _, z := range cp.st.AZs {
		out = append(out, azView(z))
	}
	return out
}

// AvailabilityZone implements api.Catalog.
func (cp *ControlPlane) AvailabilityZone(name string) (api.AvailabilityZone, error) {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	z := cp.st.AZs[name]
	if z == nil {
		return api.AvailabilityZone{}, api.NotFound(api.KindAvailabilityZone, name)
	}
	return azView(z), nil
}

// CreateAvailabilityZone implements api.Catalog. Names are unique: they
// are the key.
func (cp *ControlPlane) CreateAvailabilityZone(ctx context.Context, in api.AvailabilityZoneRequest) (api.AvailabilityZone, error) {
	if err := firstErr(mandatory("name", in.Name), mandatory("availability_zone_profile_id", in.AvailabilityZoneProfileID)); err != nil {
		return api.AvailabilityZone{}, err
	}
	if err := firstErr(checkLength("name", in.Name), checkLength("description", in.Description),
		checkUUIDs("availability_zone_profile_id", *in.AvailabilityZoneProfileID)); err != nil {
		return api.AvailabilityZone{}, err
	}
	z := &availabilityZone{Name: *in.Name, Description: deref(in.Description), Enabled: in.Enabled == nil || *in.Enabled,
		ProfileID: *in.AvailabilityZoneProfileID}
	err := cp.editCatalog(ctx, func(st *state) error {
		if st.AZProfiles[z.ProfileID] == nil {
			return api.NotFound(api.KindAvailabilityZoneProfile, z.ProfileID)
		}
		if st.AZs[z.Name] != nil {
			return api.Errorf(http.StatusConflict, "A availability zone of %s already exists.", z.Name)
		}
		st.AZs[z.Name] = z
		return nil
	})
	return azView(z), err
}

// UpdateAvailabilityZone implements api.Catalog: description and enabled.
func (cp *ControlPlane) UpdateAvailabilityZone(ctx context.Context, name string, p api.Patch) (api.AvailabilityZone, error) {
	var out *availabilityZone
	err := cp.editCatalog(ctx, func(st *state) error {
		if name == api.NilUUID || st.AZs[name] == nil {
			return api.NotFound(api.KindAvailabilityZone, name)
		}
		z, err := patched(st.AZs[name], p)
		if err != nil {
			return err
		}
		if err := checkLength("description", &z.Description); err != nil {
			return err
		}
		z.Name = name
		st.AZs[name] = z
		out = z
		return nil
	})
	if err != nil {
		return api.AvailabilityZone{}, err
	}
	return azView(out), nil
}

// DeleteAvailabilityZone implements api.Catalog: refused while a load
// balancer is in the zone.
func (cp *ControlPlane) DeleteAvailabilityZone(ctx context.Context, name string) error {
	return cp.editCatalog(ctx, func(st *state) error {
		if st.AZs[name] == nil {
			return api.NotFound(api.KindAvailabilityZone, name)
		}
		for _, lb := range st.LoadBalancers {
			if lb.AvailabilityZone == name {
				return api.Errorf(http.StatusConflict, "Availability Zone %s is in use and cannot be modified.", name)
			}
		}
		delete(st.AZs, name)
		return nil
	})
}

// --- load balancers ---

// catalogProvider resolves a new load balancer's flavor, availability zone
// and provider as Octavia's load balancer controller does: the flavor and
// the zone must exist and be enabled, and the provider is the flavor
// profile's (a different provider asked for is a 400), or the one asked
// for, or the default. Called under cp.mu.
func catalogProvider(st *state, lb *octavia.LoadBalancer) error {
	prov := ""
	if lb.FlavorID != "" {
		f := st.Flavors[lb.FlavorID]
		if f == nil {
			return api.Invalid("Invalid flavor_id.")
		}
		if !f.Enabled {
			return api.Errorf(http.StatusBadRequest, "The selected flavor is not allowed in this deployment: %s", lb.FlavorID)
		}
		if fp := st.FlavorProfiles[f.FlavorProfileID]; fp != nil {
			prov = fp.ProviderName
			// The amphora provider's loadbalancer_topology (validated
			// with the profile) is the load balancer's topology.
			var data struct {
				Topology string `json:"loadbalancer_topology"`
			}
			if json.Unmarshal([]byte(fp.FlavorData), &data) == nil && data.Topology != "" {
				lb.Topology = data.Topology
			}
		}
	}
	if lb.AvailabilityZone != "" {
		z := st.AZs[lb.AvailabilityZone]
		if z == nil {
			return api.Invalid("Invalid availability zone.")
		}
		if !z.Enabled {
			return api.Errorf(http.StatusBadRequest, "The selected availability_zone is not allowed in this deployment: %s", lb.AvailabilityZone)
		}
	}
	switch {
	case prov != "" && lb.Provider != "" && lb.Provider != prov:
		return api.Errorf(http.StatusBadRequest, "Flavor '%s' is not compatible with provider '%s'", lb.FlavorID, lb.Provider)
	case prov != "":
		lb.Provider = prov
	}
	if lb.Provider != "" {
		if _, err := enabledProvider(lb.Provider); err != nil {
			return err
		}
	}
	return nil
}

// deref is *s, or "" for nil: an optional string attribute Octavia
// renders as "" when it was not given.
func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
