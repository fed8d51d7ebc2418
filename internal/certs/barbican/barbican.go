// Package barbican reads certificate refs from OpenStack Barbican as
// Octavia's Barbican certificate manager does, with gophercloud's key
// manager client: lbd's service user (Keystone credentials) reads a
// secret's payload, a PKCS#12 bundle, and falls back to a legacy
// "certificate" container (certificate, private_key and intermediates
// secrets, in PEM); before that, the caller's own token adds lbd's service
// user to the secret's read ACL (Octavia's BarbicanACLAuth).
//
// Client implements certs.Fetcher for the data plane's certs.Store, and
// Grant for the control plane. Only lbd's main links it: the data plane
// and the control plane know it through those two methods, so neither
// links gophercloud. It must not import any lbd package, and of gophercloud
// only its core, Keystone authentication and the key-manager packages.
package barbican

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/tokens"
	"github.com/gophercloud/gophercloud/v2/openstack/keymanager/v1/acls"
	"github.com/gophercloud/gophercloud/v2/openstack/keymanager/v1/containers"
	"github.com/gophercloud/gophercloud/v2/openstack/keymanager/v1/secrets"
)

// Options are lbd's service credentials and where Barbican is.
type Options struct {
	AuthURL           string // Keystone v3, e.g. http://127.0.0.1:5000/v3
	Username          string
	Password          string
	ProjectName       string
	UserDomainName    string // default "Default"
	ProjectDomainName string // default "Default"
	Region            string // of the key-manager endpoint; empty: any
	// Endpoint overrides the catalog's key-manager endpoint.
	Endpoint string
	// Timeout bounds each request. Default 10 s.
	Timeout time.Duration
}

// Client talks to Barbican. It authenticates lazily, on first use, and
// renews its token when Keystone says it expired.
type Client struct {
	opts Options
	http *http.Client

	mu     sync.Mutex
	km     *gophercloud.ServiceClient // as lbd's service user
	userID string                     // lbd's service user, for ACLs
}

// New checks the options; it does not contact Keystone.
func New(o Options) (*Client, error) {
	if o.AuthURL == "" || o.Username == "" || o.Password == "" || o.ProjectName == "" {
		return nil, errors.New("barbican: Keystone URL, username, password and project are required")
	}
	if o.UserDomainName == "" {
		o.UserDomainName = "Default"
	}
	if o.ProjectDomainName == "" {
		o.ProjectDomainName = "Default"
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	return &Client{opts: o, http: &http.Client{Timeout: o.Timeout}}, nil
}

// service returns the key-manager client authenticated as lbd.
func (c *Client) service(ctx context.Context) (*gophercloud.ServiceClient, string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.km != nil {
		return c.km, c.userID, nil
	}
	pc, err := openstack.NewClient(c.opts.AuthURL)
	if err != nil {
		return nil, "", fmt.Errorf("barbican: keystone %s: %w", c.opts.AuthURL, err)
	}
	pc.HTTPClient = *c.http
	ao := gophercloud.AuthOptions{
		IdentityEndpoint: c.opts.AuthURL, Username: c.opts.Username, Password: c.opts.Password,
		DomainName: c.opts.UserDomainName, AllowReauth: true,
		Scope: &gophercloud.AuthScope{ProjectName: c.opts.ProjectName, DomainName: c.opts.ProjectDomainName},
	}
	if err := openstack.Authenticate(ctx, pc, ao); err != nil {
		return nil, "", fmt.Errorf("barbican: authenticating lbd's service user %q: %w", c.opts.Username, err)
	}
	user, err := serviceUser(pc)
	if err != nil {
		return nil, "", err
	}
	km, err := openstack.NewKeyManagerV1(pc, gophercloud.EndpointOpts{Region: c.opts.Region})
	if c.opts.Endpoint != "" {
		km, err = &gophercloud.ServiceClient{ProviderClient: pc, Endpoint: gophercloud.NormalizeURL(c.opts.Endpoint), Type: "key-manager"}, nil
		km.ResourceBase = km.Endpoint + "v1/"
	}
	if err != nil {
		return nil, "", fmt.Errorf("barbican: no key-manager endpoint in the catalog: %w", err)
	}
	c.km, c.userID = km, user
	return km, user, nil
}

func serviceUser(pc *gophercloud.ProviderClient) (string, error) {
	res, ok := pc.GetAuthResult().(tokens.CreateResult)
	if !ok {
		return "", errors.New("barbican: no token document for lbd's service user")
	}
	u, err := res.ExtractUser()
	if err != nil {
		return "", fmt.Errorf("barbican: lbd's service user: %w", err)
	}
	return u.ID, nil
}

// Kind of a ref.
const (
	kindSecret    = "secrets"
	kindContainer = "containers"
)

// parseRef splits a Barbican href (http://host:9311/v1/secrets/<id>) or a
// bare ID into its kind and ID. Like barbicanclient, only the ID is used:
// requests go to the catalog's endpoint.
func parseRef(ref string) (kind, id string, err error) {
	u, err := url.Parse(ref)
	if err != nil || u.Path == "" {
		return "", "", fmt.Errorf("not a Barbican ref: %q", ref)
	}
	parts := strings.Split(strings.Trim(u.Path, "/"), "/")
	if len(parts) == 1 && u.Scheme == "" {
		return kindSecret, parts[0], nil
	}
	if len(parts) >= 2 {
		k, id := parts[len(parts)-2], parts[len(parts)-1]
		if (k == kindSecret || k == kindContainer) && id != "" {
			return k, id, nil
		}
	}
	return "", "", fmt.Errorf("not a Barbican secret or container ref: %q", ref)
}

// Fetch implements certs.Fetcher: a secret's payload (a PKCS#12 bundle, or
// PEM text for a CA or a CRL), else a legacy certificate container's
// secrets as one PEM bundle (certificate, private key, intermediates).
func (c *Client) Fetch(ctx context.Context, ref string) ([]byte, error) {
	kind, id, err := parseRef(ref)
	if err != nil {
		return nil, err
	}
	km, _, err := c.service(ctx)
	if err != nil {
		return nil, err
	}
	var secretErr error
	if kind == kindSecret {
		data, err := payload(ctx, km, id)
		if err == nil {
			return data, nil
		}
		secretErr = err
	}
	data, err := legacy(ctx, km, id)
	if err == nil {
		return data, nil
	}
	if secretErr != nil {
		return nil, fmt.Errorf("as a secret: %w; as a certificate container: %w", secretErr, err)
	}
	return nil, err
}

// payload reads a secret's payload in its default content type (Barbican
// answers 406 to the text/plain gophercloud asks for otherwise).
func payload(ctx context.Context, km *gophercloud.ServiceClient, id string) ([]byte, error) {
	s, err := secrets.Get(ctx, km, id).Extract()
	if err != nil {
		return nil, err
	}
	ct := s.ContentTypes["default"]
	if ct == "" {
		ct = "application/octet-stream"
	}
	return secrets.GetPayload(ctx, km, id, secrets.GetPayloadOpts{PayloadContentType: ct}).Extract()
}

// legacy reads a certificate container (barbican_legacy.py).
func legacy(ctx context.Context, km *gophercloud.ServiceClient, id string) ([]byte, error) {
	ct, err := containers.Get(ctx, km, id).Extract()
	if err != nil {
		return nil, err
	}
	if ct.Type != "certificate" {
		return nil, fmt.Errorf("container %s is of type %q, not certificate", id, ct.Type)
	}
	named := map[string]string{}
	for _, r := range ct.SecretRefs {
		named[r.Name] = r.SecretRef
	}
	if named["private_key_passphrase"] != "" {
		return nil, errors.New("the container's private key has a pass phrase; lbd reads keys without one")
	}
	var bundle []byte
	for _, name := range []string{"certificate", "private_key", "intermediates"} {
		ref := named[name]
		if ref == "" {
			if name == "intermediates" {
				continue
			}
			return nil, fmt.Errorf("container %s has no %s secret", id, name)
		}
		_, sid, err := parseRef(ref)
		if err != nil {
			return nil, err
		}
		data, err := payload(ctx, km, sid)
		if err != nil {
			return nil, fmt.Errorf("container %s, %s secret: %w", id, name, err)
		}
		bundle = append(bundle, data...)
		if len(data) > 0 && data[len(data)-1] != '\n' {
			bundle = append(bundle, '\n')
		}
	}
	return bundle, nil
}

// Grant adds lbd's service user to ref's read ACL, acting with the
// caller's token, as Octavia's API does before it reads a ref (for a
// legacy container, to the container's and each of its secrets' ACLs).
// An ACL that already lists lbd is left alone.
func (c *Client) Grant(ctx context.Context, token, ref string) error {
	kind, id, err := parseRef(ref)
	if err != nil {
		return err
	}
	km, user, err := c.service(ctx)
	if err != nil {
		return err
	}
	pc := &gophercloud.ProviderClient{HTTPClient: *c.http}
	pc.SetToken(token)
	as := &gophercloud.ServiceClient{ProviderClient: pc, Endpoint: km.Endpoint, ResourceBase: km.ResourceBase, Type: km.Type}
	if kind == kindSecret {
		return grant(ctx, as, kind, id, user)
	}
	if err := grant(ctx, as, kind, id, user); err != nil {
		return err
	}
	ct, err := containers.Get(ctx, as, id).Extract()
	if err != nil {
		return err
	}
	for _, r := range ct.SecretRefs {
		_, sid, err := parseRef(r.SecretRef)
		if err != nil {
			return err
		}
		if err := grant(ctx, as, kindSecret, sid, user); err != nil {
			return err
		}
	}
	return nil
}

func grant(ctx context.Context, as *gophercloud.ServiceClient, kind, id, user string) error {
	var acl *acls.ACL
	var err error
	if kind == kindSecret {
		acl, err = acls.GetSecretACL(ctx, as, id).Extract()
	} else {
		acl, err = acls.GetContainerACL(ctx, as, id).Extract()
	}
	if err != nil {
		return fmt.Errorf("read the ACL of %s %s: %w", kind, id, err)
	}
	read := (*acl)["read"]
	if slices.Contains(read.Users, user) {
		return nil
	}
	users := append(slices.Clone(read.Users), user)
	access := read.ProjectAccess
	opts := acls.SetOpts{{Type: "read", Users: &users, ProjectAccess: &access}}
	if kind == kindSecret {
		_, err = acls.SetSecretACL(ctx, as, id, opts).Extract()
	} else {
		_, err = acls.SetContainerACL(ctx, as, id, opts).Extract()
	}
	if err != nil {
		return fmt.Errorf("add lbd's service user to the read ACL of %s %s: %w", kind, id, err)
	}
	return nil
}
