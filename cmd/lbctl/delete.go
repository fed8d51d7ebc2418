package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"lbd/internal/octavia/reconcile"
)

var deleteCommand = command{
	summary: "Delete a load balancer and wait until it is gone (--cascade: with everything under it).",
	usage:   "lbctl delete NAME|ID [--cascade] [flags]",
	args:    "NAME|ID  the load balancer, by name or ID",
	example: "lbctl delete lb1 --cascade",
	define:  defineDelete,
}

// defineDelete deletes a load balancer and waits until it is gone.
func defineDelete(fs *flag.FlagSet) runner {
	var cf clientFlags
	cf.register(fs)
	cf.registerTimeout(fs)
	cascade := fs.Bool("cascade", false, "delete its listeners, pools, members and monitors too")
	return cf.wrap(func(ctx context.Context, pos []string, stdout, stderr io.Writer) error {
		return runDelete(ctx, &cf, *cascade, pos, stdout)
	})
}

func runDelete(ctx context.Context, cf *clientFlags, cascade bool, pos []string, stdout io.Writer) error {
	if len(pos) != 1 {
		return errors.New("delete needs one load balancer: lbctl delete NAME|ID [--cascade]")
	}
	ctx, cancel := context.WithTimeout(ctx, cf.timeout)
	defer cancel()
	c := cf.client(reconcile.Advice{Remove: "lbctl delete " + pos[0]})
	lb, err := c.LoadBalancer(ctx, pos[0])
	if err != nil {
		return err
	}
	if err := c.DeleteLoadBalancer(ctx, reconcile.Ref(lb), cascade); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "deleted load balancer %s (%s)\n", lb.Name, lb.ID)
	return nil
}
