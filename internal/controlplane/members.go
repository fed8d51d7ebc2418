package controlplane

import (
	"context"
	"net/http"
	"net/netip"
	"slices"
	"strconv"

	"lbd/internal/octavia"
	"lbd/internal/octavia/api"
)

// Members implements api.Service.
func (cp *ControlPlane) Members(poolID string) ([]api.Member, error) {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	_, p := cp.st.pool(poolID)
	if p == nil {
		return nil, api.NotFound(api.KindPool, poolID)
	}
	out := make([]api.Member, 0, len(p.Members))
	for _, m := range p.Members {
		out = append(out, cp.memberView(p, m))
	}
	return out, nil
}

// Member implements api.Service.
func (cp *ControlPlane) Member(poolID, id string) (api.Member, error) {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	_, p := cp.st.pool(poolID)
	if p == nil {
		return api.Member{}, api.NotFound(api.KindPool, poolID)
	}
	for _, m := range p.Members {
		if m.ID == id {
			return cp.memberView(p, m), nil
		}
	}
	return api.Member{}, api.NotFound(api.KindMember, id)
}

// memberKey identifies a member within its pool: address and port.
func memberKey(m *octavia.Member) string {
	a, err := netip.ParseAddr(m.Address)
	if err != nil {
		return m.Address + "/" + itoa(m.ProtocolPort)
	}
	return a.Unmap().String() + "/" + itoa(m.ProtocolPort)
}

func duplicateMember(m *octavia.Member) error {
	return api.Errorf(http.StatusConflict, "Another member on this pool is already using ip %s on protocol_port %d", m.Address, m.ProtocolPort)
}

// CreateMember implements api.Service.
func (cp *ControlPlane) CreateMember(ctx context.Context, poolID string, m *octavia.Member) (api.Member, error) {
	if err := checkUUIDs("subnet_id", m.SubnetID); err != nil {
		return api.Member{}, err
	}
	lbID, err := cp.parentOf(poolID, api.KindPool)
	if err != nil {
		return api.Member{}, err
	}
	m.ID = newID()
	next, err := cp.mutate(ctx, change{lbID: lbID,
		edit: func(lb *octavia.LoadBalancer) (*octavia.LoadBalancer, touched, error) {
			p := lb.PoolByID(poolID)
			if p == nil {
				return nil, touched{}, api.NotFound(api.KindPool, poolID)
			}
			m.SetDefaults()
			if err := m.Validate("member"); err != nil {
				return nil, touched{}, invalid(err)
			}
			for _, o := range p.Members {
				if memberKey(o) == memberKey(m) {
					return nil, touched{}, duplicateMember(m)
				}
			}
			p.Members = append(p.Members, m)
			return lb, touched{created: []string{m.ID}, updated: []string{p.ID}}, nil
		}})
	if err != nil {
		return api.Member{}, err
	}
	cp.mu.Lock()
	defer cp.mu.Unlock()
	p := next.PoolByID(poolID)
	return cp.memberView(p, m), nil
}

// UpdateMember implements api.Service.
func (cp *ControlPlane) UpdateMember(ctx context.Context, poolID, id string, patch api.Patch) (api.Member, error) {
	lbID, err := cp.parentOf(poolID, api.KindPool)
	if err != nil {
		return api.Member{}, err
	}
	var out *octavia.Member
	next, err := cp.mutate(ctx, change{lbID: lbID,
		edit: func(lb *octavia.LoadBalancer) (*octavia.LoadBalancer, touched, error) {
			p := lb.PoolByID(poolID)
			i := slices.IndexFunc(p.Members, func(m *octavia.Member) bool { return m.ID == id })
			if i < 0 {
				return nil, touched{}, api.NotFound(api.KindMember, id)
			}
			m := p.Members[i]
			if err := api.ApplyPatch(m, patch); err != nil {
				return nil, touched{}, err
			}
			m.SetDefaults()
			if err := m.Validate("member"); err != nil {
				return nil, touched{}, invalid(err)
			}
			out = m
			return lb, touched{updated: []string{id}}, nil
		}})
	if err != nil {
		return api.Member{}, err
	}
	cp.mu.Lock()
	defer cp.mu.Unlock()
	return cp.memberView(next.PoolByID(poolID), out), nil
}

// DeleteMember implements api.Service.
func (cp *ControlPlane) DeleteMember(ctx context.Context, poolID, id string) error {
	lbID, err := cp.parentOf(poolID, api.KindPool)
	if err != nil {
		return err
	}
	_, err = cp.mutate(ctx, change{lbID: lbID,
		edit: func(lb *octavia.LoadBalancer) (*octavia.LoadBalancer, touched, error) {
			p := lb.PoolByID(poolID)
			n := len(p.Members)
			p.Members = slices.DeleteFunc(p.Members, func(m *octavia.Member) bool { return m.ID == id })
			if len(p.Members) == n {
				return nil, touched{}, api.NotFound(api.KindMember, id)
			}
			return lb, touched{deleted: []string{id}, updated: []string{p.ID}}, nil
		}})
	return err
}

// ReplaceMembers implements api.Service, Octavia's batch member update:
// members are matched by address and port; a match takes the new
// attributes, as Octavia does: weight, backup, admin_state_up and the
// monitor address and port go back to their defaults when not given, while
// name, subnet_id and tags are kept. A new address and port is created,
// and, unless additive, members left out are deleted.
func (cp *ControlPlane) ReplaceMembers(ctx context.Context, poolID string, members []*octavia.Member, additive bool) error {
	for _, m := range members {
		if err := checkUUIDs("subnet_id", m.SubnetID); err != nil {
			return err
		}
	}
	lbID, err := cp.parentOf(poolID, api.KindPool)
	if err != nil {
		return err
	}
	_, err = cp.mutate(ctx, change{lbID: lbID,
		edit: func(lb *octavia.LoadBalancer) (*octavia.LoadBalancer, touched, error) {
			p := lb.PoolByID(poolID)
			old := map[string]*octavia.Member{}
			for _, m := range p.Members {
				old[memberKey(m)] = m
			}
			var t touched
			seen := map[string]bool{}
			var out []*octavia.Member
			for i, m := range members {
				m.SetDefaults()
				if err := m.Validate("members[" + itoa(i) + "]"); err != nil {
					return nil, touched{}, invalid(err)
				}
				k := memberKey(m)
				if seen[k] {
					return nil, touched{}, duplicateMember(m)
				}
				seen[k] = true
				if o := old[k]; o != nil {
					m.ID = o.ID
					if m.Name == "" {
						m.Name = o.Name
					}
					if m.SubnetID == "" {
						m.SubnetID = o.SubnetID
					}
					if m.Tags == nil {
						m.Tags = o.Tags
					}
					t.updated = append(t.updated, m.ID)
				} else {
					m.ID = newID()
					t.created = append(t.created, m.ID)
				}
				out = append(out, m)
			}
			for _, m := range p.Members {
				if seen[memberKey(m)] {
					continue
				}
				if additive {
					out = append(out, m)
				} else {
					t.deleted = append(t.deleted, m.ID)
				}
			}
			p.Members = out
			t.updated = append(t.updated, p.ID)
			return lb, t, nil
		}})
	return err
}

func itoa(n int) string { return strconv.Itoa(n) }
