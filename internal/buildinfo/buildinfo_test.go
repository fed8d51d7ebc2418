package buildinfo

import (
	"runtime"
	"testing"
)

func TestLine(t *testing.T) {
	i := Info{Version: "v1.2.3", Revision: "0123456789abcdef0123", Time: "2026-12-03T20:00:00Z", Modified: true, GoVersion: "go1.26.0", Platform: "linux/amd64"}
	if got, want := i.Line("lbd"), "lbd v1.2.3 (revision 0123456789ab+dirty, 2026-12-03T20:00:00Z, go1.26.0 linux/amd64)"; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	if got, want := (Info{Version: "devel", GoVersion: "go1.26.0", Platform: "linux/arm64"}).Line("lbctl"), "lbctl devel (revision unknown, go1.26.0 linux/arm64)"; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

func TestReadKnowsTheToolchain(t *testing.T) {
	i := Read()
	if i.GoVersion != runtime.Version() || i.Platform != runtime.GOOS+"/"+runtime.GOARCH || i.Version == "" {
		t.Errorf("%+v", i)
	}
}
