package main

import (
	"context"
	"flag"
	"fmt"
	"io"
)

var downCommand = command{
	summary: "Remove what lbctl up provisioned for the file: the load balancer, the floating IP, the servers and the security group.",
	usage:   "lbctl down -f FILE [--plan] [--cascade] [flags]",
	example: "lbctl down -f configs/tutorial.yaml",
	define:  defineDown,
}

// defineDown removes what lbctl up provisioned for the config file.
func defineDown(fs *flag.FlagSet) runner {
	var c cloudFlags
	c.register(fs)
	cascade := fs.Bool("cascade", false, "delete the load balancer with all its children in one call, instead of one by one")
	return func(ctx context.Context, pos []string, stdout, stderr io.Writer) error {
		if len(pos) > 0 {
			return fmt.Errorf("down takes no arguments (%q): the file is -f FILE", pos[0])
		}
		return runDown(ctx, &c, *cascade, stdout, stderr)
	}
}

func runDown(ctx context.Context, c *cloudFlags, cascade bool, stdout, stderr io.Writer) error {
	p, spec, err := c.provisioner(ctx, stdout, stderr)
	if err != nil {
		return err
	}
	res, err := p.Down(ctx, spec, cascade, c.plan)
	if err != nil {
		return err
	}
	return c.print(stdout, res, "nothing to remove: none of "+c.file+"'s resources exist")
}
