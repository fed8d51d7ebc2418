// Package flagdoc writes the reference of a command's flags, in Markdown,
// from the flag sets the command parses: the reference in docs/ is
// generated, and each command's test fails when the file and the flags
// drift apart.
//
// It must not import any other lbd package.
package flagdoc

import (
	"flag"
	"fmt"
	"strings"
)

// Command is one command (or subcommand) and its flags.
type Command struct {
	Usage   string // e.g. "lbd [flags]"
	Summary string // what the command does, a sentence or two
	Flags   *flag.FlagSet
	// Defaults replace a flag's default where the flag set's depends on
	// where it runs (a directory that differs for root, say).
	Defaults map[string]string
}

// Markdown renders a reference page: the title, the introduction, then each
// command's usage, summary and flags in a table (name, value type,
// default, what it does), flags sorted by name.
func Markdown(title, intro string, cmds []Command) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s\n\n", title)
	if intro != "" {
		fmt.Fprintf(&b, "%s\n\n", strings.TrimSpace(intro))
	}
	for _, c := range cmds {
		fmt.Fprintf(&b, "## `%s`\n\n", c.Usage)
		if c.Summary != "" {
			fmt.Fprintf(&b, "%s\n\n", strings.TrimSpace(c.Summary))
		}
		n := 0
		c.Flags.VisitAll(func(*flag.Flag) { n++ })
		if n == 0 {
			b.WriteString("No flags.\n\n")
			continue
		}
		b.WriteString("| flag | value | default | |\n|---|---|---|---|\n")
		c.Flags.VisitAll(func(f *flag.Flag) {
			typ, usage := flag.UnquoteUsage(f)
			if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
				typ = "bool"
			}
			def := f.DefValue
			if d, ok := c.Defaults[f.Name]; ok {
				def = d
			}
			dash := "--"
			if len(f.Name) == 1 {
				dash = "-" // -f, -o: as people type them
			}
			fmt.Fprintf(&b, "| `%s%s` | %s | %s | %s |\n", dash, f.Name, cell(typ), defaultCell(def, typ), cell(usage))
		})
		b.WriteString("\n")
	}
	return strings.TrimRight(b.String(), "\n") + "\n"
}

// defaultCell shows a default as code, or nothing for the zero value of
// its type.
func defaultCell(def, typ string) string {
	switch {
	case def == "" || (typ == "bool" && def == "false") || def == "0" || def == "0s":
		return ""
	}
	return "`" + strings.ReplaceAll(def, "|", `\|`) + "`"
}

// cell escapes what would break a table row.
func cell(s string) string {
	s = strings.ReplaceAll(s, "|", `\|`)
	return strings.ReplaceAll(s, "\n", " ")
}
