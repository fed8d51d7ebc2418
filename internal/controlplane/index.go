package controlplane

import (
	"net/netip"

	"lbd/internal/octavia"
)

// index finds a load balancer, the load balancer of an object, and the
// listeners bound to a port by key, so that a lookup or a bind check costs
// O(1) in the number of load balancers. It is derived from
// state.LoadBalancers: built when first needed after the list was replaced
// (load, merge, clone), and kept up to date by state.put and state.remove.
type index struct {
	lbs     map[string]*octavia.LoadBalancer
	objects map[string]string // ID of any object to its load balancer's
	ports   map[bindPort]*portBinds
}

// bindPort is a transport port listeners bind.
type bindPort struct {
	transport string
	port      int
}

// portBinds are the listeners on one port: by VIP address, and those on a
// wildcard (or unparsable) VIP, which overlap every address.
type portBinds struct {
	addrs map[netip.Addr][]binding
	wild  []binding
}

type binding struct {
	lb *octavia.LoadBalancer
	l  *octavia.Listener
}

func buildIndex(lbs []*octavia.LoadBalancer) *index {
	x := &index{
		lbs:     make(map[string]*octavia.LoadBalancer, len(lbs)),
		objects: make(map[string]string, len(lbs)*4),
		ports:   map[bindPort]*portBinds{},
	}
	for _, lb := range lbs {
		x.add(lb)
	}
	return x
}

// vipAddr is the address a VIP binds; ok is false for a wildcard.
func vipAddr(vip string) (netip.Addr, bool) {
	a, err := netip.ParseAddr(vip)
	if err != nil || a.IsUnspecified() {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

func (x *index) add(lb *octavia.LoadBalancer) {
	x.lbs[lb.ID] = lb
	for _, id := range objectIDs(lb) {
		x.objects[id] = lb.ID
	}
	addr, specific := vipAddr(lb.VIPAddress)
	for _, l := range lb.Listeners {
		k := bindPort{l.Protocol.Transport(), l.ProtocolPort}
		pb := x.ports[k]
		if pb == nil {
			pb = &portBinds{addrs: map[netip.Addr][]binding{}}
			x.ports[k] = pb
		}
		if specific {
			pb.addrs[addr] = append(pb.addrs[addr], binding{lb, l})
		} else {
			pb.wild = append(pb.wild, binding{lb, l})
		}
	}
}

func (x *index) remove(lb *octavia.LoadBalancer) {
	delete(x.lbs, lb.ID)
	for _, id := range objectIDs(lb) {
		if x.objects[id] == lb.ID {
			delete(x.objects, id)
		}
	}
	drop := func(bs []binding) []binding {
		out := bs[:0]
		for _, b := range bs {
			if b.lb.ID != lb.ID {
				out = append(out, b)
			}
		}
		clear(bs[len(out):])
		return out
	}
	addr, specific := vipAddr(lb.VIPAddress)
	for _, l := range lb.Listeners {
		k := bindPort{l.Protocol.Transport(), l.ProtocolPort}
		pb := x.ports[k]
		if pb == nil {
			continue
		}
		if specific {
			if bs := drop(pb.addrs[addr]); len(bs) > 0 {
				pb.addrs[addr] = bs
			} else {
				delete(pb.addrs, addr)
			}
		} else {
			pb.wild = drop(pb.wild)
		}
		if len(pb.addrs) == 0 && len(pb.wild) == 0 {
			delete(x.ports, k)
		}
	}
}

// boundElsewhere returns a listener of another load balancer than lb that
// binds what l binds on lb's VIP, or nil.
func (x *index) boundElsewhere(lb *octavia.LoadBalancer, l *octavia.Listener) *binding {
	pb := x.ports[bindPort{l.Protocol.Transport(), l.ProtocolPort}]
	if pb == nil {
		return nil
	}
	other := func(bs []binding) *binding {
		for i := range bs {
			if bs[i].lb.ID != lb.ID {
				return &bs[i]
			}
		}
		return nil
	}
	if b := other(pb.wild); b != nil {
		return b
	}
	if addr, specific := vipAddr(lb.VIPAddress); specific {
		return other(pb.addrs[addr])
	}
	for _, bs := range pb.addrs { // a wildcard VIP overlaps every address
		if b := other(bs); b != nil {
			return b
		}
	}
	return nil
}
