package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"time"

	"github.com/gophercloud/gophercloud/v2"

	"lbd/internal/octavia/reconcile"
)

// server is what answers at an endpoint, as its version document tells:
// lbd names itself in a header, a real Octavia does not.
type server struct {
	kind    string // "lbd", "OpenStack Octavia", or "" when neither answered
	version string // lbd's build, or Octavia's current API version
	err     error  // why nothing usable answered
}

// lbdHeader is the header lbd's version document carries.
const lbdHeader = "X-Lbd-Version"

// identify reads the version document at the endpoint's root.
func identify(ctx context.Context, endpoint string) server {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(endpoint, "/"), "/v2.0"), "/v2") + "/"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base, nil)
	if err != nil {
		return server{err: err}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return server{err: err}
	}
	defer resp.Body.Close()
	if v := resp.Header.Get(lbdHeader); v != "" {
		return server{kind: "lbd", version: v}
	}
	var doc struct {
		Versions []struct{ ID, Status string }
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if json.Unmarshal(body, &doc) != nil || len(doc.Versions) == 0 {
		return server{err: fmt.Errorf("%s answers %s, not an Octavia version document", base, resp.Status)}
	}
	s := server{kind: "OpenStack Octavia"}
	for _, v := range doc.Versions {
		if v.Status == "CURRENT" {
			s.version = "API " + v.ID
		}
	}
	return s
}

func (s server) String() string {
	switch {
	case s.kind == "":
		return "no Octavia API"
	case s.version == "":
		return s.kind
	}
	return s.kind + " " + s.version
}

// wrap makes a command's failures that come from where lbctl points (no
// answer, a refused token) one line that says what answers there and what
// to change.
func (f *clientFlags) wrap(r runner) runner {
	return func(ctx context.Context, pos []string, stdout, stderr io.Writer) error {
		err := r(ctx, pos, stdout, stderr)
		if err == nil {
			return nil
		}
		return f.explain(ctx, err)
	}
}

// explain turns an error from talking to the endpoint into one line with
// the fix, or returns it as it is.
func (f *clientFlags) explain(ctx context.Context, err error) error {
	ep := f.endpoint
	switch code := statusOf(err); {
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("nothing answers at %s (connection refused): is lbd running? Start it, or point --endpoint (or LBCTL_ENDPOINT) at its --api-addr", ep)
	case isTimeout(err):
		return fmt.Errorf("no answer from %s in time: is it lbd's API? Check --endpoint (or LBCTL_ENDPOINT), and that lbd runs", ep)
	case code == http.StatusUnauthorized:
		s := identify(context.WithoutCancel(ctx), ep)
		if s.kind == "lbd" {
			return fmt.Errorf("lbd at %s refused the token (401 Unauthorized): give lbd's API token with --token (or LBD_API_TOKEN)", ep)
		}
		if s.kind != "" {
			return fmt.Errorf("%s is %s, not lbd, and wants a Keystone token (401 Unauthorized): give one with --token (or LBD_API_TOKEN), or point --endpoint (or LBCTL_ENDPOINT) at lbd's --api-addr", ep, s)
		}
		return fmt.Errorf("%s refused the request (401 Unauthorized): give a token with --token (or LBD_API_TOKEN), or check --endpoint (or LBCTL_ENDPOINT)", ep)
	case code == http.StatusForbidden:
		s := identify(context.WithoutCancel(ctx), ep)
		who := s.String()
		if s.kind == "" {
			who = "the API"
		}
		return fmt.Errorf("%s at %s does not let this token do that (403 Forbidden): use a token with the load-balancer member or admin role (--token, LBD_API_TOKEN)", who, ep)
	}
	return err
}

// statusOf is the HTTP status an error carries, 0 when none.
func statusOf(err error) int {
	var re *reconcile.Error
	if errors.As(err, &re) && re.Code != 0 {
		return re.Code
	}
	var ue gophercloud.ErrUnexpectedResponseCode
	if errors.As(err, &ue) {
		return ue.Actual
	}
	return 0
}

// isTimeout reports an HTTP request that got no answer in time (the
// client's timeout, or the command's deadline while it was out), not a
// wait for a load balancer that ran out, which says so itself.
func isTimeout(err error) bool {
	var ue *url.Error
	return errors.As(err, &ue) && ue.Timeout()
}
