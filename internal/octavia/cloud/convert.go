package cloud

import (
	"fmt"
	"slices"

	"lbd/internal/octavia"
)

// desiredLB is the file's load balancer with the servers' members added to
// their pools: those listed in the file plus one per server for each
// servers.members entry naming the pool. Servers whose address is not known
// yet (only while planning) get a placeholder. The spec is not changed.
func (r *run) desiredLB() *octavia.LoadBalancer {
	lb := *r.spec.LB
	lb.Pools = make([]*octavia.Pool, len(r.spec.LB.Pools))
	for i, sp := range r.spec.LB.Pools {
		p := *sp
		p.Members = slices.Clone(sp.Members)
		if srv := r.spec.OS.Servers; srv != nil {
			for _, sm := range srv.Members {
				if sm.Pool != p.Name {
					continue
				}
				for _, s := range r.servers {
					m := &octavia.Member{
						Name: s.Name, Address: s.Address, ProtocolPort: sm.ProtocolPort,
						Weight: sm.Weight, Backup: sm.Backup, MonitorPort: sm.MonitorPort, SubnetID: s.SubnetID,
					}
					if m.Address == "" {
						m.Address = fmt.Sprintf("<address of %s>", s.Name)
					}
					m.SetDefaults()
					p.Members = append(p.Members, m)
				}
			}
		}
		lb.Pools[i] = &p
	}
	return &lb
}
