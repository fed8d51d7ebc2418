package reconcile

import (
	"context"
	"fmt"

	"github.com/gophercloud/gophercloud/v2/openstack/loadbalancer/v2/pools"
)

// The one-object changes of lbctl member, each made as Converge makes its
// own: retried while the load balancer is busy, then waited for.

// AddMember adds a member to the pool poolID of the load balancer lb.
func (c *Client) AddMember(ctx context.Context, lb LBRef, poolID string, o pools.CreateMemberOpts) (*pools.Member, error) {
	var m *pools.Member
	err := c.Mutate(ctx, lb, fmt.Sprintf("add member %s", MemberKey(o.Address, o.ProtocolPort)), false, func(ctx context.Context) error {
		var err error
		m, err = pools.CreateMember(ctx, c.SC, poolID, o).Extract()
		return err
	})
	return m, err
}

// UpdateMember changes a member of the pool poolID.
func (c *Client) UpdateMember(ctx context.Context, lb LBRef, poolID string, m *pools.Member, o pools.UpdateMemberOpts) error {
	return c.Mutate(ctx, lb, fmt.Sprintf("update member %s", memberName(m.Name, m.Address, m.ProtocolPort)), false, func(ctx context.Context) error {
		return pools.UpdateMember(ctx, c.SC, poolID, m.ID, o).Err
	})
}

// RemoveMember deletes a member of the pool poolID; already gone is fine.
func (c *Client) RemoveMember(ctx context.Context, lb LBRef, poolID string, m *pools.Member) error {
	return c.Mutate(ctx, lb, fmt.Sprintf("remove member %s", memberName(m.Name, m.Address, m.ProtocolPort)), true, func(ctx context.Context) error {
		return pools.DeleteMember(ctx, c.SC, poolID, m.ID).Err
	})
}
