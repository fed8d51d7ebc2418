package cloud

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/gophercloud/gophercloud/v2"
	gopenstack "github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/roles"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/users"

	"lbd/internal/octavia/peertest"
	"lbd/internal/octavia/reconcile"
)

// Error bodies recorded from the peer's real services (404s of a missing
// object) and the Octavia messages of a busy load balancer, word for word
// as octavia/common/exceptions.py renders them.
var recorded = []struct {
	name string
	code int
	body string
	msg  string
	busy bool
}{
	{"octavia", 404, `{"faultcode": "Client", "faultstring": "Load Balancer 00000000-0000-0000-0000-000000000000 not found.", "debuginfo": null}`,
		"Load Balancer 00000000-0000-0000-0000-000000000000 not found.", false},
	{"neutron", 404, `{"NeutronError": {"type": "SecurityGroupNotFound", "message": "Security group 00000000-0000-0000-0000-000000000000 does not exist", "detail": ""}}`,
		"Security group 00000000-0000-0000-0000-000000000000 does not exist", false},
	{"nova", 404, `{"itemNotFound": {"code": 404, "message": "Instance 00000000-0000-0000-0000-000000000000 could not be found."}}`,
		"Instance 00000000-0000-0000-0000-000000000000 could not be found.", false},
	{"glance", 404, "<html>\n <head>\n  <title>404 Not Found</title>\n </head>\n <body>\n  <h1>404 Not Found</h1>\n  No image found with ID 00000000-0000-0000-0000-000000000000<br /><br />\n\n\n\n </body>\n</html>",
		"404 Not Found 404 Not Found No image found with ID 00000000-0000-0000-0000-000000000000", false},
	{"keystone", 401, `{"error":{"code":401,"message":"The request you have made requires authentication.","title":"Unauthorized"}}`,
		"The request you have made requires authentication.", false},
	{"octavia immutable", 409, `{"faultcode": "Client", "faultstring": "Load Balancer 5cc3b3f7-0000-4000-8000-000000000001 is immutable and cannot be updated.", "debuginfo": null}`,
		"Load Balancer 5cc3b3f7-0000-4000-8000-000000000001 is immutable and cannot be updated.", true},
	{"octavia pending", 409, `{"faultcode": "Client", "faultstring": "Invalid state PENDING_CREATE of loadbalancer resource 5cc3b3f7-0000-4000-8000-000000000001", "debuginfo": null}`,
		"Invalid state PENDING_CREATE of loadbalancer resource 5cc3b3f7-0000-4000-8000-000000000001", true},
	{"octavia duplicate port", 409, `{"faultcode": "Client", "faultstring": "Another Listener on this Load Balancer is already using protocol HTTP and protocol_port 80", "debuginfo": null}`,
		"Another Listener on this Load Balancer is already using protocol HTTP and protocol_port 80", false},
	{"sqlite lock", 500, `{"faultcode": "Server", "faultstring": "(sqlite3.OperationalError) database is locked\n(Background on this error at: https://sqlalche.me/e/14/e3q8)", "debuginfo": null}`,
		"(sqlite3.OperationalError) database is locked\n(Background on this error at: https://sqlalche.me/e/14/e3q8)", true},
}

func TestDescribeRecordedErrors(t *testing.T) {
	for _, tt := range recorded {
		t.Run(tt.name, func(t *testing.T) {
			raw := gophercloud.ErrUnexpectedResponseCode{Actual: tt.code, Body: []byte(tt.body), Method: "GET", URL: "http://x"}
			err := describe("do a thing", raw)
			var e *reconcile.Error
			if !errors.As(err, &e) || e.Code != tt.code || e.Message != tt.msg || e.Hint == "" {
				t.Fatalf("describe = %#v; want code %d, message %q and a hint", err, tt.code, tt.msg)
			}
			if !strings.HasPrefix(err.Error(), "do a thing: ") || strings.Contains(err.Error(), "faultcode") {
				t.Errorf("Error() = %q: want the operation first and no raw JSON", err)
			}
			if !errors.Is(err, raw) && !isCode(err, tt.code) {
				t.Errorf("the gophercloud error is not kept")
			}
			if got := reconcile.IsBusy(raw); got != tt.busy {
				t.Errorf("isBusy = %v, want %v", got, tt.busy)
			}
		})
	}
}

func TestHints(t *testing.T) {
	tests := []struct {
		code int
		msg  string
		want string
	}{
		{403, "Quota has been met for resources: Load Balancer", "quota"},
		{403, "Policy does not allow this request to be performed.", "load-balancer_member"},
		{404, "Load Balancer x not found.", "--os-region"},
		{501, "Provider 'amphora' does not support a requested option: SOURCE_IP_PORT", "provider"},
		{0, "dial tcp 127.0.0.1:9: connect: connection refused", "--lb-endpoint"},
	}
	for _, tt := range tests {
		if got := hintFor(tt.code, tt.msg); !strings.Contains(got, tt.want) {
			t.Errorf("hintFor(%d, %q) = %q; want it to mention %q", tt.code, tt.msg, got, tt.want)
		}
	}
}

// TestForbidden runs up as a user with only the reader role: the real
// Octavia refuses by policy, and the error says so in its words, names the
// resource and the role to ask for.
func TestForbidden(t *testing.T) {
	admin := connect(t, nil)
	ctx := context.Background()
	ks, err := gopenstack.NewIdentityV3(admin.Network.ProviderClient, gophercloud.EndpointOpts{})
	must(t, err)
	projectID := (&run{c: admin}).projectID()
	b := make([]byte, 8)
	rand.Read(b)
	name, password := "lbctl-reader"+peertest.Suffix(), hex.EncodeToString(b)
	user, err := users.Create(ctx, ks, users.CreateOpts{Name: name, Password: password, DomainID: "default", DefaultProjectID: projectID}).Extract()
	must(t, err)
	t.Cleanup(func() { users.Delete(context.Background(), ks, user.ID) })
	rp, err := roles.List(ks, roles.ListOpts{Name: "reader"}).AllPages(ctx)
	must(t, err)
	rs, err := roles.ExtractRoles(rp)
	must(t, err)
	if len(rs) != 1 {
		t.Fatalf("roles named reader: %v", rs)
	}
	must(t, roles.Assign(ctx, ks, rs[0].ID, roles.AssignOpts{UserID: user.ID, ProjectID: projectID}).ExtractErr())

	pc, err := gopenstack.AuthenticatedClient(ctx, gophercloud.AuthOptions{
		IdentityEndpoint: admin.Network.ProviderClient.IdentityEndpoint, Username: name, Password: password,
		DomainID: "default", TenantID: projectID,
	})
	must(t, err)
	var c Clients
	c.Network, err = gopenstack.NewNetworkV2(pc, gophercloud.EndpointOpts{})
	must(t, err)
	c.LoadBalancer, err = gopenstack.NewLoadBalancerV2(pc, gophercloud.EndpointOpts{})
	must(t, err)
	spec := loadSpec(t, lbOnly, peertest.Suffix())
	_, err = provisioner(t, &c).Up(ctx, spec, false)
	var e *reconcile.Error
	if !errors.As(err, &e) || e.Code != http.StatusForbidden {
		t.Fatalf("up as a reader: %v; want a 403 *Error", err)
	}
	t.Logf("lbctl up would say: %v", err)
	if !strings.Contains(e.Op, spec.LB.Name) || !strings.Contains(e.Message, "Policy does not allow") || !strings.Contains(e.Hint, "load-balancer_member") {
		t.Errorf("error %q: want the load balancer's name, Octavia's message and the role to ask for", err)
	}
}
