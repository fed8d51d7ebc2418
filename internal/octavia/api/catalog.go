package api

import (
	"context"
	"net/http"

	"lbd/internal/octavia/auth"
)

// The catalog is what an operator manages beside load balancers: flavor
// profiles and flavors, availability zone profiles and availability zones
// (octavia/api/v2/controllers/flavor*.py, availability_zone*.py), and the
// providers that validate them (provider.py). None belongs to a project.
// Octavia's default policy lets any load-balancer reader list and show
// flavors, availability zones and providers; everything else is for
// administrators.

// Catalog is the part of Service behind the catalog endpoints.
type Catalog interface {
	FlavorProfiles() []FlavorProfile
	FlavorProfile(id string) (FlavorProfile, error)
	CreateFlavorProfile(ctx context.Context, in FlavorProfileRequest) (FlavorProfile, error)
	UpdateFlavorProfile(ctx context.Context, id string, p Patch) (FlavorProfile, error)
	DeleteFlavorProfile(ctx context.Context, id string) error

	Flavors() []Flavor
	Flavor(id string) (Flavor, error)
	CreateFlavor(ctx context.Context, in FlavorRequest) (Flavor, error)
	UpdateFlavor(ctx context.Context, id string, p Patch) (Flavor, error)
	DeleteFlavor(ctx context.Context, id string) error

	AvailabilityZoneProfiles() []AvailabilityZoneProfile
	AvailabilityZoneProfile(id string) (AvailabilityZoneProfile, error)
	CreateAvailabilityZoneProfile(ctx context.Context, in AvailabilityZoneProfileRequest) (AvailabilityZoneProfile, error)
	UpdateAvailabilityZoneProfile(ctx context.Context, id string, p Patch) (AvailabilityZoneProfile, error)
	DeleteAvailabilityZoneProfile(ctx context.Context, id string) error

	AvailabilityZones() []AvailabilityZone
	AvailabilityZone(name string) (AvailabilityZone, error)
	CreateAvailabilityZone(ctx context.Context, in AvailabilityZoneRequest) (AvailabilityZone, error)
	UpdateAvailabilityZone(ctx context.Context, name string, p Patch) (AvailabilityZone, error)
	DeleteAvailabilityZone(ctx context.Context, name string) error

	// Providers lists the enabled provider drivers.
	Providers() []Provider
	// FlavorCapabilities and AvailabilityZoneCapabilities list the
	// metadata keys a provider's profiles may carry.
	FlavorCapabilities(provider string) ([]Provider, error)
	AvailabilityZoneCapabilities(provider string) ([]Provider, error)
}

// Resource names of the catalog, as Octavia prints them in messages.
const (
	KindFlavor                  = "Flavor"
	KindFlavorProfile           = "Flavor Profile"
	KindAvailabilityZone        = "Availability Zone"
	KindAvailabilityZoneProfile = "Availability Zone Profile"
	KindAmphora                 = "Amphora"
	KindL7Policy                = "L7 Policy"
)

// NilUUID is the all-zero UUID, which Octavia answers 404 for before
// looking anything up.
const NilUUID = "00000000-0000-0000-0000-000000000000"

// FlavorProfile is a flavor profile: provider-specific settings as a JSON
// document in a string.
type FlavorProfile struct {
	ID           string `json:"id"`
	Name         string `json:"name"`
	ProviderName string `json:"provider_name"`
	FlavorData   string `json:"flavor_data"`
}

// FlavorProfileRequest is the body of a flavor profile create.
type FlavorProfileRequest struct {
	Name         *string `json:"name"`
	ProviderName *string `json:"provider_name"`
	FlavorData   *string `json:"flavor_data"`
}

// Flavor is a flavor: a named, user-visible flavor profile.
type Flavor struct {
	ID              string `json:"id"`
	Name            string `json:"name"`
	Description     string `json:"description"`
	Enabled         bool   `json:"enabled"`
	FlavorProfileID string `json:"flavor_profile_id"`
}

// FlavorRequest is the body of a flavor create.
type FlavorRequest struct {
	Name            *string `json:"name"`
	Description     *string `json:"description"`
	Enabled         *bool   `json:"enabled"`
	FlavorProfileID *string `json:"flavor_profile_id"`
}

// AvailabilityZoneProfile is an availability zone profile.
type AvailabilityZoneProfile struct {
	ID                   string `json:"id"`
	Name                 string `json:"name"`
	ProviderName         string `json:"provider_name"`
	AvailabilityZoneData string `json:"availability_zone_data"`
}

// AvailabilityZoneProfileRequest is the body of an availability zone
// profile create.
type AvailabilityZoneProfileRequest struct {
	Name                 *string `json:"name"`
	ProviderName         *string `json:"provider_name"`
	AvailabilityZoneData *string `json:"availability_zone_data"`
}

// AvailabilityZone is an availability zone, known by its name.
type AvailabilityZone struct {
	Name                      string `json:"name"`
	Description               string `json:"description"`
	Enabled                   bool   `json:"enabled"`
	AvailabilityZoneProfileID string `json:"availability_zone_profile_id"`
}

// AvailabilityZoneRequest is the body of an availability zone create.
type AvailabilityZoneRequest struct {
	Name                      *string `json:"name"`
	Description               *string `json:"description"`
	Enabled                   *bool   `json:"enabled"`
	AvailabilityZoneProfileID *string `json:"availability_zone_profile_id"`
}

// Provider is a provider driver, or one capability of one: a name and a
// description.
type Provider struct {
	Name        string `json:"name"`
	Description string `json:"description"`
}

var (
	flavorProfilePost = body{arg: "flavor_profile_", envelope: "flavorprofile", shape: leaves("name", "provider_name", "flavor_data")}
	flavorProfilePut  = flavorProfilePost
	flavorPost        = body{arg: "flavor_", envelope: "flavor", shape: leaves("name", "description", "enabled", "flavor_profile_id")}
	flavorPut         = body{arg: "flavor_", envelope: "flavor", shape: leaves("name", "description", "enabled")}
	azProfilePost     = body{arg: "availability_zone_profile_", envelope: "availability_zone_profile",
		shape: leaves("name", "provider_name", "availability_zone_data")}
	azProfilePut = azProfilePost
	azPost       = body{arg: "availability_zone_", envelope: "availability_zone",
		shape: leaves("name", "description", "enabled", "availability_zone_profile_id")}
	azPut = body{arg: "availability_zone_", envelope: "availability_zone", shape: leaves("description", "enabled")}
)

// catalogKind ties one catalog collection's routes to its Service calls.
type catalogKind struct {
	path     string // under the lbaas prefix
	envelope string // of one object
	list     listSpec
	kind     string // for messages
	// readable: any load-balancer reader may list and show (flavors and
	// availability zones); otherwise administrators only (profiles).
	readable bool
	post     body
	put      body
	all      func() []any
	one      func(id string) (any, error)
	create   func(r *http.Request, authorize func() error) (any, error)
	update   func(r *http.Request, id string, p Patch) (any, error)
	remove   func(r *http.Request, id string) error
}

func (h *Handler) catalogKinds() []catalogKind {
	s := h.svc
	return []catalogKind{
		{path: "/flavorprofiles", envelope: "flavorprofile", kind: KindFlavorProfile, post: flavorProfilePost, put: flavorProfilePut,
			list: listSpec{key: "flavorprofiles", links: "flavorprofile_links", sample: FlavorProfile{}, defaults: defaultSort},
			all:  func() []any { return anys(s.FlavorProfiles()) },
			one:  func(id string) (any, error) { return s.FlavorProfile(id) },
			create: func(r *http.Request, authorize func() error) (any, error) {
				var in FlavorProfileRequest
				if err := decode(r, flavorProfilePost, &in); err != nil {
					return nil, err
				}
				if err := authorize(); err != nil {
					return nil, err
				}
				return s.CreateFlavorProfile(r.Context(), in)
			},
			update: func(r *http.Request, id string, p Patch) (any, error) {
				return s.UpdateFlavorProfile(r.Context(), id, p)
			},
			remove: func(r *http.Request, id string) error { return s.DeleteFlavorProfile(r.Context(), id) }},
		{path: "/flavors", envelope: "flavor", kind: KindFlavor, readable: true, post: flavorPost, put: flavorPut,
			list: listSpec{key: "flavors", links: "flavors_links", sample: Flavor{}, defaults: defaultSort},
			all:  func() []any { return anys(s.Flavors()) },
			one:  func(id string) (any, error) { return s.Flavor(id) },
			create: func(r *http.Request, authorize func() error) (any, error) {
				var in FlavorRequest
				if err := decode(r, flavorPost, &in); err != nil {
					return nil, err
				}
				if err := authorize(); err != nil {
					return nil, err
				}
				return s.CreateFlavor(r.Context(), in)
			},
			update: func(r *http.Request, id string, p Patch) (any, error) { return s.UpdateFlavor(r.Context(), id, p) },
			remove: func(r *http.Request, id string) error { return s.DeleteFlavor(r.Context(), id) }},
		{path: "/availabilityzoneprofiles", envelope: "availability_zone_profile", kind: KindAvailabilityZoneProfile,
			post: azProfilePost, put: azProfilePut,
			list: listSpec{key: "availability_zone_profiles", links: "availability_zone_profile_links", sample: AvailabilityZoneProfile{}, defaults: defaultSort},
			all:  func() []any { return anys(s.AvailabilityZoneProfiles()) },
			one:  func(id string) (any, error) { return s.AvailabilityZoneProfile(id) },
			create: func(r *http.Request, authorize func() error) (any, error) {
				var in AvailabilityZoneProfileRequest
				if err := decode(r, azProfilePost, &in); err != nil {
					return nil, err
				}
				if err := authorize(); err != nil {
					return nil, err
				}
				return s.CreateAvailabilityZoneProfile(r.Context(), in)
			},
			update: func(r *http.Request, id string, p Patch) (any, error) {
				return s.UpdateAvailabilityZoneProfile(r.Context(), id, p)
			},
			remove: func(r *http.Request, id string) error { return s.DeleteAvailabilityZoneProfile(r.Context(), id) }},
		{path: "/availabilityzones", envelope: "availability_zone", kind: KindAvailabilityZone, readable: true, post: azPost, put: azPut,
			// Availability zones are known by name, their primary key,
			// which is also their default order.
			list: listSpec{key: "availability_zones", links: "availability_zones_links", sample: AvailabilityZone{}, defaults: []string{"name"}},
			all:  func() []any { return anys(s.AvailabilityZones()) },
			one:  func(name string) (any, error) { return s.AvailabilityZone(name) },
			create: func(r *http.Request, authorize func() error) (any, error) {
				var in AvailabilityZoneRequest
				if err := decode(r, azPost, &in); err != nil {
					return nil, err
				}
				if err := authorize(); err != nil {
					return nil, err
				}
				return s.CreateAvailabilityZone(r.Context(), in)
			},
			update: func(r *http.Request, name string, p Patch) (any, error) {
				return s.UpdateAvailabilityZone(r.Context(), name, p)
			},
			remove: func(r *http.Request, name string) error { return s.DeleteAvailabilityZone(r.Context(), name) }},
	}
}

func anys[T any](s []T) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

func (h *Handler) routeCatalog(prefix string) {
	for _, k := range h.catalogKinds() {
		h.mux.HandleFunc("GET "+prefix+k.path, func(w http.ResponseWriter, r *http.Request) {
			if err := catalogPolicy(r, k.readable); err != nil {
				h.fail(w, r, err)
				return
			}
			h.writeList(w, r, r.URL.Query(), k.list, k.all())
		})
		h.mux.HandleFunc("GET "+prefix+k.path+"/{id}", func(w http.ResponseWriter, r *http.Request) {
			id := r.PathValue("id")
			if err := catalogPolicy(r, k.readable); err != nil {
				h.fail(w, r, err)
				return
			}
			if id == NilUUID {
				h.fail(w, r, NotFound(k.kind, id))
				return
			}
			v, err := k.one(id)
			if err != nil {
				h.fail(w, r, err)
				return
			}
			h.one(w, r, http.StatusOK, k.envelope, v)
		})
		h.mux.HandleFunc("POST "+prefix+k.path, func(w http.ResponseWriter, r *http.Request) {
			// WSME reads the body before the controller checks the policy.
			v, err := k.create(r, func() error { return catalogPolicy(r, false) })
			if err != nil {
				h.fail(w, r, err)
				return
			}
			writeJSON(w, http.StatusCreated, map[string]any{k.envelope: v})
		})
		h.mux.HandleFunc("PUT "+prefix+k.path+"/{id}", func(w http.ResponseWriter, r *http.Request) {
			var p Patch
			if err := decode(r, k.put, &p); err != nil {
				h.fail(w, r, err)
				return
			}
			if err := catalogPolicy(r, false); err != nil {
				h.fail(w, r, err)
				return
			}
			v, err := k.update(r, r.PathValue("id"), p)
			if err != nil {
				h.fail(w, r, err)
				return
			}
			writeJSON(w, http.StatusOK, map[string]any{k.envelope: v})
		})
		h.mux.HandleFunc("DELETE "+prefix+k.path+"/{id}", func(w http.ResponseWriter, r *http.Request) {
			id := r.PathValue("id")
			if err := catalogPolicy(r, false); err != nil {
				h.fail(w, r, err)
				return
			}
			if id == NilUUID {
				h.fail(w, r, NotFound(k.kind, id))
				return
			}
			if err := k.remove(r, id); err != nil {
				h.fail(w, r, err)
				return
			}
			w.WriteHeader(http.StatusNoContent)
		})
	}

	h.mux.HandleFunc("GET "+prefix+"/providers", h.listProviders)
	h.mux.HandleFunc("GET "+prefix+"/providers/{provider}/flavor_capabilities", func(w http.ResponseWriter, r *http.Request) {
		h.capabilities(w, r, "flavor_capabilities", h.svc.FlavorCapabilities)
	})
	h.mux.HandleFunc("GET "+prefix+"/providers/{provider}/availability_zone_capabilities", func(w http.ResponseWriter, r *http.Request) {
		h.capabilities(w, r, "availability_zone_capabilities", h.svc.AvailabilityZoneCapabilities)
	})
}

// catalogPolicy is Octavia's rule for catalog objects: load-balancer:read
// (in the caller's own project) for reading flavors, availability zones
// and providers, load-balancer:admin for the rest.
func catalogPolicy(r *http.Request, readable bool) error {
	c := auth.FromContext(r.Context())
	if c.Admin() || readable && c.CanRead(c.ProjectID) {
		return nil
	}
	return errForbidden
}

func (h *Handler) listProviders(w http.ResponseWriter, r *http.Request) {
	if err := catalogPolicy(r, true); err != nil {
		h.fail(w, r, err)
		return
	}
	h.providerList(w, r, "providers", h.svc.Providers())
}

// capabilities answers a provider's flavor or availability zone
// capabilities, filtered by name and description as Octavia does.
func (h *Handler) capabilities(w http.ResponseWriter, r *http.Request, key string, get func(string) ([]Provider, error)) {
	if err := catalogPolicy(r, false); err != nil {
		h.fail(w, r, err)
		return
	}
	caps, err := get(r.PathValue("provider"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	q := r.URL.Query()
	var out []Provider
	for _, c := range caps {
		if n := q.Get("name"); n != "" && c.Name != n {
			continue
		}
		if d := q.Get("description"); d != "" && c.Description != d {
			continue
		}
		out = append(out, c)
	}
	h.providerList(w, r, key, out)
}

// providerList answers name/description pairs, honouring ?fields=, without
// paging (Octavia builds these lists from configuration).
func (h *Handler) providerList(w http.ResponseWriter, r *http.Request, key string, items []Provider) {
	fields := r.URL.Query()["fields"]
	out := make([]map[string]any, 0, len(items))
	for _, it := range items {
		m := map[string]any{"name": it.Name, "description": it.Description}
		if len(fields) > 0 {
			keep := map[string]any{}
			for _, f := range splitFields(fields) {
				if v, ok := m[f]; ok {
					keep[f] = v
				}
			}
			m = keep
		}
		out = append(out, m)
	}
	writeJSON(w, http.StatusOK, map[string]any{key: out})
}
