package octavia

import (
	"fmt"
	"strings"
)

// OpenStackConfig is the config file's optional openstack: section: what only
// a cloud needs to provision the file's load balancer with `lbctl up` (the
// network it sits on, its floating IP, and the web servers behind it). lbd's
// data plane ignores it. Names may be given where IDs are expected; lbctl
// resolves them. It is plain data: lbctl decides the defaults documented on
// each field.
type OpenStackConfig struct {
	// LoadBalancer names the entry of loadbalancers: this section provisions.
	// It may be omitted when the file has exactly one load balancer.
	LoadBalancer string `json:"loadbalancer,omitempty" yaml:"loadbalancer,omitempty"`
	// VIPSubnet is the subnet (name or ID) the load balancer's VIP is
	// allocated on; it becomes vip_subnet_id. Give it here or give one of
	// vip_subnet_id, vip_network_id, vip_port_id in the load balancer.
	VIPSubnet string `json:"vip_subnet,omitempty" yaml:"vip_subnet,omitempty"`
	// FloatingIPNetwork is the external network (name or ID) a floating IP is
	// allocated on and associated with the VIP port. Empty: no floating IP.
	FloatingIPNetwork string `json:"floating_ip_network,omitempty" yaml:"floating_ip_network,omitempty"`
	// SecurityGroup is the security group the servers get, created when
	// missing with an ingress rule per listener and member port (and ICMP
	// when a PING monitor is used). Default: "<load balancer name>-servers".
	SecurityGroup string `json:"security_group,omitempty" yaml:"security_group,omitempty"`
	// Servers, when set, are the web servers lbctl creates behind the load
	// balancer.
	Servers *ServersConfig `json:"servers,omitempty" yaml:"servers,omitempty"`
	// Autoscaling, when set, lets `lbctl autoscale` decide how many of the
	// servers run (servers.count is then left out) from the load.
	Autoscaling *AutoscalingConfig `json:"autoscaling,omitempty" yaml:"autoscaling,omitempty"`
}

// ServersConfig describes the web servers `lbctl up` creates (Nova
// instances) and the pools they join as members.
type ServersConfig struct {
	// Count is how many servers to run; left out with autoscaling.
	Count int `json:"count,omitempty" yaml:"count,omitempty"`
	// Name is the servers' name pattern: %d is replaced by 1..count
	// ("Server%d" gives Server1, Server2). Without %d, count must be 1.
	Name string `json:"name" yaml:"name"`
	// Image and Flavor are names or IDs.
	Image  string `json:"image" yaml:"image"`
	Flavor string `json:"flavor" yaml:"flavor"`
	// KeyName is the Nova key pair injected into the servers; optional.
	KeyName string `json:"key_name,omitempty" yaml:"key_name,omitempty"`
	// Network (name or ID) the servers get their fixed IP on.
	Network string `json:"network" yaml:"network"`
	// Subnet (name or ID) of Network whose fixed IP becomes the member
	// address and subnet_id. Default: the server's first fixed IP on Network.
	Subnet string `json:"subnet,omitempty" yaml:"subnet,omitempty"`
	// UserData is a file passed to the servers as user data (cloud-init),
	// relative to the config file's directory.
	UserData string `json:"user_data,omitempty" yaml:"user_data,omitempty"`
	// Members lists the pools the servers join: every server becomes a
	// member of each, at its fixed IP. A pool may also list members of its
	// own with explicit addresses.
	Members []ServerMembership `json:"members,omitempty" yaml:"members,omitempty"`
}

// ServerMembership makes every server a member of one pool.
type ServerMembership struct {
	Pool         string `json:"pool" yaml:"pool"`                   // the pool's name
	ProtocolPort int    `json:"protocol_port" yaml:"protocol_port"` // the port the servers serve on
	Weight       *int   `json:"weight,omitempty" yaml:"weight,omitempty"`
	Backup       *bool  `json:"backup,omitempty" yaml:"backup,omitempty"`
	MonitorPort  *int   `json:"monitor_port,omitempty" yaml:"monitor_port,omitempty"`
}

// ServerNames expands the name pattern into the servers' names.
func (s *ServersConfig) ServerNames() []string {
	names := make([]string, 0, s.Count)
	for i := 1; i <= s.Count; i++ {
		if strings.Contains(s.Name, "%d") {
			names = append(names, strings.Replace(s.Name, "%d", fmt.Sprint(i), 1))
		} else {
			names = append(names, s.Name)
		}
	}
	return names
}

// Target returns the load balancer the openstack: section provisions: the
// one it names, or the file's only one. nil when there is none to pick.
func (c *Config) Target() *LoadBalancer {
	if c.OpenStack != nil && c.OpenStack.LoadBalancer != "" {
		for _, lb := range c.LoadBalancers {
			if lb != nil && lb.Name == c.OpenStack.LoadBalancer {
				return lb
			}
		}
		return nil
	}
	if len(c.LoadBalancers) == 1 {
		return c.LoadBalancers[0]
	}
	return nil
}

func (o *OpenStackConfig) validate(p *problems, c *Config) {
	const path = "openstack"
	lb := c.Target()
	switch {
	case o.LoadBalancer != "" && lb == nil:
		p.add(path+".loadbalancer", o.LoadBalancer, "must name a load balancer of the file's loadbalancers:")
	case lb == nil && len(c.LoadBalancers) == 0:
		p.add(path, nil, "needs a load balancer in loadbalancers: to provision")
	case lb == nil:
		p.missing(path + ".loadbalancer")
	case lb.Name == "":
		p.add(fmt.Sprintf("loadbalancers[%d].name", indexOf(c.LoadBalancers, lb)), nil,
			"is required with an openstack: section (lbctl finds the load balancer by name)")
	}
	if lb != nil {
		vips := 0
		for _, v := range []string{o.VIPSubnet, lb.VIPSubnetID, lb.VIPNetworkID, lb.VIPPortID} {
			if v != "" {
				vips++
			}
		}
		switch {
		case vips == 0:
			p.add(path+".vip_subnet", nil, "is required unless the load balancer gives vip_subnet_id, vip_network_id or vip_port_id")
		case vips > 1:
			p.add(path+".vip_subnet", o.VIPSubnet, "give exactly one of openstack.vip_subnet and the load balancer's vip_subnet_id, vip_network_id, vip_port_id")
		}
	}
	for _, f := range []struct{ name, v string }{
		{"vip_subnet", o.VIPSubnet}, {"floating_ip_network", o.FloatingIPNetwork}, {"security_group", o.SecurityGroup},
	} {
		checkLen(p, path+"."+f.name, f.v)
	}
	if o.Servers != nil {
		o.Servers.validate(p, path+".servers", lb, o.Autoscaling != nil)
	}
	if o.Autoscaling != nil {
		o.Autoscaling.validate(p, path+".autoscaling", o)
	}
}

func (s *ServersConfig) validate(p *problems, path string, lb *LoadBalancer, autoscaled bool) {
	if !autoscaled && (s.Count < 1 || s.Count > 100) {
		p.add(path+".count", s.Count, "must be between 1 and 100")
	}
	switch n := strings.Count(s.Name, "%d"); {
	case s.Name == "":
		p.missing(path + ".name")
	case n > 1:
		p.add(path+".name", s.Name, "must contain %d at most once (Server%d gives Server1, Server2, ...)")
	case n == 0 && s.Count > 1:
		p.add(path+".name", s.Name, "must contain %d when count is more than 1 (Server%d gives Server1, Server2, ...)")
	case strings.Contains(strings.ReplaceAll(s.Name, "%d", ""), "%"):
		p.add(path+".name", s.Name, "may use no format verb but %d")
	case len(s.Name) > 250:
		p.add(path+".name", s.Name[:20]+"...", "must be at most 250 characters")
	}
	for _, f := range []struct{ name, v string }{{"image", s.Image}, {"flavor", s.Flavor}, {"network", s.Network}} {
		if f.v == "" {
			p.missing(path + "." + f.name)
		}
	}
	seen := map[string]int{}
	for i, m := range s.Members {
		mpath := fmt.Sprintf("%s.members[%d]", path, i)
		switch {
		case m.Pool == "":
			p.missing(mpath + ".pool")
		case lb != nil && poolNamed(lb, m.Pool) == nil:
			p.add(mpath+".pool", m.Pool, "must name a pool of load balancer %q", lb.Name)
		}
		checkPort(p, mpath+".protocol_port", m.ProtocolPort)
		key := fmt.Sprintf("%s/%d", m.Pool, m.ProtocolPort)
		if j, dup := seen[key]; dup {
			p.add(mpath, m.Pool+":"+fmt.Sprint(m.ProtocolPort), "the servers already join this pool on this port (members[%d])", j)
		}
		seen[key] = i
		if m.Weight != nil && (*m.Weight < 0 || *m.Weight > 256) {
			p.add(mpath+".weight", *m.Weight, "must be between 0 and 256 (0 drains the member)")
		}
		if m.MonitorPort != nil && (*m.MonitorPort < 1 || *m.MonitorPort > 65535) {
			p.add(mpath+".monitor_port", *m.MonitorPort, "must be between 1 and 65535")
		}
	}
}

// poolNamed finds a pool by name among the load balancer's pools and its
// listeners' inline default pools (before or after Normalize).
func poolNamed(lb *LoadBalancer, name string) *Pool {
	for _, p := range lb.Pools {
		if p != nil && p.Name == name {
			return p
		}
	}
	for _, l := range lb.Listeners {
		if l != nil && l.DefaultPool != nil && l.DefaultPool.Name == name {
			return l.DefaultPool
		}
	}
	return nil
}

func indexOf[T comparable](list []T, v T) int {
	for i, x := range list {
		if x == v {
			return i
		}
	}
	return -1
}
