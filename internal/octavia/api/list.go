package api

import (
	"cmp"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// maxPageSize is Octavia's pagination_max_limit default.
const maxPageSize = 1000

// pagingParams are the query parameters that are not filters
// (octavia/api/common/pagination.py _auxiliary_arguments).
var pagingParams = []string{"limit", "marker", "sort", "sort_key", "sort_dir", "fields", "page_reverse"}

// tagParams filter on tags rather than on one attribute.
var tagParams = []string{"tags", "tags-any", "not-tags", "not-tags-any"}

// listing is a list request's filters, order and page, parsed from the
// query string as Octavia's PaginationHelper parses them.
type listing struct {
	filters     map[string][]string
	tags        map[string][]string
	sort        []sortKey
	limit       int // 0: unlimited
	marker      string
	pageReverse bool
	fields      []string
	query       url.Values
}

type sortKey struct {
	key  string
	desc bool
}

func parseListing(q url.Values) (*listing, error) {
	l := &listing{filters: map[string][]string{}, tags: map[string][]string{}, limit: maxPageSize, query: q}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		switch {
		case v == "infinite" || (err == nil && n < 1):
			l.limit = 0
		case err != nil:
			return nil, Errorf(http.StatusBadRequest, "Supplied pagination limit '%s' is not valid.", v)
		default:
			l.limit = min(n, maxPageSize)
		}
	}
	l.marker = q.Get("marker")
	l.pageReverse = q.Get("page_reverse") == "True"
	defDesc := false
	if s := q.Get("sort"); s != "" {
		for _, part := range strings.Split(s, ",") {
			k, dir, hasDir := strings.Cut(part, ":")
			desc := defDesc
			if hasDir {
				d, err := parseDir(dir)
				if err != nil {
					return nil, err
				}
				desc = d
			}
			l.sort = append(l.sort, sortKey{k, desc})
		}
	} else if s := q.Get("sort_key"); s != "" {
		dirs := strings.Split(q.Get("sort_dir"), ",")
		for i, k := range strings.Split(s, ",") {
			desc := defDesc
			if i < len(dirs) && dirs[i] != "" {
				d, err := parseDir(dirs[i])
				if err != nil {
					return nil, err
				}
				desc = d
			}
			l.sort = append(l.sort, sortKey{k, desc})
		}
	}
	for _, f := range q["fields"] {
		for _, name := range strings.Split(f, ",") {
			if name != "" {
				l.fields = append(l.fields, name)
			}
		}
	}
	for k, vs := range q {
		switch {
		case slices.Contains(pagingParams, k):
		case slices.Contains(tagParams, k):
			for _, v := range vs {
				l.tags[k] = append(l.tags[k], strings.Split(v, ",")...)
			}
		default:
			l.filters[k] = vs
		}
	}
	return l, nil
}

func parseDir(d string) (bool, error) {
	switch strings.ToLower(d) {
	case "asc":
		return false, nil
	case "desc":
		return true, nil
	}
	return false, Errorf(http.StatusBadRequest, "Supplied sort direction '%s' is not valid.", strings.ToLower(d))
}

// defaultSort is the order Octavia adds after any sort the client asks for
// (constants.DEFAULT_SORT_KEYS), each key only where the model has it.
var defaultSort = []string{"created_at", "id"}

// apply filters, sorts and pages objs (response objects as JSON objects),
// and returns the page with its links. known lists every attribute a
// filter or sort may name, hidden those that are filterable but not part
// of the response (a pool's loadbalancer_id), which are removed. Of the
// default sort keys, those not in known are left out. baseURL is the
// request's URL without query, as Octavia builds links from it.
func (l *listing) apply(objs []map[string]any, known, hidden, defaults []string, baseURL string) ([]map[string]any, []map[string]string, error) {
	for k := range l.filters {
		if !slices.Contains(known, k) {
			return nil, nil, Errorf(http.StatusBadRequest, "One or more arguments are either duplicate or invalid")
		}
	}
	objs = slices.DeleteFunc(objs, func(o map[string]any) bool { return !l.matches(o) })

	keys := append([]sortKey{}, l.sort...)
	for _, k := range defaults {
		if slices.Contains(known, k) && !slices.ContainsFunc(keys, func(s sortKey) bool { return s.key == k }) {
			keys = append(keys, sortKey{k, false})
		}
	}
	for _, k := range keys {
		if !slices.Contains(known, k.key) {
			return nil, nil, Errorf(http.StatusBadRequest, "Supplied sort key '%s' is not valid.", k.key)
		}
	}
	slices.SortStableFunc(objs, func(a, b map[string]any) int {
		for _, k := range keys {
			c := compareValues(a[k.key], b[k.key])
			if k.desc {
				c = -c
			}
			if c != 0 {
				return c
			}
		}
		return 0
	})

	if l.marker != "" {
		i := slices.IndexFunc(objs, func(o map[string]any) bool { return markerOf(o) == l.marker })
		if i < 0 {
			return nil, nil, Errorf(http.StatusBadRequest, "Supplied pagination marker '%s' is not valid.", l.marker)
		}
		if l.pageReverse {
			objs = objs[:i]
			if l.limit > 0 && len(objs) > l.limit {
				objs = objs[len(objs)-l.limit:]
			}
		} else {
			objs = objs[i+1:]
		}
	}
	if l.limit > 0 && len(objs) > l.limit {
		objs = objs[:l.limit]
	}
	links := l.links(objs, baseURL)
	for _, o := range objs {
		for _, k := range hidden {
			delete(o, k)
		}
		if len(l.fields) > 0 {
			for k := range o {
				if !slices.Contains(l.fields, k) {
					delete(o, k)
				}
			}
		}
	}
	return objs, links, nil
}

// links builds Octavia's previous/next links: previous when this page
// started at a marker, next when the page is full.
func (l *listing) links(page []map[string]any, baseURL string) []map[string]string {
	links := []map[string]string{}
	if len(page) == 0 || l.limit == 0 {
		return links
	}
	attrs := []string{fmt.Sprintf("limit=%d", l.limit)}
	if s := l.query.Get("sort"); s != "" {
		attrs = append(attrs, "sort="+s)
	}
	if s := l.query.Get("sort_key"); s != "" {
		attrs = append(attrs, "sort_key="+s)
	}
	if l.marker != "" {
		prev := append(slices.Clone(attrs), fmt.Sprintf("marker=%v", markerOf(page[0])), "page_reverse=True")
		links = append(links, map[string]string{"rel": "previous", "href": baseURL + "?" + strings.Join(prev, "&")})
	}
	if len(page) >= l.limit {
		next := append(slices.Clone(attrs), fmt.Sprintf("marker=%v", markerOf(page[len(page)-1])))
		links = append(links, map[string]string{"rel": "next", "href": baseURL + "?" + strings.Join(next, "&")})
	}
	return links
}

// markerOf is what a paging marker names: an object's id, or the name of
// an object without one (an availability zone).
func markerOf(o map[string]any) any {
	if id, ok := o["id"]; ok {
		return id
	}
	return o["name"]
}

// matches reports whether an object passes every attribute and tag filter.
// Several values of one attribute match any of them.
func (l *listing) matches(o map[string]any) bool {
	for k, want := range l.filters {
		if !slices.ContainsFunc(want, func(w string) bool { return valueMatches(o[k], w) }) {
			return false
		}
	}
	var tags []string
	if ts, ok := o["tags"].([]any); ok {
		for _, t := range ts {
			if s, ok := t.(string); ok {
				tags = append(tags, s)
			}
		}
	}
	has := func(t string) bool { return slices.Contains(tags, t) }
	if want := l.tags["tags"]; len(want) > 0 && !allOf(want, has) {
		return false
	}
	if want := l.tags["tags-any"]; len(want) > 0 && !slices.ContainsFunc(want, has) {
		return false
	}
	if want := l.tags["not-tags"]; len(want) > 0 && allOf(want, has) {
		return false
	}
	if want := l.tags["not-tags-any"]; len(want) > 0 && slices.ContainsFunc(want, has) {
		return false
	}
	return true
}

func allOf(want []string, has func(string) bool) bool {
	for _, w := range want {
		if !has(w) {
			return false
		}
	}
	return true
}

// valueMatches compares a JSON value with a query-string value: strings
// exactly, booleans case-insensitively, numbers numerically.
func valueMatches(v any, want string) bool {
	switch x := v.(type) {
	case string:
		return x == want
	case bool:
		b, err := strconv.ParseBool(strings.ToLower(want))
		return err == nil && b == x
	case json.Number:
		a, err1 := x.Float64()
		b, err2 := strconv.ParseFloat(want, 64)
		return err1 == nil && err2 == nil && a == b
	case nil:
		return want == "" || want == "None" || want == "null"
	}
	return false
}

func compareValues(a, b any) int {
	switch x := a.(type) {
	case string:
		y, _ := b.(string)
		return cmp.Compare(x, y)
	case json.Number:
		fx, _ := x.Float64()
		var fy float64
		if y, ok := b.(json.Number); ok {
			fy, _ = y.Float64()
		}
		return cmp.Compare(fx, fy)
	case bool:
		y, _ := b.(bool)
		switch {
		case x == y:
			return 0
		case !x:
			return -1
		}
		return 1
	case nil:
		if b == nil {
			return 0
		}
		return -1 // null sorts first, as Octavia's '' default does
	}
	return 0
}

func toMap(v any) (map[string]any, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode list item: %w", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("decode list item: %w", err)
	}
	return m, nil
}
