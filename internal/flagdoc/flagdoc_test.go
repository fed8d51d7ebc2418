package flagdoc

import (
	"flag"
	"strings"
	"testing"
	"time"
)

func TestMarkdown(t *testing.T) {
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	fs.Bool("on", true, "a switch that is on")
	fs.Bool("off", false, "a switch that is off")
	fs.Duration("wait", 30*time.Second, "how long to `wait`")
	fs.Int("n", 0, "a count | with a bar")
	fs.String("dir", "/home/me", "a directory")
	fs.Duration("d", 0, "a short one")
	got := Markdown("x's flags", "What x is.", []Command{
		{Usage: "x [flags]", Summary: "Runs x.", Flags: fs, Defaults: map[string]string{"dir": "your home"}},
		{Usage: "x version", Flags: flag.NewFlagSet("v", flag.ContinueOnError)},
	})
	want := "# x's flags\n\nWhat x is.\n\n## `x [flags]`\n\nRuns x.\n\n" +
		"| flag | value | default | |\n|---|---|---|---|\n" +
		"| `-d` | duration |  | a short one |\n" +
		"| `--dir` | string | `your home` | a directory |\n" +
		"| `-n` | int |  | a count \\| with a bar |\n" +
		"| `--off` | bool |  | a switch that is off |\n" +
		"| `--on` | bool | `true` | a switch that is on |\n" +
		"| `--wait` | wait | `30s` | how long to wait |\n\n" +
		"## `x version`\n\nNo flags.\n"
	if got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
		for i, l := range strings.Split(got, "\n") {
			t.Logf("%d %q", i, l)
		}
	}
}
