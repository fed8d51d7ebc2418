package bench

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"lbd/internal/octavia"
)

// scenarioFile is a scenario as written in YAML. Durations are strings so a
// bad one is reported with its field path, value and rule.
type scenarioFile struct {
	Name                 string                 `yaml:"name"`
	Description          string                 `yaml:"description"`
	Duration             string                 `yaml:"duration"`
	Rate                 *float64               `yaml:"rate"`
	Concurrency          *int                   `yaml:"concurrency"`
	Clients              *int                   `yaml:"clients"`
	ConnectionsPerClient *int                   `yaml:"connections_per_client"`
	Timeout              string                 `yaml:"timeout"`
	Path                 string                 `yaml:"path"`
	Algorithms           []string               `yaml:"algorithms"`
	HealthMonitor        *octavia.HealthMonitor `yaml:"healthmonitor"`
	Members              []memberFile           `yaml:"members"`
	Events               []eventFile            `yaml:"events"`
	Remap                *remapFile             `yaml:"remap"`
}

type memberFile struct {
	Name         string   `yaml:"name"`
	Weight       *int     `yaml:"weight"`
	Latency      string   `yaml:"latency"`
	Distribution string   `yaml:"distribution"`
	Spread       string   `yaml:"spread"`
	ErrorRate    *float64 `yaml:"error_rate"`
	MaxInFlight  *int     `yaml:"max_inflight"`
}

type eventFile struct {
	At     string `yaml:"at"`
	Member string `yaml:"member"`
	Action string `yaml:"action"`
}

type remapFile struct {
	Member  string `yaml:"member"`
	Clients *int   `yaml:"clients"`
}

// LoadFile reads and validates a scenario file.
func LoadFile(path string) (*Scenario, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read scenario: %w", err)
	}
	return Parse(path, data)
}

// Parse reads a scenario from YAML; name labels error messages and, without
// a name: field, names the scenario. Unknown fields are errors. Every
// problem is reported at once as an *octavia.ValidationError whose entries
// carry file, line, field path, value and rule.
func Parse(name string, data []byte) (*Scenario, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var f scenarioFile
	if err := dec.Decode(&f); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s: empty scenario", name)
		}
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	s, probs := f.scenario()
	if s.Name == "" {
		s.Name = strings.TrimSuffix(filepath.Base(name), filepath.Ext(name))
	}
	if err := s.Validate(); err != nil {
		var ve *octavia.ValidationError
		if !errors.As(err, &ve) {
			return nil, err
		}
		for _, fe := range ve.Errors {
			if !probs.has(fe.Path) { // a value that did not parse is reported once
				probs.list = append(probs.list, fe)
			}
		}
	}
	if len(probs.list) == 0 {
		return s, nil
	}
	for _, fe := range probs.list {
		fe.File = name
		fe.Line = lineOf(&root, fe.Path)
	}
	return nil, &octavia.ValidationError{Errors: probs.list}
}

// problems collects field errors.
type problems struct{ list []*octavia.FieldError }

func (p *problems) add(path string, value any, rule string, args ...any) {
	if len(args) > 0 {
		rule = fmt.Sprintf(rule, args...)
	}
	p.list = append(p.list, &octavia.FieldError{Path: path, Value: value, Rule: rule})
}

func (p *problems) has(path string) bool {
	for _, fe := range p.list {
		if fe.Path == path {
			return true
		}
	}
	return false
}

func (p *problems) err() error {
	if len(p.list) == 0 {
		return nil
	}
	return &octavia.ValidationError{Errors: p.list}
}

// scenario converts the file's values, filling defaults. Values that do
// not parse are reported here; ranges are Validate's job.
func (f *scenarioFile) scenario() (*Scenario, *problems) {
	p := &problems{}
	dur := func(path, v string, def time.Duration) time.Duration {
		if v == "" {
			return def
		}
		d, err := time.ParseDuration(v)
		if err != nil {
			p.add(path, v, "must be a duration such as 250ms, 10s or 1m")
		}
		return d
	}
	s := &Scenario{
		Name:                 f.Name,
		Description:          strings.TrimSpace(f.Description),
		Duration:             dur("duration", f.Duration, 0),
		Clients:              intOr(f.Clients, DefaultClients),
		ConnectionsPerClient: intOr(f.ConnectionsPerClient, DefaultConnectionsPerClient),
		Timeout:              dur("timeout", f.Timeout, DefaultTimeout),
		Path:                 f.Path,
		HealthMonitor:        f.HealthMonitor,
	}
	if f.Duration == "" {
		p.add("duration", nil, "is required")
	}
	if f.Rate != nil {
		s.Rate = *f.Rate
	}
	if f.Concurrency != nil {
		s.Concurrency = *f.Concurrency
	}
	if s.Path == "" {
		s.Path = "/"
	}
	for i, a := range f.Algorithms {
		alg, ok := ParseAlgorithm(a)
		if !ok {
			p.add(fmt.Sprintf("algorithms[%d]", i), a, "must be ROUND_ROBIN (RR), LEAST_CONNECTIONS (LC), SOURCE_IP (SIP) or SOURCE_IP_PORT (SIPP)")
		}
		s.Algorithms = append(s.Algorithms, alg)
	}
	if len(f.Algorithms) == 0 {
		s.Algorithms = append(s.Algorithms, DefaultAlgorithms...)
	}
	for i, m := range f.Members {
		path := fmt.Sprintf("members[%d]", i)
		mem := Member{
			Name:         m.Name,
			Weight:       intOr(m.Weight, 1),
			Latency:      dur(path+".latency", m.Latency, 0),
			Distribution: m.Distribution,
			Spread:       dur(path+".spread", m.Spread, 0),
			MaxInFlight:  intOr(m.MaxInFlight, 0),
		}
		if mem.Distribution == "" {
			mem.Distribution = "fixed"
		}
		if m.ErrorRate != nil {
			mem.ErrorRate = *m.ErrorRate
		}
		s.Members = append(s.Members, mem)
	}
	for i, e := range f.Events {
		path := fmt.Sprintf("events[%d]", i)
		at, ok := parseAt(e.At)
		switch {
		case e.At == "":
			p.add(path+".at", nil, "is required")
		case !ok:
			p.add(path+".at", e.At, "must be a positive duration such as 2s, or a share of the run such as 40%")
		}
		s.Events = append(s.Events, Event{At: at, Member: e.Member, Action: Action(e.Action)})
	}
	s.Remap = Remap{Clients: DefaultRemapClients}
	if f.Remap != nil {
		s.Remap.Member = f.Remap.Member
		s.Remap.Clients = intOr(f.Remap.Clients, DefaultRemapClients)
	}
	return s, p
}

func intOr(p *int, def int) int {
	if p == nil {
		return def
	}
	return *p
}

// lineOf finds the line of a field path such as members[1].latency in a
// YAML document; 0 when the path is not there (a missing field reports its
// parent's line).
func lineOf(root *yaml.Node, path string) int {
	n := root
	if n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
		n = n.Content[0]
	}
	line := n.Line
	for seg := range strings.SplitSeq(path, ".") {
		key, idx := seg, -1
		if i := strings.IndexByte(seg, '['); i >= 0 && strings.HasSuffix(seg, "]") {
			key = seg[:i]
			v, err := strconv.Atoi(seg[i+1 : len(seg)-1])
			if err != nil {
				return line
			}
			idx = v
		}
		if n.Kind != yaml.MappingNode {
			return line
		}
		var next *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == key {
				next = n.Content[i+1]
				line = n.Content[i].Line
			}
		}
		if next == nil {
			return line
		}
		n = next
		if idx >= 0 {
			if n.Kind != yaml.SequenceNode || idx >= len(n.Content) {
				return line
			}
			n = n.Content[idx]
			line = n.Line
		}
	}
	return line
}
