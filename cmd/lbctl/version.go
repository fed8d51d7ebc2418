package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"lbd/internal/buildinfo"
)

var versionCommand = command{
	summary: "Print lbctl's build (version, commit, Go) and what answers at --endpoint: lbd and its build, or OpenStack Octavia.",
	usage:   "lbctl version [--endpoint URL]",
	example: "lbctl version\nlbctl version --endpoint http://10.0.0.5:9876",
	define:  defineVersion,
}

func defineVersion(fs *flag.FlagSet) runner {
	var endpoint string
	registerEndpoint(fs, &endpoint)
	return func(ctx context.Context, pos []string, stdout, stderr io.Writer) error {
		if len(pos) > 0 {
			return fmt.Errorf("version takes no arguments (%q)", pos[0])
		}
		fmt.Fprintln(stdout, buildinfo.Read().Line("lbctl"))
		if s := identify(ctx, endpoint); s.kind != "" {
			fmt.Fprintf(stdout, "server: %s at %s\n", s, endpoint)
		} else {
			fmt.Fprintf(stdout, "server: none at %s (%v)\n", endpoint, s.err)
		}
		return nil
	}
}
