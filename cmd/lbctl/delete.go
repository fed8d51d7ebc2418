package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"lbd/internal/octavia/reconcile"
)

// runDelete deletes a load balancer and waits until it is gone.
func runDelete(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("lbctl delete", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cf clientFlags
	cf.register(fs)
	cascade := fs.Bool("cascade", false, "delete its listeners, pools, members and monitors too")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return errors.New("usage: lbctl delete NAME|ID [--cascade]")
	}
	ctx, cancel := context.WithTimeout(ctx, cf.timeout)
	defer cancel()
	c := cf.client(reconcile.Advice{Remove: "lbctl delete " + pos[0]})
	lb, err := c.LoadBalancer(ctx, pos[0])
	if err != nil {
		return err
	}
	if err := c.DeleteLoadBalancer(ctx, reconcile.Ref(lb), *cascade); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "deleted load balancer %s (%s)\n", lb.Name, lb.ID)
	return nil
}
