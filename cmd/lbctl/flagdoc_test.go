package main

import (
	"os"
	"strings"
	"testing"

	"lbd/internal/flagdoc"
)

const flagDocPath = "../../docs/lbctl-flags.md"

// lbctlFlagReference is docs/lbctl-flags.md as lbctl's commands define
// their flags.
func lbctlFlagReference() string {
	cmds := commands()
	var docs []flagdoc.Command
	for _, name := range commandNames(cmds) {
		c := cmds[name]
		fs, _ := c.flagSet(name)
		summary := c.summary
		if c.args != "" {
			summary += "\n\n```\n" + c.args + "\n```"
		}
		docs = append(docs, flagdoc.Command{
			Usage: strings.ReplaceAll(c.usage, "\n       ", "`, `"), Summary: summary, Flags: fs,
			// Defaults that come from the environment lbctl runs in.
			Defaults: map[string]string{
				"endpoint": "$LBCTL_ENDPOINT, else " + defaultEndpoint,
				"token":    "$LBD_API_TOKEN",
				"os-cloud": "$OS_CLOUD",
				"metrics":  "$LBCTL_METRICS, else http://127.0.0.1:9102/metrics",
				"etcd":     "$LBD_ETCD",
			},
		})
	}
	intro := "lbctl drives a running lbd through its Octavia API, provisions the same load balancers on OpenStack,\n" +
		"runs demo backends and benchmarks the balancing algorithms. `lbctl COMMAND -h` prints a command's\n" +
		"usage, arguments, an example and these flags; `lbctl completion bash|zsh` completes them.\n\n" +
		"Go's flag syntax: `-name value`, `--name value` and `--name=value` are the same; a bool is set by\n" +
		"`--name` alone and cleared by `--name=false`. Flags may come before or after the arguments.\n\n" +
		"This page is generated from the commands' flag definitions (cmd/lbctl): `make docs` writes it again\n" +
		"after a flag changes, and a test fails while it is out of date."
	return flagdoc.Markdown("lbctl's commands and flags", intro, docs)
}

// TestFlagReferenceIsCurrent: docs/lbctl-flags.md is what lbctl's flags
// say (LBD_UPDATE_DOCS=1 writes it).
func TestFlagReferenceIsCurrent(t *testing.T) {
	want := lbctlFlagReference()
	if os.Getenv("LBD_UPDATE_DOCS") == "1" {
		if err := os.WriteFile(flagDocPath, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	got, err := os.ReadFile(flagDocPath)
	if err != nil {
		t.Fatalf("%v: run make docs", err)
	}
	if string(got) != want {
		t.Errorf("docs/lbctl-flags.md is out of date with lbctl's flags: run make docs\n--- generated:\n%s", want)
	}
}
