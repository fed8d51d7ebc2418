package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"

	"lbd/internal/autoscale"
	"lbd/internal/octavia"
	"lbd/internal/octavia/reconcile"
)

var applyCommand = command{
	summary: "Make a running lbd serve a config file's load balancers: create what is missing, update what differs (idempotent).",
	usage:   "lbctl apply -f FILE [--prune] [flags]",
	example: "lbctl apply -f configs/lbd.yaml\nlbctl apply -f configs/lbd.yaml --prune --endpoint http://10.0.0.5:9876",
	define:  defineApply,
}

// defineApply converges a running lbd to a config file's load balancers.
func defineApply(fs *flag.FlagSet) runner {
	var cf clientFlags
	cf.register(fs)
	cf.registerTimeout(fs)
	file := fs.String("f", "", "config file (lbd's format: Octavia's fully-populated load balancers)")
	prune := fs.Bool("prune", false, "also delete listeners, pools, members and monitors of the file's load balancers that the file does not have")
	subnet := fs.String("vip-subnet-id", "00000000-0000-0000-0000-000000000000",
		"vip_subnet_id for new load balancers that name none (Octavia's API requires one; lbd only records it)")
	return cf.wrap(func(ctx context.Context, pos []string, stdout, stderr io.Writer) error {
		return runApply(ctx, &cf, *file, *prune, *subnet, pos, stdout)
	})
}

func runApply(ctx context.Context, cf *clientFlags, file string, prune bool, subnet string, pos []string, stdout io.Writer) error {
	if len(pos) > 0 {
		return fmt.Errorf("apply takes no arguments (%q): the file is -f FILE", pos[0])
	}
	if err := cf.check(); err != nil {
		return err
	}
	if file == "" {
		return errors.New("apply: -f FILE is required")
	}
	cfg, err := octavia.LoadFile(file)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, cf.timeout)
	defer cancel()
	c := cf.client(reconcile.Advice{Again: "lbctl apply -f " + file, Remove: "lbctl delete LB"})
	changes, err := c.Apply(ctx, cfg, reconcile.Options{VIPSubnetID: subnet, Prune: prune, Keep: autoscale.Owns})
	// -o json|yaml keep apply's own keys (Action, Kind, Name, Detail).
	type applied struct{ Action, Kind, Name, Detail string }
	rows := make([]applied, len(changes))
	for i, c := range changes {
		rows[i] = applied{string(c.Op), c.Kind, c.Name, c.Detail}
	}
	if perr := cf.emit(stdout, rows, func(tw *tabwriter.Writer) {
		if len(rows) == 0 && err == nil {
			fmt.Fprintln(tw, "no changes: lbd already serves the file")
		}
		for _, r := range rows {
			row(tw, r.Action, r.Kind, r.Name, r.Detail)
		}
	}); perr != nil && err == nil {
		err = perr
	}
	return err
}
