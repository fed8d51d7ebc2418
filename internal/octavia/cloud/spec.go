package cloud

import (
	"fmt"
	"os"
	"path/filepath"

	"lbd/internal/octavia"
)

// Spec is what one config file asks of the cloud: its load balancer
// (validated and normalized by internal/octavia) and the openstack: section
// with lbctl's defaults applied.
type Spec struct {
	File     string                // the config file, for messages
	LB       *octavia.LoadBalancer // normalized: every pool in LB.Pools
	OS       octavia.OpenStackConfig
	UserData []byte // the servers' user data, read from OS.Servers.UserData
	// Autoscaling is openstack.autoscaling for the controller; nil when
	// the file has none.
	Autoscaling *Autoscaling
}

// MetadataKey is the Nova metadata key lbctl sets on the servers it creates;
// its value is the load balancer's name. Down deletes only servers carrying it.
const MetadataKey = "lbctl-loadbalancer"

// LoadSpec reads a config file with lbd's loader and checks that it can be
// provisioned.
func LoadSpec(path string) (*Spec, error) {
	cfg, err := octavia.LoadFile(path)
	if err != nil {
		return nil, err
	}
	return NewSpec(cfg, path)
}

// NewSpec builds the Spec of a loaded config; file locates the user data
// (relative to the file's directory) and labels messages.
func NewSpec(cfg *octavia.Config, file string) (*Spec, error) {
	if cfg.OpenStack == nil {
		return nil, fmt.Errorf("%s: no openstack: section: add one naming at least the VIP subnet (see configs/tutorial.yaml)", file)
	}
	lb := cfg.Target()
	if lb == nil {
		return nil, fmt.Errorf("%s: openstack.loadbalancer: no load balancer to provision", file)
	}
	s := &Spec{File: file, LB: lb, OS: *cfg.OpenStack}
	if s.OS.SecurityGroup == "" && s.OS.Servers != nil {
		s.OS.SecurityGroup = lb.Name + "-servers"
	}
	if srv := s.OS.Servers; srv != nil && srv.UserData != "" {
		path := srv.UserData
		if !filepath.IsAbs(path) {
			path = filepath.Join(filepath.Dir(file), path)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("%s: openstack.servers.user_data: %q: %w (the path is relative to the config file)", file, srv.UserData, err)
		}
		if len(data) > 65535 {
			return nil, fmt.Errorf("%s: openstack.servers.user_data: %q: %d bytes: Nova accepts at most 65535 (before base64)", file, srv.UserData, len(data))
		}
		s.UserData = data
	}
	s.Autoscaling = newAutoscaling(s)
	return s, nil
}

// marker is the description lbctl gives the security group, rules and
// floating IP it creates: down removes only what carries it.
func (s *Spec) marker() string {
	return "created by lbctl for load balancer " + s.LB.Name
}
