package api

import (
	"net/http"

	"lbd/internal/buildinfo"
)

// serverHeader names lbd, its build and commit on the version document, so
// that a client can tell it from a real Octavia on the same port; Octavia's
// clients ignore it. (Octavia's own version document has no such header.)
const serverHeader = "X-Lbd-Version"

var serverBuild = func() string {
	b := buildinfo.Read()
	return b.Version + " (revision " + b.ShortRevision() + ")"
}()

// apiVersions are Octavia 11's API versions (octavia/api/root_controller.py);
// the last is CURRENT.
var apiVersions = []struct{ id, updated string }{
	{"v2.0", "2016-12-11T00:00:00Z"}, {"v2.1", "2018-04-20T00:00:00Z"}, {"v2.2", "2018-07-31T00:00:00Z"},
	{"v2.3", "2018-12-18T00:00:00Z"}, {"v2.4", "2018-12-19T00:00:00Z"}, {"v2.5", "2019-01-21T00:00:00Z"},
	{"v2.6", "2019-01-25T00:00:00Z"}, {"v2.7", "2018-01-25T12:00:00Z"}, {"v2.8", "2019-02-12T00:00:00Z"},
	{"v2.9", "2019-03-04T00:00:00Z"}, {"v2.10", "2019-03-05T00:00:00Z"}, {"v2.11", "2019-06-24T00:00:00Z"},
	{"v2.12", "2019-09-11T00:00:00Z"}, {"v2.13", "2019-09-13T00:00:00Z"}, {"v2.14", "2019-11-10T00:00:00Z"},
	{"v2.15", "2020-03-10T00:00:00Z"}, {"v2.16", "2020-03-15T00:00:00Z"}, {"v2.17", "2020-04-29T00:00:00Z"},
	{"v2.18", "2020-04-29T01:00:00Z"}, {"v2.19", "2020-05-12T00:00:00Z"}, {"v2.20", "2020-08-02T00:00:00Z"},
	{"v2.21", "2020-09-03T00:00:00Z"}, {"v2.22", "2020-09-04T00:00:00Z"}, {"v2.23", "2020-09-07T00:00:00Z"},
	{"v2.24", "2020-10-15T00:00:00Z"}, {"v2.25", "2021-10-02T00:00:00Z"}, {"v2.26", "2022-08-29T00:00:00Z"},
}

// versions serves the version document at /, which clients given a
// versionless endpoint (gophercloud, openstacksdk) read first.
func (h *Handler) versions(w http.ResponseWriter, r *http.Request) {
	base := requestURL(r)
	type link struct {
		Href string `json:"href"`
		Rel  string `json:"rel"`
	}
	type version struct {
		ID      string `json:"id"`
		Status  string `json:"status"`
		Updated string `json:"updated"`
		Links   []link `json:"links"`
	}
	out := make([]version, len(apiVersions))
	for i, v := range apiVersions {
		status := "SUPPORTED"
		if i == len(apiVersions)-1 {
			status = "CURRENT"
		}
		out[i] = version{ID: v.id, Status: status, Updated: v.updated, Links: []link{{Href: base + "v2", Rel: "self"}}}
	}
	w.Header().Set(serverHeader, serverBuild)
	writeJSON(w, http.StatusOK, map[string]any{"versions": out})
}
