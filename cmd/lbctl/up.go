package main

import (
	"context"
	"flag"
	"io"
)

// runUp provisions the config file's load balancer on OpenStack: security
// group, servers, load balancer, floating IP; again and again it changes only
// what differs.
func runUp(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("lbctl up", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c cloudFlags
	c.register(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return errUsage
	}
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
