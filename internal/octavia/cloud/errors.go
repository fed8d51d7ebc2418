package cloud

import (
	"net/http"
	"strings"

	"github.com/gophercloud/gophercloud/v2"

	"lbd/internal/octavia/reconcile"
)

// describe is reconcile.Describe with lbctl up's and down's hints.
func describe(op string, err error) error { return reconcile.Describe(op, err, hintFor) }

// hintFor says what a person running lbctl up or down can do about a failed
// call.
func hintFor(code int, msg string) string {
	lower := strings.ToLower(msg)
	switch {
	case code == 0 && strings.Contains(lower, "connection refused"):
		return "the service is not reachable: check the endpoint in the catalog (or --lb-endpoint) and that the service runs"
	case code == 0:
		return ""
	case code == http.StatusBadRequest:
		return "the cloud rejected a value: fix it in the file and run lbctl up again"
	case code == http.StatusUnauthorized:
		return "the credentials were refused: check --os-cloud or the OS_* environment"
	case code == http.StatusForbidden && strings.Contains(lower, "quota"):
		return "a quota is exhausted: delete unused resources or ask your cloud admin to raise it (openstack quota show)"
	case code == http.StatusForbidden:
		return "policy forbids it: your user needs a role that allows it (Octavia wants load-balancer_member); ask your cloud admin"
	case code == http.StatusNotFound:
		return "it does not exist, or not in this project and region (--os-region); run lbctl up again if it was deleted meanwhile"
	case code == http.StatusConflict:
		return "it conflicts with something that exists: change the file or remove the other resource"
	case code == http.StatusRequestEntityTooLarge || code == http.StatusTooManyRequests:
		return "the cloud is limiting requests: wait a little and run lbctl again"
	case code == http.StatusNotImplemented:
		return "the cloud's provider does not support this option: change it in the file"
	case code >= 500:
		return "the service failed or is busy: its logs say why; running lbctl up again resumes where this stopped"
	}
	return ""
}

// isCode reports whether err is an HTTP error with that status.
func isCode(err error, code int) bool { return gophercloud.ResponseCodeIs(err, code) }
