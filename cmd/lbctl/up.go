package main

import (
	"context"
	"flag"
	"fmt"
	"io"
)

var upCommand = command{
	summary: "Provision the file's load balancer on OpenStack: security group, servers, load balancer and floating IP; run again, it changes only what differs.",
	usage:   "lbctl up -f FILE [--plan] [--os-cloud CLOUD] [flags]",
	example: "lbctl up -f configs/tutorial.yaml --plan\nOS_CLOUD=devstack lbctl up -f configs/tutorial.yaml",
	define:  defineUp,
}

// defineUp provisions the config file's load balancer on OpenStack.
func defineUp(fs *flag.FlagSet) runner {
	var c cloudFlags
	c.register(fs)
	return func(ctx context.Context, pos []string, stdout, stderr io.Writer) error {
		if len(pos) > 0 {
			return fmt.Errorf("up takes no arguments (%q): the file is -f FILE", pos[0])
		}
		return runUp(ctx, &c, stdout, stderr)
	}
}

func runUp(ctx context.Context, c *cloudFlags, stdout, stderr io.Writer) error {
	p, spec, err := c.provisioner(ctx, stdout, stderr)
	if err != nil {
		return err
	}
	res, err := p.Up(ctx, spec, c.plan)
	if err != nil {
		return err
	}
	return c.print(stdout, res, "no changes: the cloud matches "+c.file)
}
