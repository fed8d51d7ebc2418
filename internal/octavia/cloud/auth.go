package cloud

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/config"
	"github.com/gophercloud/gophercloud/v2/openstack/config/clouds"
	"gopkg.in/yaml.v3"

	"lbd/internal/octavia/reconcile"
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
	// WrapTransport, when set, wraps the HTTP transport of every call (each
	// try of a retried one); tests use it to watch requests.
	WrapTransport func(http.RoundTripper) http.RoundTripper
	// Log receives, at debug level, the retries of transient failures; nil
	// discards them.
	Log *slog.Logger
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
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	rt = &retryTransport{next: rt, tries: 4, pause: 500 * time.Millisecond, log: log}
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
		c.LoadBalancer = reconcile.ServiceClient(pc, lbOverride)
	} else if c.LoadBalancer, err = openstack.NewLoadBalancerV2(pc, eo); err != nil {
		return nil, fmt.Errorf("load-balancer service (Octavia): %w; give its URL with --lb-endpoint if the catalog lacks it", err)
	}
	return c, nil
}

// resolve turns the options into gophercloud's, from clouds.yaml or the
// environment.
func (o AuthOptions) resolve() (gophercloud.AuthOptions, gophercloud.EndpointOpts, *tls.Config, string, error) {
	cloud := firstOf(o.Cloud, os.Getenv("OS_CLOUD"))
	var opts []clouds.ParseOption
	if cloud == "" {
		// The OS_* variables of an openrc, read as the openstack CLI reads
		// them: as a cloud of their own. (gophercloud's AuthOptionsFromEnv
		// ignores OS_USER_DOMAIN_NAME and OS_PROJECT_DOMAIN_NAME.)
		doc, err := envCloud()
		if err != nil {
			return gophercloud.AuthOptions{}, gophercloud.EndpointOpts{}, nil, "", err
		}
		opts = append(opts, clouds.WithCloudsYAML(bytes.NewReader(doc)), clouds.WithCloudName(envCloudName))
	} else {
		opts = append(opts, clouds.WithCloudName(cloud))
	}
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
		if cloud == "" {
			return ao, eo, nil, "", fmt.Errorf("credentials from the OS_* environment: %w", err)
		}
		return ao, eo, nil, "", fmt.Errorf("cloud %q: %w", cloud, err)
	}
	if cloud == "" {
		return ao, eo, tlsCfg, "", nil
	}
	return ao, eo, tlsCfg, lbEndpointOverride(cloud), nil
}

const envCloudName = "OS_* environment"

// envCloud renders the OS_* environment as a clouds.yaml with one cloud.
func envCloud() ([]byte, error) {
	auth := map[string]string{}
	for key, vars := range map[string][]string{
		"auth_url": {"OS_AUTH_URL"}, "username": {"OS_USERNAME"}, "user_id": {"OS_USER_ID", "OS_USERID"},
		"password": {"OS_PASSWORD"}, "token": {"OS_TOKEN"},
		"project_name": {"OS_PROJECT_NAME", "OS_TENANT_NAME"}, "project_id": {"OS_PROJECT_ID", "OS_TENANT_ID"},
		"user_domain_name": {"OS_USER_DOMAIN_NAME"}, "user_domain_id": {"OS_USER_DOMAIN_ID"},
		"project_domain_name": {"OS_PROJECT_DOMAIN_NAME"}, "project_domain_id": {"OS_PROJECT_DOMAIN_ID"},
		"domain_name": {"OS_DOMAIN_NAME"}, "domain_id": {"OS_DOMAIN_ID"}, "system_scope": {"OS_SYSTEM_SCOPE"},
		"application_credential_id": {"OS_APPLICATION_CREDENTIAL_ID"}, "application_credential_name": {"OS_APPLICATION_CREDENTIAL_NAME"},
		"application_credential_secret": {"OS_APPLICATION_CREDENTIAL_SECRET"},
	} {
		for _, v := range vars {
			if val := os.Getenv(v); val != "" {
				auth[key] = val
				break
			}
		}
	}
	if auth["auth_url"] == "" {
		return nil, errors.New("credentials: no --os-cloud, no $OS_CLOUD and no $OS_AUTH_URL: pass --os-cloud NAME (a cloud of clouds.yaml) or source an openrc")
	}
	c := map[string]any{"auth": auth}
	if v := os.Getenv("OS_REGION_NAME"); v != "" {
		c["region_name"] = v
	}
	if v := firstOf(os.Getenv("OS_INTERFACE"), os.Getenv("OS_ENDPOINT_TYPE")); v != "" {
		c["interface"] = v
	}
	switch {
	case auth["application_credential_secret"] != "":
		c["auth_type"] = "v3applicationcredential"
	case auth["token"] != "" && auth["password"] == "":
		c["auth_type"] = "token"
	}
	return yaml.Marshal(map[string]any{"clouds": map[string]any{envCloudName: c}})
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
