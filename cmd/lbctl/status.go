package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/gophercloud/gophercloud/v2/openstack/loadbalancer/v2/amphorae"

	"lbd/internal/octavia/reconcile"
)

var statusCommand = command{
	summary: "Show a load balancer's status tree: its listeners, pools, members and health monitors, with their provisioning and operating status.",
	usage:   "lbctl status NAME|ID [-o table|json|yaml] [flags]",
	args:    "NAME|ID  the load balancer, by name or ID",
	example: "lbctl status lb1",
	define:  defineStatus,
}

// defineStatus prints a load balancer's status tree.
func defineStatus(fs *flag.FlagSet) runner {
	var cf clientFlags
	cf.register(fs)
	return cf.wrap(func(ctx context.Context, pos []string, stdout, stderr io.Writer) error {
		return runStatus(ctx, &cf, pos, stdout)
	})
}

func runStatus(ctx context.Context, cf *clientFlags, pos []string, stdout io.Writer) error {
	if err := cf.check(); err != nil {
		return err
	}
	if len(pos) != 1 {
		return errors.New("status needs one load balancer: lbctl status NAME|ID")
	}
	c := cf.client(reconcile.Advice{})
	lb, err := c.LoadBalancer(ctx, pos[0])
	if err != nil {
		return err
	}
	if cf.output != "table" {
		raw, err := c.RawStatus(ctx, reconcile.Ref(lb))
		if err != nil {
			return err
		}
		return cf.emit(stdout, raw, nil)
	}
	tree, err := c.Status(ctx, reconcile.Ref(lb))
	if err != nil {
		return err
	}
	// The status tree does not say what a listener listens on.
	ls, err := c.Listeners(ctx, lb.ID)
	if err != nil {
		return err
	}
	ports := map[string]string{}
	for _, l := range ls {
		ports[l.ID] = fmt.Sprintf("%s:%d", l.Protocol, l.ProtocolPort)
	}
	// An ACTIVE_STANDBY load balancer's amphorae say which instance holds
	// the VIP, as "openstack loadbalancer amphora list" does. Listing them
	// is for administrators: others get the tree alone.
	amps, _ := c.Amphorae(ctx, lb.ID)
	return cf.emit(stdout, tree, func(tw *tabwriter.Writer) {
		statusTable(tw, &tree.LoadBalancer, ports)
		amphoraTable(tw, amps)
	})
}

// amphoraTable adds the amphorae of an ACTIVE_STANDBY load balancer, one
// line each: role, status, VRRP address and priority, where it is managed.
// A SINGLE load balancer's one STANDALONE amphora adds nothing.
func amphoraTable(tw *tabwriter.Writer, amps []amphorae.Amphora) {
	ha := false
	for _, a := range amps {
		ha = ha || a.Role == "MASTER" || a.Role == "BACKUP"
	}
	if !ha {
		return
	}
	slices.SortFunc(amps, func(a, b amphorae.Amphora) int {
		if (a.Role == "MASTER") != (b.Role == "MASTER") {
			if a.Role == "MASTER" {
				return -1
			}
			return 1
		}
		return strings.Compare(a.VRRPIP, b.VRRPIP)
	})
	row(tw, "", "", "", "")
	row(tw, "AMPHORA", "VRRP IP (PRIORITY)", "ROLE", "STATUS")
	for _, a := range amps {
		row(tw, "amphora "+a.ID, fmt.Sprintf("%s (%d)", a.VRRPIP, a.VRRPPriority), a.Role, a.Status)
	}
}

// statusTable draws the tree with box-drawing branches, one object per
// line: name, what it is, provisioning and operating status.
func statusTable(tw *tabwriter.Writer, lb *reconcile.StatusObject, ports map[string]string) {
	row(tw, "OBJECT", "", "PROVISIONING", "OPERATING")
	row(tw, "loadbalancer "+orID(lb.Name, lb.ID), "", lb.ProvisioningStatus, lb.OperatingStatus)
	for i, l := range lb.Listeners {
		lastL := i == len(lb.Listeners)-1
		row(tw, branch("", lastL)+"listener "+orID(l.Name, l.ID), ports[l.ID], l.ProvisioningStatus, l.OperatingStatus)
		indent := stem(lastL)
		for j, p := range l.Pools {
			lastP := j == len(l.Pools)-1
			row(tw, indent+branch("", lastP)+"pool "+orID(p.Name, p.ID), p.LBAlgorithm, p.ProvisioningStatus, p.OperatingStatus)
			inner := indent + stem(lastP)
			mon := p.Monitor()
			hasMon := mon != nil && mon.ID != ""
			for k, m := range p.Members {
				last := k == len(p.Members)-1 && !hasMon
				row(tw, inner+branch("", last)+"member "+fmt.Sprintf("%s:%d", m.Address, m.ProtocolPort), m.Name, m.ProvisioningStatus, m.OperatingStatus)
			}
			if hasMon {
				// Named by its name when it has one; its type goes in the
				// second column, as a pool's algorithm does.
				label := "healthmonitor"
				if mon.Name != "" {
					label += " " + mon.Name
				}
				row(tw, inner+branch("", true)+label, mon.Type, mon.ProvisioningStatus, mon.OperatingStatus)
			}
		}
	}
}

func branch(_ string, last bool) string {
	if last {
		return "└─ "
	}
	return "├─ "
}

func stem(last bool) string {
	if last {
		return "   "
	}
	return "│  "
}

func orID(name, id string) string {
	if name != "" {
		return name
	}
	return id
}
