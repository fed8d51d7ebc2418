package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/gophercloud/gophercloud/v2/openstack/loadbalancer/v2/loadbalancers"

	"lbd/internal/octavia/client"
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
	c := cf.client()
	lb, err := c.LoadBalancer(ctx, pos[0])
	if err != nil {
		return err
	}
	if err := loadbalancers.Delete(ctx, c.SC, lb.ID, loadbalancers.DeleteOpts{Cascade: *cascade}).ExtractErr(); err != nil {
		return fmt.Errorf("delete load balancer %s: %s", pos[0], client.FaultMessage(err))
	}
	if err := c.WaitGone(ctx, lb.ID); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "deleted load balancer %s (%s)\n", lb.Name, lb.ID)
	return nil
}
