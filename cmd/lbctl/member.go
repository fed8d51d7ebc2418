package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/netip"

	"github.com/gophercloud/gophercloud/v2/openstack/loadbalancer/v2/pools"

	"lbd/internal/octavia/reconcile"
)

const memberUsage = `usage:
  lbctl member add    --pool POOL --address IP --port N [--weight W] [--name NAME] [--backup]
  lbctl member remove --pool POOL MEMBER
  lbctl member drain  --pool POOL MEMBER      (weight 0: no new connections, open ones finish)
MEMBER is a name, an ID or ADDRESS:PORT.`

// runMember adds, removes and drains pool members.
func runMember(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	usage := func(problem string) error {
		if problem != "" {
			fmt.Fprintln(stderr, "lbctl member: "+problem)
		}
		fmt.Fprintln(stderr, memberUsage)
		return errUsage
	}
	if len(args) == 0 {
		return usage("")
	}
	op := args[0]
	fs := flag.NewFlagSet("lbctl member "+op, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cf clientFlags
	cf.register(fs)
	poolName := fs.String("pool", "", "the pool (name or ID)")
	lbName := fs.String("lb", "", "the load balancer, when pool names are not unique")
	address := fs.String("address", "", "member address (add)")
	port := fs.Int("port", 0, "member protocol_port (add)")
	weight := fs.Int("weight", 1, "member weight, 0-256 (add)")
	name := fs.String("name", "", "member name (add)")
	backup := fs.Bool("backup", false, "a backup member (add)")
	pos, err := parseArgs(fs, args[1:])
	if err != nil {
		return err
	}
	if *poolName == "" {
		return usage("--pool is required")
	}
	ctx, cancel := context.WithTimeout(ctx, cf.timeout)
	defer cancel()
	c := cf.client(reconcile.Advice{})
	lbID := ""
	if *lbName != "" {
		lb, err := c.LoadBalancer(ctx, *lbName)
		if err != nil {
			return err
		}
		lbID = lb.ID
	}
	p, err := c.Pool(ctx, lbID, *poolName)
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
		if len(pos) != 0 || *address == "" || *port == 0 {
			return usage("add needs --address and --port")
		}
		m, err := c.AddMember(ctx, lb, p.ID, pools.CreateMemberOpts{Address: *address, ProtocolPort: *port,
			Weight: weight, Name: *name, Backup: backup})
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "added member %s:%d (%s) to pool %s\n", m.Address, m.ProtocolPort, m.ID, p.Name)
		return nil
	case "remove", "drain":
		if len(pos) != 1 {
			return usage(op + " needs exactly one MEMBER")
		}
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
	return usage(fmt.Sprintf("unknown operation %q", op))
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
