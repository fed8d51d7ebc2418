// Package buildinfo says which build of lbd is running: the module version
// and the commit Go stamped into the binary, and the Go that built it. lbd
// --version, lbctl version and the lbd_build_info metric family all read it,
// so they always agree.
//
// It must not import any other lbd package.
package buildinfo

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
)

// Info describes a build.
type Info struct {
	Version   string // the main module's version; "devel" when Go recorded none
	Revision  string // the VCS commit, "" when not built from a checkout
	Time      string // the commit's time (RFC 3339), "" when unknown
	Modified  bool   // the checkout had uncommitted changes
	GoVersion string // the Go toolchain that built the binary
	Platform  string // GOOS/GOARCH
}

// Read returns the running binary's build information.
func Read() Info {
	i := Info{Version: "devel", GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return i
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		i.Version = v
	}
	if bi.GoVersion != "" {
		i.GoVersion = bi.GoVersion
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			i.Revision = s.Value
		case "vcs.time":
			i.Time = s.Value
		case "vcs.modified":
			i.Modified = s.Value == "true"
		}
	}
	return i
}

// ShortRevision is the commit's first 12 hex digits, with "+dirty" for a
// modified checkout; "unknown" when there is no commit.
func (i Info) ShortRevision() string {
	if i.Revision == "" {
		return "unknown"
	}
	r := i.Revision
	if len(r) > 12 {
		r = r[:12]
	}
	if i.Modified {
		r += "+dirty"
	}
	return r
}

// Line is one line for --version: "NAME VERSION (revision R, TIME, GO
// PLATFORM)".
func (i Info) Line(name string) string {
	parts := []string{"revision " + i.ShortRevision()}
	if i.Time != "" {
		parts = append(parts, i.Time)
	}
	parts = append(parts, i.GoVersion+" "+i.Platform)
	return fmt.Sprintf("%s %s (%s)", name, i.Version, strings.Join(parts, ", "))
}
