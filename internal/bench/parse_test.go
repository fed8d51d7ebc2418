package bench

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"lbd/internal/octavia"
)

func TestShippedScenariosParse(t *testing.T) {
	files, err := filepath.Glob("../../configs/bench/*.yaml")
	if err != nil || len(files) < 5 {
		t.Fatalf("scenario files: %v %v", files, err)
	}
	for _, f := range files {
		s, err := LoadFile(f)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if s.Name != strings.TrimSuffix(filepath.Base(f), ".yaml") {
			t.Errorf("%s: name %q does not match the file name", f, s.Name)
		}
		if s.Description == "" {
			t.Errorf("%s: no description", f)
		}
	}
}

func TestParseDefaults(t *testing.T) {
	s, err := Parse("x.yaml", []byte("duration: 2s\nrate: 100\nmembers: [{name: a}, {name: b, weight: 3}]\nevents: [{at: 50%, member: a, action: drain}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if s.Name != "x" || s.Clients != DefaultClients || s.Timeout != DefaultTimeout || s.Path != "/" ||
		len(s.Algorithms) != 3 || s.Members[0].Weight != 1 || s.Members[1].Weight != 3 || s.Members[0].Distribution != "fixed" ||
		s.Remap.Clients != DefaultRemapClients || s.RemapMember() != "a" {
		t.Errorf("defaults not filled: %+v", s)
	}
	if got := s.Events[0].At.In(10 * time.Second); got != 5*time.Second {
		t.Errorf("50%% of 10s = %v", got)
	}
}

// TestParseErrors checks that each bad value is reported with its file,
// line, field path, value and rule, all problems at once.
func TestParseErrors(t *testing.T) {
	const doc = `name: bad
duration: 10x
rate: 100
concurrency: 4
clients: 0
algorithms: [RR, FASTEST, rr]
healthmonitor: {type: HTTP, delay: 1, timeout: 1, max_retries: 11}
members:
  - {name: a, latency: 5ms, distribution: gaussian}
  - {name: a, weight: 300, error_rate: 1.5, latency: 1ms, distribution: uniform, spread: 2ms}
  - {name: "bad name", max_inflight: -1}
events:
  - {at: 120%, member: a, action: drain}
  - {at: 1s, member: z, action: explode}
remap: {member: nobody}
`
	_, err := Parse("bad.yaml", []byte(doc))
	var ve *octavia.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("want a ValidationError, got %v", err)
	}
	want := []string{
		`bad.yaml:2: duration: "10x": must be a duration`,
		`bad.yaml:3: rate: 100: set either rate (open loop) or concurrency (closed loop), not both`,
		`bad.yaml:5: clients: 0: must be between 1 and 65536`,
		`bad.yaml:6: algorithms[1]: "FASTEST": must be ROUND_ROBIN (RR)`,
		`bad.yaml:6: algorithms[2]: "ROUND_ROBIN": is listed twice`,
		`bad.yaml:9: members[0].distribution: "gaussian": must be fixed, uniform, exponential or lognormal`,
		`bad.yaml:10: members[1].name: "a": is used by another member`,
		`bad.yaml:10: members[1].weight: 300: must be between 0 and 256`,
		`bad.yaml:10: members[1].spread: "2ms": must not exceed latency (1ms) for a uniform distribution`,
		`bad.yaml:10: members[1].error_rate: 1.5: must be between 0 and 1`,
		`bad.yaml:11: members[2].name: "bad name": must be 1 to 64 letters`,
		`bad.yaml:11: members[2].max_inflight: -1: must be 0 (no limit) or greater`,
		`bad.yaml:13: events[0].at: "120%": must be a positive duration such as 2s, or a share of the run such as 40%`,
		`bad.yaml:14: events[1].member: "z": must name one of the members`,
		`bad.yaml:14: events[1].action: "explode": must be drain, undrain, fail or recover`,
		`bad.yaml:15: remap.member: "nobody": must name one of the members`,
	}
	msg := err.Error()
	for _, w := range want {
		if !strings.Contains(msg, w) {
			t.Errorf("missing %q in:\n%s", w, msg)
		}
	}
	if len(ve.Errors) != len(want) {
		t.Errorf("%d problems, want %d:\n%s", len(ve.Errors), len(want), msg)
	}
}

func TestParseRejects(t *testing.T) {
	tests := []struct{ name, doc, want string }{
		{"unknown field", "duration: 1s\nrate: 1\nmembers: [{name: a, colour: red}]\n", "field colour not found"},
		{"wrong type", "duration: 1s\nrate: fast\nmembers: [{name: a}]\n", "cannot unmarshal"},
		{"no load", "duration: 1s\nmembers: [{name: a}]\n", "rate: one of rate (requests per second, open loop) or concurrency (closed loop) is required"},
		{"no duration", "rate: 5\nmembers: [{name: a}]\n", "x.yaml:1: duration: is required"},
		{"no members", "duration: 1s\nrate: 5\n", "members: 0: must list between 1 and 64 members"},
		{"all drained", "duration: 1s\nrate: 5\nmembers: [{name: a, weight: 0}]\n", "at least one member must have a weight above 0"},
		{"event after end", "duration: 1s\nrate: 5\nmembers: [{name: a}]\nevents: [{at: 2s, member: a, action: fail}]\n", `x.yaml:4: events[0].at: "2s": must be before the end of the run (duration 1s)`},
		{"monitor by octavia rules", "duration: 1s\nrate: 5\nmembers: [{name: a}]\nhealthmonitor: {type: HTTP, delay: 1, timeout: 1, max_retries: 11}\n", "x.yaml:4: healthmonitor.max_retries: 11: must be between 1 and 10"},
		{"path", "duration: 1s\nrate: 5\npath: x y\nmembers: [{name: a}]\n", `x.yaml:3: path: "x y": must start with /`},
		{"empty", "", "empty scenario"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("x.yaml", []byte(tt.doc))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestParseAlgorithm(t *testing.T) {
	for in, want := range map[string]octavia.Algorithm{
		"rr": octavia.AlgorithmRoundRobin, " LC ": octavia.AlgorithmLeastConnections, "source_ip": octavia.AlgorithmSourceIP,
		"SIPP": octavia.AlgorithmSourceIPPort,
	} {
		if got, ok := ParseAlgorithm(in); !ok || got != want {
			t.Errorf("ParseAlgorithm(%q) = %q, %v", in, got, ok)
		}
	}
	if _, ok := ParseAlgorithm("RANDOM"); ok {
		t.Error("RANDOM accepted")
	}
}
