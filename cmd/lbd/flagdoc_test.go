package main

import (
	"os"
	"testing"

	"lbd/internal/flagdoc"
)

const flagDocPath = "../../docs/lbd-flags.md"

// lbdFlagReference is docs/lbd-flags.md as lbd's flags define it.
func lbdFlagReference() string {
	intro := description + "\n\n```\n" + usageLines + "\n```\n\n" + signals + "\n\n" + `Environment: LBD_API_TOKEN (the static API token, instead of --token-file) and LBD_KEYSTONE_PASSWORD
(instead of --keystone-password-file).

This page is generated from lbd's flag definitions (cmd/lbd/main.go): ` + "`make docs`" + ` writes it
again after a flag changes, and a test fails while it is out of date.`
	return flagdoc.Markdown("lbd's flags", intro, []flagdoc.Command{{
		Usage: "lbd [flags]",
		Flags: newFlags(&options{}),
		Defaults: map[string]string{
			"state-dir": "/var/lib/lbd as root; $XDG_STATE_HOME/lbd or ~/.local/state/lbd otherwise",
		},
	}})
}

// TestFlagReferenceIsCurrent: docs/lbd-flags.md is what lbd's flags say
// (LBD_UPDATE_DOCS=1 writes it).
func TestFlagReferenceIsCurrent(t *testing.T) {
	want := lbdFlagReference()
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
		t.Errorf("docs/lbd-flags.md is out of date with lbd's flags: run make docs\n--- generated:\n%s", want)
	}
}
