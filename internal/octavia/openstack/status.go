package openstack

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/gophercloud/gophercloud/v2/openstack/loadbalancer/v2/loadbalancers"
)

// StatusTree is Octavia's GET /loadbalancers/{id}/status. It is decoded here
// rather than with gophercloud's StatusTree because Octavia emits the pool's
// monitor as "health_monitor" while gophercloud reads "healthmonitor": both
// keys are accepted.
type StatusTree struct {
	LoadBalancer StatusObject `json:"loadbalancer"`
}

// StatusObject is one node of the status tree.
type StatusObject struct {
	ID                 string `json:"id"`
	Name               string `json:"name"`
	Type               string `json:"type,omitempty"`          // monitors
	Address            string `json:"address,omitempty"`       // members
	ProtocolPort       int    `json:"protocol_port,omitempty"` // members
	ProvisioningStatus string `json:"provisioning_status"`
	OperatingStatus    string `json:"operating_status"`

	Listeners      []StatusObject `json:"listeners,omitempty"`
	Pools          []StatusObject `json:"pools,omitempty"`
	Members        []StatusObject `json:"members,omitempty"`
	HealthMonitor  *StatusObject  `json:"healthmonitor,omitempty"`
	HealthMonitor2 *StatusObject  `json:"health_monitor,omitempty"`
}

// Monitor returns a pool's monitor under whichever key the server used.
func (s *StatusObject) Monitor() *StatusObject {
	if s.HealthMonitor != nil {
		return s.HealthMonitor
	}
	return s.HealthMonitor2
}

func (r *run) statusTree(ctx context.Context) (*StatusTree, error) {
	var out struct {
		Statuses StatusTree `json:"statuses"`
	}
	err := loadbalancers.GetStatuses(ctx, r.c.LoadBalancer, r.lb.ID).ExtractInto(&out)
	if err != nil {
		return nil, describe(fmt.Sprintf("read the status tree of load balancer %q", r.lb.Name), err)
	}
	return &out.Statuses, nil
}

// Print writes the result for people: the load balancer, its VIP and
// floating IP, the servers and the status tree.
func (res *Result) Print(w io.Writer) {
	if lb := res.LoadBalancer; lb != nil {
		fmt.Fprintf(w, "load balancer %s (%s): VIP %s on port %s\n", lb.Name, lb.ID, lb.VipAddress, lb.VipPortID)
	}
	if f := res.FloatingIP; f != nil {
		fmt.Fprintf(w, "floating IP: %s (%s)\n", f.FloatingIP, f.Status)
	}
	for _, s := range res.Servers {
		fmt.Fprintf(w, "server %s (%s): %s %s\n", s.Name, firstOf(s.ID, "to be created"), firstOf(s.Status, "-"), firstOf(s.Address, "-"))
	}
	if res.Status != nil {
		fmt.Fprintln(w, "status (provisioning / operating):")
		res.Status.LoadBalancer.print(w, "loadbalancer", 1)
	}
}

func (s *StatusObject) print(w io.Writer, kind string, depth int) {
	label := s.Name
	switch {
	case kind == "member":
		label = fmt.Sprintf("%s %s:%d", s.Name, s.Address, s.ProtocolPort)
	case kind == "healthmonitor":
		label = strings.TrimSpace(s.Type + " " + s.Name)
	}
	fmt.Fprintf(w, "%s%s %s: %s / %s\n", strings.Repeat("  ", depth), kind, label, s.ProvisioningStatus, s.OperatingStatus)
	for i := range s.Listeners {
		s.Listeners[i].print(w, "listener", depth+1)
	}
	for i := range s.Pools {
		s.Pools[i].print(w, "pool", depth+1)
	}
	if m := s.Monitor(); m != nil {
		m.print(w, "healthmonitor", depth+1)
	}
	for i := range s.Members {
		s.Members[i].print(w, "member", depth+1)
	}
}
