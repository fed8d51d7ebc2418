package octavia

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"

	"gopkg.in/yaml.v3"
)

// LoadFile reads, checks and normalizes lbd's YAML config. On failure the
// error is a *ValidationError listing every problem with file, line, field
// path, value and rule (a YAML syntax error is one, with its file and line
// and no field path), or an I/O error.
func LoadFile(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return Parse(path, data)
}

// ErrEmptyFile is returned by LoadFileForReload for a file with no
// loadbalancers key at all.
var ErrEmptyFile = errors.New("the config file is empty (no loadbalancers: key); write \"loadbalancers: []\" to remove every load balancer on purpose")

// LoadFileForReload is LoadFile for a reload: a file that says nothing at
// all (empty, or cut short before its first key, as an editor that
// truncates before writing leaves it for a moment) is refused rather than
// read as "no load balancers", which would drain every listener.
func LoadFileForReload(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	root, derr := decode(data)
	if !hasKey(root, "loadbalancers") {
		// Rare (a file without the key as a plain top-level key): the
		// full check. A file with it, the usual case, is parsed once.
		var probe map[string]any
		if yaml.Unmarshal(data, &probe) == nil {
			if _, ok := probe["loadbalancers"]; !ok {
				return nil, fmt.Errorf("%s: %w", path, ErrEmptyFile)
			}
		}
	}
	return parseRoot(path, data, root, derr)
}

// Parse is LoadFile for bytes already read; name labels error messages.
func Parse(name string, data []byte) (*Config, error) {
	root, err := decode(data)
	return parseRoot(name, data, root, err)
}

// decode reads data's first document into nodes: its root node (the
// document's content), or the decoder's error.
func decode(data []byte) (*yaml.Node, error) {
	var doc yaml.Node
	if err := yaml.NewDecoder(bytes.NewReader(data)).Decode(&doc); err != nil {
		return nil, err
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	return root, nil
}

// hasKey reports whether n is a mapping with the plain key k.
func hasKey(n *yaml.Node, k string) bool {
	if n == nil || n.Kind != yaml.MappingNode {
		return false
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if key := n.Content[i]; key.Kind == yaml.ScalarNode && key.ShortTag() == "!!str" && key.Value == k {
			return true
		}
	}
	return false
}

// parseRoot checks and normalizes the config decode read from data (root, or
// the decoder's error derr).
func parseRoot(name string, data []byte, root *yaml.Node, derr error) (*Config, error) {
	if derr != nil {
		if errors.Is(derr, errEOF) || len(bytes.TrimSpace(data)) == 0 {
			return &Config{}, nil // an empty file: no load balancers yet
		}
		return nil, syntaxError(name, data, derr)
	}
	sc := newSchemaCheck(name)
	sc.walk(root, configType, "")
	var cfg Config
	if err := root.Decode(&cfg); err != nil && len(sc.errs) == 0 {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	// Validate even when the schema check failed, so one run reports every
	// problem; a field already reported as mistyped is not reported again.
	cfg.SetDefaults()
	errs := sc.errs
	var ve *ValidationError
	if err := cfg.Validate(); errors.As(err, &ve) {
		for _, fe := range ve.Errors {
			if sc.reported(fe.Path) {
				continue
			}
			fe.File = name
			fe.Line = sc.lineOf(fe.Path)
			errs = append(errs, fe)
		}
	}
	if len(errs) > 0 {
		slices.SortStableFunc(errs, func(a, b *FieldError) int { return a.Line - b.Line })
		return nil, &ValidationError{Errors: errs}
	}
	paths := objectPaths(&cfg)
	cfg.Normalize()
	cfg.Origins = make(map[string]string, len(paths))
	for _, o := range paths {
		if line := sc.lineOf(o.path); line > 0 {
			cfg.Origins[*o.id] = fmt.Sprintf("%s:%d", name, line)
		}
	}
	return &cfg, nil
}

// objectPath is an object's ID field and where the object is in the file.
type objectPath struct {
	id   *string
	path string
}

// objectPaths lists, before Normalize moves inline pools and assigns IDs,
// each object's field path with its ID field, which Normalize fills.
func objectPaths(cfg *Config) []objectPath {
	var out []objectPath
	add := func(id *string, path string) { out = append(out, objectPath{id, path}) }
	pool := func(p *Pool, path string) {
		add(&p.ID, path)
		for i, m := range p.Members {
			add(&m.ID, fmt.Sprintf("%s.members[%d]", path, i))
		}
		if p.HealthMonitor != nil {
			add(&p.HealthMonitor.ID, path+".healthmonitor")
		}
	}
	for i, lb := range cfg.LoadBalancers {
		path := fmt.Sprintf("loadbalancers[%d]", i)
		add(&lb.ID, path)
		for j, l := range lb.Listeners {
			lpath := fmt.Sprintf("%s.listeners[%d]", path, j)
			add(&l.ID, lpath)
			if l.DefaultPool != nil && !isPoolReference(l.DefaultPool) {
				pool(l.DefaultPool, lpath+".default_pool")
			}
		}
		for j, p := range lb.Pools {
			pool(p, fmt.Sprintf("%s.pools[%d]", path, j))
		}
	}
	return out
}

// yamlError is how yaml.v3 words a syntax error: "yaml: line N: problem".
var yamlError = regexp.MustCompile(`^yaml: (?:line (\d+): )?(.*)$`)

// syntaxError reports a YAML syntax error as every other config error is
// reported, file:line: first. yaml.v3's line is where the construct that
// failed began (a block of listeners, say), counted from 0, not the line
// at fault; that is the first line at which the file, read up to it, fails
// with the same problem.
func syntaxError(name string, data []byte, err error) error {
	m := yamlError.FindStringSubmatch(err.Error())
	if m == nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	problem := m[2]
	line, _ := strconv.Atoi(m[1])
	lines := bytes.SplitAfter(data, []byte("\n"))
	for k := max(line, 1); k <= len(lines) && k <= line+maxSyntaxScan; k++ {
		var doc yaml.Node
		perr := yaml.NewDecoder(bytes.NewReader(bytes.Join(lines[:k], nil))).Decode(&doc)
		if pm := yamlError.FindStringSubmatch(fmt.Sprint(perr)); perr != nil && pm != nil && pm[2] == problem {
			line = k
			break
		}
	}
	return &ValidationError{Errors: []*FieldError{{File: name, Line: line, Rule: "invalid YAML: " + problem}}}
}

// maxSyntaxScan bounds how many lines past yaml.v3's syntaxError reads the
// file again for.
const maxSyntaxScan = 2000
