package reconcile

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
	LBAlgorithm        string `json:"lb_algorithm,omitempty"`  // pools, when the server says
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

// Status reads the load balancer's status tree.
func (c *Client) Status(ctx context.Context, lb LBRef) (*StatusTree, error) {
	var out struct {
		Statuses StatusTree `json:"statuses"`
	}
	err := loadbalancers.GetStatuses(ctx, c.SC, lb.ID).ExtractInto(&out)
	if err != nil {
		return nil, c.describe(fmt.Sprintf("read the status tree of load balancer %q", lb.Name), err)
	}
	return &out.Statuses, nil
}

// RawStatus is the status tree as the API renders it.
func (c *Client) RawStatus(ctx context.Context, lb LBRef) (map[string]any, error) {
	var raw map[string]any
	if _, err := c.SC.Get(ctx, c.SC.ServiceURL("lbaas", "loadbalancers", lb.ID, "status"), &raw, nil); err != nil {
		return nil, c.describe(fmt.Sprintf("read the status tree of load balancer %q", lb.Name), err)
	}
	return raw, nil
}

// Print writes the tree indented, one object a line: kind, name,
// provisioning and operating status.
func (t *StatusTree) Print(w io.Writer) { t.LoadBalancer.print(w, "loadbalancer", 1) }

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
