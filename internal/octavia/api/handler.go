package api

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"lbd/internal/octavia"
	"lbd/internal/octavia/auth"
)

// Service is what the API needs from the control plane. Read methods return
// response objects; mutations take Octavia model objects (decoded and
// shape-checked, not yet defaulted or validated) or a Patch, and return
// *Error for anything the client caused. Policy is the handler's job: the
// Service trusts its caller.
type Service interface {
	LoadBalancers() []LoadBalancer
	LoadBalancer(id string) (LoadBalancer, error)
	CreateLoadBalancer(ctx context.Context, lb *octavia.LoadBalancer) (LoadBalancerFull, error)
	UpdateLoadBalancer(ctx context.Context, id string, p Patch) (LoadBalancer, error)
	DeleteLoadBalancer(ctx context.Context, id string, cascade bool) error
	FailoverLoadBalancer(ctx context.Context, id string) error
	LoadBalancerStatus(id string) (StatusTree, error)
	LoadBalancerStats(id string) (octavia.Stats, error)

	Listeners() []Listener
	Listener(id string) (Listener, error)
	CreateListener(ctx context.Context, l *octavia.Listener) (Listener, error)
	UpdateListener(ctx context.Context, id string, p Patch) (Listener, error)
	DeleteListener(ctx context.Context, id string) error
	ListenerStats(id string) (octavia.Stats, error)

	Pools() []Pool
	Pool(id string) (Pool, error)
	CreatePool(ctx context.Context, p *octavia.Pool) (Pool, error)
	UpdatePool(ctx context.Context, id string, p Patch) (Pool, error)
	DeletePool(ctx context.Context, id string) error

	Members(poolID string) ([]Member, error)
	Member(poolID, id string) (Member, error)
	CreateMember(ctx context.Context, poolID string, m *octavia.Member) (Member, error)
	UpdateMember(ctx context.Context, poolID, id string, p Patch) (Member, error)
	DeleteMember(ctx context.Context, poolID, id string) error
	// ReplaceMembers is the batch update: members matched by address and
	// port are updated, new ones created and, unless additive, missing ones
	// deleted.
	ReplaceMembers(ctx context.Context, poolID string, members []*octavia.Member, additive bool) error

	HealthMonitors() []HealthMonitor
	HealthMonitor(id string) (HealthMonitor, error)
	CreateHealthMonitor(ctx context.Context, h *octavia.HealthMonitor) (HealthMonitor, error)
	UpdateHealthMonitor(ctx context.Context, id string, p Patch) (HealthMonitor, error)
	DeleteHealthMonitor(ctx context.Context, id string) error

	Catalog
	Amphorae
	L7
}

// Handler serves the API over a Service.
type Handler struct {
	svc Service
	log *slog.Logger
	mux *http.ServeMux
}

// NewHandler routes Octavia's v2 API, at /v2/lbaas and /v2.0/lbaas (and
// amphorae at /v2/octavia and /v2.0/octavia), and version discovery at /. Put auth.Middleware in front of it.
func NewHandler(svc Service, log *slog.Logger) *Handler {
	h := &Handler{svc: svc, log: log, mux: http.NewServeMux()}
	h.mux.HandleFunc("GET /{$}", h.versions)
	for _, prefix := range []string{"/v2/lbaas", "/v2.0/lbaas"} {
		h.routeLoadBalancers(prefix)
		h.routeListeners(prefix)
		h.routePools(prefix)
		h.routeMembers(prefix)
		h.routeMonitors(prefix)
		h.routeL7(prefix)
		h.routeCatalog(prefix)
	}
	for _, prefix := range []string{"/v2/octavia", "/v2.0/octavia"} {
		h.routeAmphorae(prefix)
	}
	h.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, Errorf(http.StatusNotFound, "The resource could not be found."))
	})
	return h
}

// IsPublic reports the requests served without a token: version discovery,
// as Octavia's SkippingAuthProtocol skips "/".
func IsPublic(r *http.Request) bool { return r.URL.Path == "/" }

// Syncer is a Service whose state may lag a shared one (the control plane
// of an lbd sharing etcd with others): Sync waits until it holds every
// change committed before the call. The Handler syncs before every
// request but version discovery: a change it cannot sync for is refused
// with Sync's error (an *Error); a read is answered from the state the
// Service has (the shared state unreachable: every instance keeps serving
// the last state).
type Syncer interface {
	Sync(ctx context.Context, change bool) error
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s, ok := h.svc.(Syncer); ok && !IsPublic(r) {
		change := r.Method != http.MethodGet && r.Method != http.MethodHead
		if err := s.Sync(r.Context(), change); err != nil {
			if change {
				h.fail(w, r, err)
				return
			}
			h.log.LogAttrs(r.Context(), slog.LevelDebug, "API read answered from this instance's state, which may lag the shared state",
				slog.String("path", r.URL.Path), slog.String("err", err.Error()))
		}
	}
	h.mux.ServeHTTP(w, r)
}

// fail answers with err; an error that is not an *Error is a bug or an I/O
// failure and is logged, since the client only sees a 500.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	var e *Error
	if !errors.As(err, &e) {
		h.log.LogAttrs(r.Context(), slog.LevelError, "API request failed",
			slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.String("error", err.Error()))
	}
	writeError(w, err)
}

// one answers a single object in its envelope, honouring ?fields=.
func (h *Handler) one(w http.ResponseWriter, r *http.Request, code int, envelope string, v any) {
	fields := r.URL.Query()["fields"]
	if len(fields) == 0 || code != http.StatusOK {
		writeJSON(w, code, map[string]any{envelope: v})
		return
	}
	m, err := toMap(v)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	keep := splitFields(fields)
	for k := range m {
		if !slices.Contains(keep, k) {
			delete(m, k)
		}
	}
	writeJSON(w, code, map[string]any{envelope: m})
}

// splitFields flattens ?fields=a,b&fields=c.
func splitFields(fields []string) []string {
	var out []string
	for _, f := range fields {
		out = append(out, strings.Split(f, ",")...)
	}
	return out
}

// listOf answers a collection of project-owned objects: policy scoping by
// project, then filters, sort and paging. sample is a response object with
// every attribute present; extra, when not nil, gives each object's
// filter-only attributes, named by hidden.
func (h *Handler) listOf(w http.ResponseWriter, r *http.Request, key string, items []any, sample any, hidden []string, extra func(i int) map[string]any) {
	q := r.URL.Query()
	c := auth.FromContext(r.Context())
	if !c.CanReadAll() {
		project := q.Get("project_id")
		if project == "" {
			project = c.ProjectID
		}
		if project == "" || !c.CanRead(project) {
			h.fail(w, r, errForbidden)
			return
		}
		q.Set("project_id", project)
	}
	h.writeList(w, r, q, listSpec{key: key, links: key + "_links", sample: sample, hidden: hidden, extra: extra, defaults: defaultSort}, items)
}

// listSpec describes how a collection is answered.
type listSpec struct {
	key, links string // the envelope keys of the objects and of their links
	sample     any    // a response object with every attribute present
	hidden     []string
	extra      func(i int) map[string]any
	defaults   []string // default sort keys
}

// writeList filters, sorts and pages items by the query q and answers them.
func (h *Handler) writeList(w http.ResponseWriter, r *http.Request, q url.Values, spec listSpec, items []any) {
	l, err := parseListing(q)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	objs := make([]map[string]any, 0, len(items))
	for i, it := range items {
		m, err := toMap(it)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		if spec.extra != nil {
			for k, v := range spec.extra(i) {
				m[k] = v
			}
		}
		objs = append(objs, m)
	}
	sm, err := toMap(spec.sample)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	known := make([]string, 0, len(sm))
	for k := range sm {
		known = append(known, k)
	}
	known = append(known, spec.hidden...)
	page, links, err := l.apply(objs, known, spec.hidden, spec.defaults, requestURL(r))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{spec.key: page, spec.links: links})
}

// requestURL is the request's URL without query: scheme, host and path.
func requestURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + r.URL.Path
}

// authorize checks the policy for an object of project: write access for
// mutations, read access otherwise.
func authorize(r *http.Request, project *string, write bool) error {
	c := auth.FromContext(r.Context())
	p := ""
	if project != nil {
		p = *project
	}
	if write && !c.CanWrite(p) || !write && !c.CanRead(p) {
		return errForbidden
	}
	return nil
}
