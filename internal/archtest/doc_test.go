package archtest

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The package table of docs/architecture.md is generated from the build
// graph and Rules: a row per lbd package, with the first sentence of its
// doc comment and the rules that bind it. `make docs` (LBD_UPDATE_DOCS=1)
// rewrites it; TestArchitectureDocIsCurrent fails when it drifts.
const (
	tableBegin = "<!-- BEGIN packages: generated from the package doc comments and internal/archtest/rules.go by `make docs` -->"
	tableEnd   = "<!-- END packages -->"
)

// TestArchitectureDocIsCurrent: docs/architecture.md names every package
// `go list lbd/...` finds, says what it owns as its doc comment does, and
// what it must not link as rules.go does.
func TestArchitectureDocIsCurrent(t *testing.T) {
	pkgs, _ := graph(t)
	path := filepath.Join("..", "..", "docs", "architecture.md")
	doc, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	got, err := replaceTable(string(doc), packageTable(pkgs))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if got == string(doc) {
		return
	}
	if os.Getenv("LBD_UPDATE_DOCS") == "1" {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: package table rewritten", path)
		return
	}
	t.Errorf("%s: the package table differs from the packages and rules.go; run `make docs`", path)
}

// TestArchitectureDocNamesEveryPackage: a package the table leaves out is
// caught (the check above is only as good as the generator).
func TestArchitectureDocNamesEveryPackage(t *testing.T) {
	pkgs := []*pkg{
		{ImportPath: "lbd/internal/balancer", Doc: "Package balancer picks members."},
		{ImportPath: "lbd/cmd/lbctl", Doc: "Command lbctl is the CLI."},
	}
	table := packageTable(pkgs)
	for _, want := range []string{"| `internal/balancer` | Package balancer picks members. | anything outside the standard library except `internal/stats` |",
		"| `cmd/lbctl` |"} {
		if !strings.Contains(table, want) {
			t.Errorf("table lacks %q:\n%s", want, table)
		}
	}
	if _, err := replaceTable("no markers here", table); err == nil {
		t.Error("a document without the table's markers passed")
	}
}

func replaceTable(doc, table string) (string, error) {
	i := strings.Index(doc, tableBegin)
	j := strings.Index(doc, tableEnd)
	if i < 0 || j < i {
		return "", fmt.Errorf("no package table between %q and %q", tableBegin, tableEnd)
	}
	return doc[:i+len(tableBegin)] + "\n" + table + doc[j:], nil
}

// packageTable renders a Markdown row per package, in go list's order.
func packageTable(pkgs []*pkg) string {
	var b strings.Builder
	b.WriteString("| package | owns (its doc comment) | must not link (rules.go) |\n|---|---|---|\n")
	pkgs = slices.Clone(pkgs)
	slices.SortFunc(pkgs, func(a, b *pkg) int { return strings.Compare(a.ImportPath, b.ImportPath) })
	for _, p := range pkgs {
		var bind []Rule
		for _, r := range Rules {
			if r.Pkg == "lbd/..." || !match(r.Pkg, p.ImportPath) {
				continue
			}
			if len(r.Forbid) == 1 && r.Forbid[0] == "*" && len(r.Except) == 0 && r.Pending == "" {
				bind = []Rule{r} // covers every other rule
				break
			}
			bind = append(bind, r)
		}
		var rules []string
		for _, r := range bind {
			s := names(r.Forbid)
			if len(r.Except) > 0 {
				s += " except " + names(r.Except)
			}
			if r.Pending != "" {
				s += " (pending: " + r.Pending + ")"
			}
			rules = append(rules, s)
		}
		if matchAny(testOnly, p.ImportPath) {
			rules = append(rules, "test-only: no package's own code may link it")
		}
		if len(rules) == 0 {
			rules = []string{"—"}
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s |\n", short(p.ImportPath), strings.ReplaceAll(p.Doc, "|", `\|`), strings.Join(rules, "; "))
	}
	return b.String()
}

func names(patterns []string) string {
	out := make([]string, len(patterns))
	for i, p := range patterns {
		switch p {
		case "*":
			out[i] = "anything outside the standard library"
		case "lbd/...":
			out[i] = "any lbd package"
		default:
			out[i] = "`" + short(p) + "`"
		}
	}
	return strings.Join(out, ", ")
}

// short drops the prefixes every reader knows.
func short(path string) string {
	for _, prefix := range []string{"lbd/", "github.com/gophercloud/gophercloud/v2/openstack/", "github.com/"} {
		if s, ok := strings.CutPrefix(path, prefix); ok {
			if prefix == "github.com/gophercloud/gophercloud/v2/openstack/" {
				return "gophercloud/" + s
			}
			return s
		}
	}
	return path
}
