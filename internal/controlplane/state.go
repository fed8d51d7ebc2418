package controlplane

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"

	"lbd/internal/octavia"
)

// state is the committed desired state. The load balancer graphs are in
// normalized form (octavia.Config.Normalize) and are never modified in
// place once committed: a change works on a copy of its load balancer's
// graph and puts the new graph in its place, so a graph handed to the data
// plane or being rendered stays consistent. The rest (the maps) is changed
// in place, under ControlPlane.mu, once the change is stored.
//
// The exported fields are what is stored (persist.go): each load balancer
// with the bookkeeping of its objects under a key of its own, and any
// other field generically (a map by entry, anything else whole), so that a
// field added here is stored without more code.
type state struct {
	LoadBalancers []*octavia.LoadBalancer `json:"loadbalancers"`
	// Meta holds the API bookkeeping of every object, by ID.
	Meta map[string]*meta `json:"meta"`
	// Owners records, per load balancer ID, where it comes from (see merge.go).
	Owners map[string]*owner `json:"owners"`
	// Tombstones are file load balancers deleted through the API: ID to the
	// hash of the file entry that was deleted. While the file still has that
	// entry unchanged, the load balancer stays deleted.
	Tombstones map[string]string `json:"tombstones,omitempty"`

	// The catalog (catalog.go): flavor profiles, flavors and availability
	// zone profiles by ID, availability zones by name. Records are
	// replaced, never changed in place; changes go through commitState.
	FlavorProfiles map[string]*flavorProfile    `json:"flavor_profiles,omitempty"`
	Flavors        map[string]*flavor           `json:"flavors,omitempty"`
	AZProfiles     map[string]*azProfile        `json:"availability_zone_profiles,omitempty"`
	AZs            map[string]*availabilityZone `json:"availability_zones,omitempty"`

	// idx indexes LoadBalancers; nil until needed (see index).
	idx *index
}

// meta is what Octavia keeps about an object besides its configuration.
type meta struct {
	ProjectID string                     `json:"project_id,omitempty"`
	Status    octavia.ProvisioningStatus `json:"provisioning_status"`
	CreatedAt time.Time                  `json:"created_at"`
	UpdatedAt time.Time                  `json:"updated_at,omitzero"`
	// AmphoraID and AmphoraCreatedAt, on a load balancer's entry, are
	// the amphora a failover gave it (amphorae.go); unset before any.
	AmphoraID        string    `json:"amphora_id,omitempty"`
	AmphoraCreatedAt time.Time `json:"amphora_created_at,omitzero"`
}

// owner says who decides a load balancer's content.
type owner struct {
	// API is set once the API created or changed the load balancer: the
	// stored copy wins over the file.
	API bool `json:"api,omitempty"`
	// FileHash is the hash of the config file's entry for this load
	// balancer when it was last taken from the file; "" for load balancers
	// the API created.
	FileHash string `json:"file_hash,omitempty"`
}

func newState() *state {
	return &state{Meta: map[string]*meta{}, Owners: map[string]*owner{}, Tombstones: map[string]string{},
		FlavorProfiles: map[string]*flavorProfile{}, Flavors: map[string]*flavor{},
		AZProfiles: map[string]*azProfile{}, AZs: map[string]*availabilityZone{}}
}

// clone deep-copies the state's maps and the list of graphs; the graphs
// themselves are shared, as they are immutable once committed. It costs
// O(state): for reloads and rare changes, not for every API change.
func (s *state) clone() *state {
	c := &state{
		LoadBalancers: slices.Clone(s.LoadBalancers),
		Meta:          make(map[string]*meta, len(s.Meta)),
		Owners:        make(map[string]*owner, len(s.Owners)),
		Tombstones:    make(map[string]string, len(s.Tombstones)),
	}
	for k, v := range s.Meta {
		m := *v
		c.Meta[k] = &m
	}
	for k, v := range s.Owners {
		o := *v
		c.Owners[k] = &o
	}
	for k, v := range s.Tombstones {
		c.Tombstones[k] = v
	}
	c.FlavorProfiles = cloneMap(s.FlavorProfiles)
	c.Flavors = cloneMap(s.Flavors)
	c.AZProfiles = cloneMap(s.AZProfiles)
	c.AZs = cloneMap(s.AZs)
	return c
}

// cloneMap copies a map of records (shared: they are replaced, not
// changed), never nil.
func cloneMap[V any](m map[string]*V) map[string]*V {
	c := make(map[string]*V, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// cloneLB deep-copies a load balancer graph: the copy is what a JSON round
// trip gives (every exported field but those tagged "-", an empty slice or
// map under omitempty becoming nil), without the text: at 10,000 members
// the round trip cost an API change 15 ms of CPU and 6 MB of garbage.
func cloneLB(lb *octavia.LoadBalancer) (*octavia.LoadBalancer, error) {
	var c octavia.LoadBalancer
	g := graphCopier{}
	if err := g.copy(reflect.ValueOf(&c).Elem(), reflect.ValueOf(lb).Elem(), false); err != nil {
		return nil, fmt.Errorf("copy load balancer %s: %w", lb.ID, err)
	}
	return &c, nil
}

// graphCopier deep-copies values as encoding/json would carry them. It
// reads each struct type's fields once.
type graphCopier map[reflect.Type][]copiedField

// copiedField is a struct field the copy carries.
type copiedField struct {
	index     int
	omitEmpty bool
}

// fields lists t's fields that JSON carries: exported, not tagged "-".
func (g graphCopier) fields(t reflect.Type) []copiedField {
	fs, ok := g[t]
	if ok {
		return fs
	}
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if !f.IsExported() || tag == "-" {
			continue
		}
		_, opts, _ := strings.Cut(tag, ",")
		fs = append(fs, copiedField{i, slices.Contains(strings.Split(opts, ","), "omitempty")})
	}
	g[t] = fs
	return fs
}

// copy deep-copies src into dst, a zero value of its type; omitEmpty is
// the field's omitempty.
func (g graphCopier) copy(dst, src reflect.Value, omitEmpty bool) error {
	switch src.Kind() {
	case reflect.Pointer:
		if src.IsNil() {
			return nil
		}
		p := reflect.New(src.Type().Elem())
		if err := g.copy(p.Elem(), src.Elem(), false); err != nil {
			return err
		}
		dst.Set(p)
	case reflect.Slice:
		if src.IsNil() || omitEmpty && src.Len() == 0 {
			return nil
		}
		s := reflect.MakeSlice(src.Type(), src.Len(), src.Len())
		for i := range src.Len() {
			if err := g.copy(s.Index(i), src.Index(i), false); err != nil {
				return err
			}
		}
		dst.Set(s)
	case reflect.Map:
		if src.IsNil() || omitEmpty && src.Len() == 0 {
			return nil
		}
		m := reflect.MakeMapWithSize(src.Type(), src.Len())
		for it := src.MapRange(); it.Next(); {
			v := reflect.New(src.Type().Elem()).Elem()
			if err := g.copy(v, it.Value(), false); err != nil {
				return err
			}
			m.SetMapIndex(it.Key(), v)
		}
		dst.Set(m)
	case reflect.Struct:
		for _, f := range g.fields(src.Type()) {
			if err := g.copy(dst.Field(f.index), src.Field(f.index), f.omitEmpty); err != nil {
				return err
			}
		}
	case reflect.Bool, reflect.String, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
		dst.Set(src)
	default:
		// An interface, a channel, a function: not in the model; its
		// copy would need a rule of its own.
		return fmt.Errorf("cannot copy a %s (%s)", src.Kind(), src.Type())
	}
	return nil
}

// config is the desired state as the data plane takes it.
func (s *state) config() *octavia.Config {
	return &octavia.Config{LoadBalancers: slices.Clone(s.LoadBalancers)}
}

// configWith is config with lb in place of the load balancer with that ID
// (appended if new, removed if lb is nil).
func (s *state) configWith(id string, lb *octavia.LoadBalancer) *octavia.Config {
	cfg := &octavia.Config{LoadBalancers: make([]*octavia.LoadBalancer, 0, len(s.LoadBalancers)+1)}
	old := s.lb(id)
	for _, o := range s.LoadBalancers {
		if o == old { // pointers: cheaper than comparing every ID
			if lb == nil {
				continue
			}
			o = lb
		}
		cfg.LoadBalancers = append(cfg.LoadBalancers, o)
	}
	if old == nil && lb != nil {
		cfg.LoadBalancers = append(cfg.LoadBalancers, lb)
	}
	return cfg
}

// putLB puts lb in place of the load balancer with its ID, or appends it.
func (s *state) putLB(lb *octavia.LoadBalancer) {
	x := s.index()
	if old := x.lbs[lb.ID]; old != nil {
		x.remove(old)
		s.LoadBalancers[slices.Index(s.LoadBalancers, old)] = lb
	} else {
		s.LoadBalancers = append(s.LoadBalancers, lb)
	}
	x.add(lb)
}

// removeLB removes the load balancer with that ID.
func (s *state) removeLB(id string) {
	x := s.index()
	if old := x.lbs[id]; old != nil {
		x.remove(old)
		i := slices.Index(s.LoadBalancers, old)
		s.LoadBalancers = slices.Delete(s.LoadBalancers, i, i+1)
	}
}

// index returns the state's index, building it if the list of load
// balancers was replaced since.
func (s *state) index() *index {
	if s.idx == nil {
		s.idx = buildIndex(s.LoadBalancers)
	}
	return s.idx
}

func (s *state) lb(id string) *octavia.LoadBalancer { return s.index().lbs[id] }

// owning returns the load balancer holding the object with that ID.
func (s *state) owning(id string) *octavia.LoadBalancer {
	x := s.index()
	return x.lbs[x.objects[id]]
}

func (s *state) listener(id string) (*octavia.LoadBalancer, *octavia.Listener) {
	if lb := s.owning(id); lb != nil {
		for _, l := range lb.Listeners {
			if l.ID == id {
				return lb, l
			}
		}
	}
	return nil, nil
}

func (s *state) pool(id string) (*octavia.LoadBalancer, *octavia.Pool) {
	if lb := s.owning(id); lb != nil {
		if p := lb.PoolByID(id); p != nil {
			return lb, p
		}
	}
	return nil, nil
}

func (s *state) monitor(id string) (*octavia.LoadBalancer, *octavia.Pool) {
	if lb := s.owning(id); lb != nil {
		for _, p := range lb.Pools {
			if p.HealthMonitor != nil && p.HealthMonitor.ID == id {
				return lb, p
			}
		}
	}
	return nil, nil
}

// status is an object's provisioning status; objects without bookkeeping
// (which should not happen) count as ACTIVE.
func (s *state) status(id string) octavia.ProvisioningStatus {
	if m, ok := s.Meta[id]; ok {
		return m.Status
	}
	return octavia.ProvisioningActive
}

// objectIDs lists the IDs of a load balancer and everything under it.
func objectIDs(lb *octavia.LoadBalancer) []string {
	n := 1 + len(lb.Listeners) + len(lb.Pools) // sized first: 10,000 members are called for several times an API change
	for _, l := range lb.Listeners {
		for _, pol := range l.L7Policies {
			n += 1 + len(pol.Rules)
		}
	}
	for _, p := range lb.Pools {
		n += len(p.Members) + 1
	}
	ids := make([]string, 1, n)
	ids[0] = lb.ID
	for _, l := range lb.Listeners {
		ids = append(ids, l.ID)
		for _, pol := range l.L7Policies {
			ids = append(ids, pol.ID)
			for _, r := range pol.Rules {
				ids = append(ids, r.ID)
			}
		}
	}
	for _, p := range lb.Pools {
		ids = append(ids, p.ID)
		for _, m := range p.Members {
			ids = append(ids, m.ID)
		}
		if p.HealthMonitor != nil {
			ids = append(ids, p.HealthMonitor.ID)
		}
	}
	return ids
}

// listenersOf lists the listeners that use a pool, as Octavia's
// pool.listeners does: those whose default pool it is, then those with an
// enabled L7 policy (with rules) that redirects to it.
func listenersOf(lb *octavia.LoadBalancer, poolID string) []*octavia.Listener {
	var out []*octavia.Listener
	for _, l := range lb.Listeners {
		if l.DefaultPoolID == poolID {
			out = append(out, l)
		}
	}
	for _, l := range lb.Listeners {
		if slices.Contains(out, l) {
			continue
		}
		for _, p := range lb.RedirectPools(l) {
			if p.ID == poolID {
				out = append(out, l)
				break
			}
		}
	}
	return out
}
