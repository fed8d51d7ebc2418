package octavia

import (
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

var (
	errEOF       = io.EOF
	configType   = reflect.TypeFor[Config]()
	durationType = reflect.TypeFor[Duration]()
)

// schemaCheck walks a YAML node tree against the Go types before decoding,
// so that unknown fields, wrong types and repeated keys are reported with
// their path and line, all of them in one pass. It also records the line of
// every field path, which later lets validation errors name their line.
type schemaCheck struct {
	file   string
	errs   []*FieldError
	lines  map[string]int
	fields map[reflect.Type]map[string]reflect.Type // yamlFields, once per type
}

func newSchemaCheck(file string) *schemaCheck {
	return &schemaCheck{file: file, lines: map[string]int{}, fields: map[reflect.Type]map[string]reflect.Type{}}
}

func (s *schemaCheck) fail(n *yaml.Node, path string, value any, rule string, args ...any) {
	s.errs = append(s.errs, &FieldError{File: s.file, Line: n.Line, Path: path, Value: value, Rule: fmt.Sprintf(rule, args...)})
}

// reported reports whether path, or a field above it, already has a schema
// error.
func (s *schemaCheck) reported(path string) bool {
	for _, e := range s.errs {
		if path == e.Path || strings.HasPrefix(path, e.Path+".") || strings.HasPrefix(path, e.Path+"[") {
			return true
		}
	}
	return false
}

// lineOf finds the line of path, or of its nearest ancestor that has one.
func (s *schemaCheck) lineOf(path string) int {
	for path != "" {
		if l, ok := s.lines[path]; ok {
			return l
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			break
		}
		path = path[:i]
	}
	return 0
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func (s *schemaCheck) walk(n *yaml.Node, t reflect.Type, path string) {
	for n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if path != "" {
		s.lines[path] = n.Line
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return // null leaves the field unset
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == durationType {
		if n.Kind != yaml.ScalarNode || n.Tag != "!!str" {
			s.fail(n, path, scalarValue(n), "must be a duration with its unit, such as 500ms, 30s or 5m")
		}
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			s.fail(n, path, scalarValue(n), "must be a mapping of %s fields", typeNoun(t))
			return
		}
		fields, ok := s.fields[t]
		if !ok {
			fields = yamlFields(t)
			s.fields[t] = fields
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			key := k.Value
			kpath := join(path, key)
			// A mapping has a few keys: the earlier ones are searched
			// rather than kept in a map (10,000 members, 10,000 maps).
			if first := firstKey(n, i); first != nil {
				rule := "appears twice in one mapping (first on line %d)"
				if key == "healthmonitor" {
					rule = "a pool has at most one health monitor (another is on line %d)"
				}
				s.fail(k, kpath, nil, rule, first.Line)
				continue
			}
			ft, ok := fields[key]
			if !ok {
				s.fail(k, kpath, nil, "unknown field for %s%s", typeNoun(t), suggest(key, fields))
				continue
			}
			s.walk(v, ft, kpath)
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			s.fail(n, path, scalarValue(n), "must be a list")
			return
		}
		for i, e := range n.Content {
			s.walk(e, t.Elem(), fmt.Sprintf("%s[%d]", path, i))
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			s.fail(n, path, scalarValue(n), "must be a mapping")
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			s.walk(n.Content[i+1], t.Elem(), join(path, n.Content[i].Value))
		}
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			s.fail(n, path, nil, "must be a string")
		}
	case reflect.Bool:
		if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" {
			s.fail(n, path, scalarValue(n), "must be true or false")
		}
	case reflect.Int:
		if n.Kind != yaml.ScalarNode || n.Tag != "!!int" {
			s.fail(n, path, scalarValue(n), "must be an integer")
		} else if _, err := strconv.ParseInt(n.Value, 0, 32); err != nil {
			s.fail(n, path, n.Value, "must be an integer that fits in 32 bits")
		}
	case reflect.Float64:
		if n.Kind != yaml.ScalarNode || (n.Tag != "!!float" && n.Tag != "!!int") {
			s.fail(n, path, scalarValue(n), "must be a number")
		}
	}
}

// firstKey is the key before the i-th entry of mapping n that has the
// same value, nil when there is none.
func firstKey(n *yaml.Node, i int) *yaml.Node {
	for j := 0; j < i; j += 2 {
		if n.Content[j].Value == n.Content[i].Value {
			return n.Content[j]
		}
	}
	return nil
}

func scalarValue(n *yaml.Node) any {
	if n.Kind == yaml.ScalarNode {
		return n.Value
	}
	switch n.Kind {
	case yaml.MappingNode:
		return "{...}"
	case yaml.SequenceNode:
		return "[...]"
	}
	return nil
}

// yamlFields maps a struct's YAML keys to their field types.
func yamlFields(t reflect.Type) map[string]reflect.Type {
	m := make(map[string]reflect.Type, t.NumField())
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "" || name == "-" {
			continue
		}
		m[name] = f.Type
	}
	return m
}

func typeNoun(t reflect.Type) string {
	switch t {
	case reflect.TypeFor[Config]():
		return "the config file"
	case reflect.TypeFor[LoadBalancer]():
		return "a load balancer"
	case reflect.TypeFor[Listener]():
		return "a listener"
	case reflect.TypeFor[Pool]():
		return "a pool"
	case reflect.TypeFor[Member]():
		return "a member"
	case reflect.TypeFor[HealthMonitor]():
		return "a health monitor"
	case reflect.TypeFor[SessionPersistence]():
		return "session_persistence"
	case reflect.TypeFor[L7Policy]():
		return "an L7 policy"
	case reflect.TypeFor[L7Rule]():
		return "an L7 rule"
	case reflect.TypeFor[AcceptProxy]():
		return "accept_proxy_protocol"
	case reflect.TypeFor[OpenStackConfig](), reflect.TypeFor[ServersConfig](), reflect.TypeFor[ServerMembership]():
		return "the openstack: section"
	case reflect.TypeFor[AutoscalingConfig](), reflect.TypeFor[AutoscalingMetrics](), reflect.TypeFor[ScalingRules]():
		return "openstack.autoscaling"
	}
	return strings.ToLower(t.Name())
}

// suggest names the known field closest to a misspelt one.
func suggest(key string, fields map[string]reflect.Type) string {
	best, bestD := "", 3
	for name := range fields {
		if d := editDistance(key, name); d < bestD || (d == bestD && name < best) {
			best, bestD = name, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf("; did you mean %q?", best)
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
