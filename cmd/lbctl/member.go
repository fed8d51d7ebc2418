package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"

	"github.com/gophercloud/gophercloud/v2/openstack/loadbalancer/v2/pools"

	"lbd/internal/octavia/reconcile"
)

var memberCommand = command{
	summary: "Add, remove or drain (weight 0: no new connections, open ones finish) a member of a pool.",
	usage: "lbctl member add --pool POOL --address IP --port N [--weight W] [--name NAME] [--backup] [flags]\n" +
		"       lbctl member remove|drain --pool POOL MEMBER [flags]",
	args: "add|remove|drain  what to do\n" +
		"MEMBER            remove and drain: the member, by name, ID or ADDRESS:PORT",
	example: "lbctl member add --pool pool1 --address 127.0.0.1 --port 8083 --name server3\nlbctl member drain --pool pool1 server3",
	define:  defineMember,
}

// defineMember adds, removes and drains pool members.
func defineMember(fs *flag.FlagSet) runner {
	var cf clientFlags
	cf.register(fs)
	cf.registerTimeout(fs)
	var o memberOpts
	fs.StringVar(&o.pool, "pool", "", "the pool (name or ID)")
	fs.StringVar(&o.lb, "lb", "", "the load balancer, when pool names are not unique")
	fs.StringVar(&o.address, "address", "", "member address (add)")
	fs.IntVar(&o.port, "port", 0, "member protocol_port (add)")
	fs.IntVar(&o.weight, "weight", 1, "member weight, 0-256 (add)")
	fs.StringVar(&o.name, "name", "", "member name (add)")
	fs.BoolVar(&o.backup, "backup", false, "a backup member (add)")
	return cf.wrap(func(ctx context.Context, pos []string, stdout, stderr io.Writer) error {
		return runMember(ctx, &cf, &o, pos, stdout)
	})
}

type memberOpts struct {
	pool, lb, address, name string
	port, weight            int
	backup                  bool
}

// runMember does what pos[0] says to a member of the pool.
func runMember(ctx context.Context, cf *clientFlags, o *memberOpts, pos []string, stdout io.Writer) error {
	if len(pos) == 0 {
		return errors.New("member needs what to do: add, remove or drain (lbctl member -h)")
	}
	op := pos[0]
	pos = pos[1:]
	if op != "add" && op != "remove" && op != "drain" {
		return fmt.Errorf("member %s: unknown operation: add, remove or drain", op)
	}
	if o.pool == "" {
		return fmt.Errorf("member %s: --pool POOL is required", op)
	}
	if op == "add" && (len(pos) != 0 || o.address == "" || o.port == 0) {
		return errors.New("member add: --address and --port are required, and no MEMBER")
	}
	if op != "add" && len(pos) != 1 {
		return fmt.Errorf("member %s needs exactly one MEMBER (a name, an ID or ADDRESS:PORT)", op)
	}
	ctx, cancel := context.WithTimeout(ctx, cf.timeout)
	defer cancel()
	c := cf.client(reconcile.Advice{})
	lbID := ""
	if o.lb != "" {
		lb, err := c.LoadBalancer(ctx, o.lb)
		if err != nil {
			return err
		}
		lbID = lb.ID
	}
	p, err := c.Pool(ctx, lbID, o.pool)
	if err != nil {
		return err
	}
	if len(p.Loadbalancers) == 0 {
		return fmt.Errorf("pool %s belongs to no load balancer", p.ID)
	}
	owner, err := c.LoadBalancer(ctx, p.Loadbalancers[0].ID)
	if err != nil {
		return err
	}
	lb := reconcile.Ref(owner)
	switch op {
	case "add":
		m, err := c.AddMember(ctx, lb, p.ID, pools.CreateMemberOpts{Address: o.address, ProtocolPort: o.port,
			Weight: &o.weight, Name: o.name, Backup: &o.backup})
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "added member %s:%d (%s) to pool %s\n", m.Address, m.ProtocolPort, m.ID, p.Name)
		return nil
	default: // remove, drain
		m, err := findMember(ctx, c, p.ID, pos[0])
		if err != nil {
			return err
		}
		if op == "remove" {
			err = c.RemoveMember(ctx, lb, p.ID, m)
		} else {
			zero := 0
			err = c.UpdateMember(ctx, lb, p.ID, m, pools.UpdateMemberOpts{Weight: &zero})
		}
		if err != nil {
			return err
		}
		verb := map[string]string{"remove": "removed", "drain": "drained (weight 0)"}[op]
		fmt.Fprintf(stdout, "%s member %s:%d (%s) of pool %s\n", verb, m.Address, m.ProtocolPort, m.ID, p.Name)
		return nil
	}
}

// findMember resolves a member by ID, name or ADDRESS:PORT.
func findMember(ctx context.Context, c *reconcile.Client, poolID, ref string) (*pools.Member, error) {
	ms, err := c.Members(ctx, poolID)
	if err != nil {
		return nil, err
	}
	ap, apErr := netip.ParseAddrPort(ref)
	var found []*pools.Member
	for i, m := range ms {
		addr, err := netip.ParseAddr(m.Address)
		switch {
		case m.ID == ref, m.Name == ref && ref != "":
		case apErr == nil && err == nil && addr.Unmap() == ap.Addr().Unmap() && uint16(m.ProtocolPort) == ap.Port():
		default:
			continue
		}
		found = append(found, &ms[i])
	}
	switch len(found) {
	case 0:
		return nil, fmt.Errorf("member %q: %w", ref, reconcile.ErrNotFound)
	case 1:
		return found[0], nil
	}
	return nil, fmt.Errorf("%d members match %q: use an ID or ADDRESS:PORT", len(found), ref)
}
