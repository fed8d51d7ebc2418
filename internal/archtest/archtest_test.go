package archtest

import (
	"bytes"
	"encoding/json"
	"errors"
	"go/parser"
	"go/token"
	"io"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// pkg is what `go list` says of one package.
type pkg struct {
	ImportPath string
	Dir        string
	Standard   bool
	Doc        string
	GoFiles    []string
	Deps       []string
}

// graph lists lbd's packages and every package they link, from the go
// command itself.
func graph(t *testing.T) (lbd []*pkg, std map[string]bool) {
	t.Helper()
	cmd := exec.Command("go", "list", "-deps", "-json=ImportPath,Dir,Standard,Doc,GoFiles,Deps", "lbd/...")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	std = map[string]bool{}
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		p := new(pkg)
		if err := dec.Decode(p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("go list output: %v", err)
		}
		std[p.ImportPath] = p.Standard
		if match("lbd/...", p.ImportPath) {
			lbd = append(lbd, p)
		}
	}
	if len(lbd) == 0 {
		t.Fatal("go list found no lbd package")
	}
	return lbd, std
}

// match reports whether path matches pattern (see Rule).
func match(pattern, path string) bool {
	if pattern == "*" {
		return true
	}
	if base, ok := strings.CutSuffix(pattern, "/..."); ok {
		return path == base || strings.HasPrefix(path, base+"/")
	}
	return path == pattern
}

func matchAny(patterns []string, path string) bool {
	return slices.ContainsFunc(patterns, func(p string) bool { return match(p, path) })
}

// violations returns what p links against r.
func violations(r Rule, p *pkg, std map[string]bool) []string {
	if !match(r.Pkg, p.ImportPath) {
		return nil
	}
	var bad []string
	for _, d := range p.Deps {
		if std[d] || matchAny(r.Except, d) {
			continue
		}
		if matchAny(r.Forbid, d) {
			bad = append(bad, d)
		}
	}
	return bad
}

// TestImportRules checks every rule of Rules against the build graph.
func TestImportRules(t *testing.T) {
	pkgs, std := graph(t)
	for _, r := range Rules {
		t.Logf("%s must not link %s%s: %s%s", r.Pkg, strings.Join(r.Forbid, ", "), except(r), r.Why, pending(r))
		found := false
		for _, p := range pkgs {
			if !match(r.Pkg, p.ImportPath) {
				continue
			}
			found = true
			bad := violations(r, p, std)
			if len(bad) == 0 {
				continue
			}
			if r.Pending != "" {
				t.Logf("  pending: %s links %s", p.ImportPath, strings.Join(bad, ", "))
				continue
			}
			t.Errorf("%s links %s, which the rule forbids: %s", p.ImportPath, strings.Join(bad, ", "), r.Why)
		}
		if !found {
			t.Errorf("rule for %s: no such package (renamed? update rules.go)", r.Pkg)
		}
	}
}

func except(r Rule) string {
	if len(r.Except) == 0 {
		return ""
	}
	return " except " + strings.Join(r.Except, ", ")
}

func pending(r Rule) string {
	if r.Pending == "" {
		return ""
	}
	return " [pending: " + r.Pending + "]"
}

// TestRulesCatchForbiddenImports feeds the checker a graph in which the
// packages break their rules, so that a rule that could never fail is
// caught.
func TestRulesCatchForbiddenImports(t *testing.T) {
	std := map[string]bool{"fmt": true}
	cases := []struct {
		pkg  *pkg
		want string
	}{
		{&pkg{ImportPath: "lbd/internal/health", Deps: []string{"fmt", "lbd/internal/stats", "lbd/internal/octavia"}}, "lbd/internal/octavia"},
		{&pkg{ImportPath: "lbd/internal/balancer", Deps: []string{"lbd/internal/stats", "lbd/internal/octavia"}}, "lbd/internal/octavia"},
		{&pkg{ImportPath: "lbd/internal/octavia", Deps: []string{"gopkg.in/yaml.v3", "lbd/internal/proxy"}}, "lbd/internal/proxy"},
		{&pkg{ImportPath: "lbd/cmd/lbd", Deps: []string{"lbd/internal/proxy", "github.com/gophercloud/gophercloud/v2/openstack/loadbalancer/v2/loadbalancers"}}, "github.com/gophercloud/gophercloud/v2/openstack/loadbalancer/v2/loadbalancers"},
		{&pkg{ImportPath: "lbd/cmd/lbd", Deps: []string{"lbd/internal/octavia/cloud"}}, "lbd/internal/octavia/cloud"},
		{&pkg{ImportPath: "lbd/internal/proxy", Deps: []string{"lbd/internal/certs", "lbd/internal/certs/barbican"}}, "lbd/internal/certs/barbican"},
		{&pkg{ImportPath: "lbd/internal/controlplane", Deps: []string{"lbd/internal/certs/barbican"}}, "lbd/internal/certs/barbican"},
		{&pkg{ImportPath: "lbd/internal/proxy/evloop", Deps: []string{"lbd/internal/metrics"}}, "lbd/internal/metrics"},
		{&pkg{ImportPath: "lbd/internal/proxy/http1", Deps: []string{"lbd/internal/balancer"}}, "lbd/internal/balancer"},
		{&pkg{ImportPath: "lbd/internal/proxy/evloop", Deps: []string{"lbd/internal/proxy/http1"}}, "lbd/internal/proxy/http1"},
		{&pkg{ImportPath: "lbd/internal/controlplane", Deps: []string{"lbd/internal/octavia", "lbd/internal/health"}}, "lbd/internal/health"},
		{&pkg{ImportPath: "lbd/internal/proxy", Deps: []string{"lbd/internal/lbdtest"}}, "lbd/internal/lbdtest"},
		{&pkg{ImportPath: "lbd/cmd/lbctl", Deps: []string{"lbd/internal/bench", "lbd/internal/proxy"}}, "lbd/internal/proxy"},
		{&pkg{ImportPath: "lbd/internal/bench", Deps: []string{"lbd/internal/loadgen", "lbd/internal/balancer"}}, "lbd/internal/balancer"},
		{&pkg{ImportPath: "lbd/internal/statestore", Deps: []string{"lbd/internal/octavia"}}, "lbd/internal/octavia"},
	}
	for _, c := range cases {
		var got []string
		for _, r := range Rules {
			if r.Pending == "" {
				got = append(got, violations(r, c.pkg, std)...)
			}
		}
		if !slices.Contains(got, c.want) {
			t.Errorf("%s linking %s: no rule broken", c.pkg.ImportPath, c.want)
		}
	}
	allowed := &pkg{ImportPath: "lbd/internal/health", Deps: []string{"fmt", "lbd/internal/stats", "golang.org/x/net/icmp"}}
	for _, r := range Rules {
		if bad := violations(r, allowed, std); len(bad) > 0 {
			t.Errorf("health linking %v breaks the rule for %s", bad, r.Pkg)
		}
	}
}

// TestPackageDocsSayWhatNotToImport: every lbd package's doc comment says
// what the package must not import, so that a reader learns the rule
// where the code is.
func TestPackageDocsSayWhatNotToImport(t *testing.T) {
	pkgs, _ := graph(t)
	for _, p := range pkgs {
		var doc strings.Builder
		for _, f := range p.GoFiles {
			file, err := parser.ParseFile(token.NewFileSet(), filepath.Join(p.Dir, f), nil, parser.PackageClauseOnly|parser.ParseComments)
			if err != nil {
				t.Fatal(err)
			}
			if file.Doc != nil {
				doc.WriteString(file.Doc.Text())
			}
		}
		text := strings.Join(strings.Fields(doc.String()), " ")
		switch {
		case text == "":
			t.Errorf("%s has no package doc comment", p.ImportPath)
		case !strings.Contains(text, "must not import"):
			t.Errorf("%s: the package doc comment does not say what it must not import", p.ImportPath)
		}
	}
}
