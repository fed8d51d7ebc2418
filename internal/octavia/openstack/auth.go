package openstack

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/config"
	"github.com/gophercloud/gophercloud/v2/openstack/config/clouds"
	"gopkg.in/yaml.v3"
)

// AuthOptions says how to reach and log in to a cloud, as every OpenStack
// tool does: a cloud of clouds.yaml, or the OS_* environment when Cloud is
// empty.
type AuthOptions struct {
	Cloud     string // --os-cloud (default $OS_CLOUD)
	Region    string // --os-region; overrides clouds.yaml and $OS_REGION_NAME
	Interface string // --os-interface: public, internal or admin
	Insecure  bool   // --insecure: skip TLS verification
	CACert    string // --os-cacert: CA bundle for the cloud's TLS endpoints
	// LBEndpoint overrides the load-balancer endpoint of the catalog
	// (--lb-endpoint). When empty, the cloud's load_balancer_endpoint_override
	// from clouds.yaml is used if it has one: gophercloud does not read it.
	LBEndpoint string
	// WrapTransport, when set, wraps the HTTP transport of every call; tests
	// use it to watch requests.
	WrapTransport func(http.RoundTripper) http.RoundTripper
}

// Clients are the service clients lbctl uses, all sharing one token.
type Clients struct {
	Compute      *gophercloud.ServiceClient
	Network      *gophercloud.ServiceClient
	Image        *gophercloud.ServiceClient
	LoadBalancer *gophercloud.ServiceClient
}

// Connect logs in and builds the service clients. Compute and image clients
// are nil when the catalog has no such service; the operations that need
// them say so.
func Connect(ctx context.Context, o AuthOptions) (*Clients, error) {
	ao, eo, tlsCfg, lbOverride, err := o.resolve()
	if err != nil {
		return nil, err
	}
	if o.LBEndpoint != "" {
		lbOverride = o.LBEndpoint
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tlsCfg
	var rt http.RoundTripper = tr
	if o.WrapTransport != nil {
		rt = o.WrapTransport(rt)
	}
	ao.AllowReauth = true
	pc, err := config.NewProviderClient(ctx, ao, config.WithHTTPClient(http.Client{Transport: rt}))
	if err != nil {
		return nil, describe("log in to "+ao.IdentityEndpoint, err)
	}
	pc.UserAgent.Prepend("lbctl")
	c := &Clients{}
	if c.Network, err = openstack.NewNetworkV2(pc, eo); err != nil {
		return nil, fmt.Errorf("network service (Neutron): %w", err)
	}
	// Nova and Glance are only needed when the file asks for servers.
	if sc, err := openstack.NewComputeV2(pc, eo); err == nil {
		c.Compute = sc
	}
	if sc, err := openstack.NewImageV2(pc, eo); err == nil {
		c.Image = sc
	}
	if lbOverride != "" {
		c.LoadBalancer = lbClient(pc, lbOverride)
	} else if c.LoadBalancer, err = openstack.NewLoadBalancerV2(pc, eo); err != nil {
		return nil, fmt.Errorf("load-balancer service (Octavia): %w; give its URL with --lb-endpoint if the catalog lacks it", err)
	}
	return c, nil
}

// lbClient is NewLoadBalancerV2 for an endpoint given by hand: the same
// resource base (gophercloud always calls /v2.0/lbaas/...).
func lbClient(pc *gophercloud.ProviderClient, endpoint string) *gophercloud.ServiceClient {
	endpoint = strings.TrimSuffix(strings.TrimSuffix(endpoint, "/"), "/v2.0")
	endpoint = strings.TrimSuffix(endpoint, "/v2") + "/"
	return &gophercloud.ServiceClient{ProviderClient: pc, Endpoint: endpoint, ResourceBase: endpoint + "v2.0/", Type: "load-balancer"}
}

// resolve turns the options into gophercloud's, from clouds.yaml or the
// environment.
func (o AuthOptions) resolve() (gophercloud.AuthOptions, gophercloud.EndpointOpts, *tls.Config, string, error) {
	cloud := o.Cloud
	if cloud == "" {
		cloud = os.Getenv("OS_CLOUD")
	}
	if cloud == "" {
		ao, err := openstack.AuthOptionsFromEnv()
		if err != nil {
			return ao, gophercloud.EndpointOpts{}, nil, "", fmt.Errorf("credentials: no --os-cloud, $OS_CLOUD or usable OS_* environment (%w); pass --os-cloud NAME with a clouds.yaml, or source an openrc", err)
		}
		eo := gophercloud.EndpointOpts{Region: firstOf(o.Region, os.Getenv("OS_REGION_NAME")), Availability: availability(firstOf(o.Interface, os.Getenv("OS_INTERFACE")))}
		tlsCfg, err := envTLS(o)
		return ao, eo, tlsCfg, "", err
	}
	opts := []clouds.ParseOption{clouds.WithCloudName(cloud)}
	if o.Region != "" {
		opts = append(opts, clouds.WithRegion(o.Region))
	}
	if o.Interface != "" {
		opts = append(opts, clouds.WithEndpointType(o.Interface))
	}
	if o.Insecure {
		opts = append(opts, clouds.WithInsecure(true))
	}
	if o.CACert != "" {
		opts = append(opts, clouds.WithCACertPath(o.CACert))
	}
	ao, eo, tlsCfg, err := clouds.Parse(opts...)
	if err != nil {
		return ao, eo, nil, "", fmt.Errorf("cloud %q: %w", cloud, err)
	}
	return ao, eo, tlsCfg, lbEndpointOverride(cloud), nil
}

func availability(s string) gophercloud.Availability {
	switch strings.TrimSuffix(s, "URL") {
	case "internal":
		return gophercloud.AvailabilityInternal
	case "admin":
		return gophercloud.AvailabilityAdmin
	}
	return gophercloud.AvailabilityPublic
}

func envTLS(o AuthOptions) (*tls.Config, error) {
	cfg := &tls.Config{InsecureSkipVerify: o.Insecure} //nolint:gosec // the user asked for it with --insecure
	if path := firstOf(o.CACert, os.Getenv("OS_CACERT")); path != "" {
		pem, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("CA bundle: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CA bundle %s: no PEM certificate in it", path)
		}
		cfg.RootCAs = pool
	}
	return cfg, nil
}

// lbEndpointOverride reads load_balancer_endpoint_override of the cloud from
// the clouds.yaml that gophercloud would read (same search order). The
// openstack CLI honours it; gophercloud does not.
func lbEndpointOverride(cloud string) string {
	var locations []string
	if p := os.Getenv("OS_CLIENT_CONFIG_FILE"); p != "" {
		locations = []string{p}
	} else {
		locations = []string{"clouds.yaml"}
		if dir, err := os.UserConfigDir(); err == nil {
			locations = append(locations, filepath.Join(dir, "openstack", "clouds.yaml"))
		}
		locations = append(locations, "/etc/openstack/clouds.yaml")
	}
	for _, p := range locations {
		data, err := os.ReadFile(p)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		var f struct {
			Clouds map[string]struct {
				Override string `yaml:"load_balancer_endpoint_override"`
			} `yaml:"clouds"`
		}
		if err != nil || yaml.Unmarshal(data, &f) != nil {
			return ""
		}
		return f.Clouds[cloud].Override
	}
	return ""
}

func firstOf(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
