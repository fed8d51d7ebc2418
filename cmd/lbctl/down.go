package main

import (
	"context"
	"flag"
	"io"
)

// runDown removes what lbctl up provisioned for the config file.
func runDown(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("lbctl down", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c cloudFlags
	c.register(fs)
	cascade := fs.Bool("cascade", false, "delete the load balancer with all its children in one call, instead of one by one")
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
	res, err := p.Down(ctx, spec, *cascade, c.plan)
	if err != nil {
		return err
	}
	return c.print(stdout, res, "nothing to remove: none of "+c.file+"'s resources exist")
}
