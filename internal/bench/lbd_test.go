package bench

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

var (
	buildOnce sync.Once
	lbdBin    string
	buildErr  error
)

// testLBD builds lbd once per test binary, for the benchmark to run as a
// child process.
func testLBD(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "bench-lbd-")
		if err != nil {
			buildErr = err
			return
		}
		lbdBin = filepath.Join(dir, "lbd")
		if out, err := exec.Command("go", "build", "-o", lbdBin, "lbd/cmd/lbd").CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build lbd: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return lbdBin
}

func TestMain(m *testing.M) {
	code := m.Run()
	if lbdBin != "" {
		os.RemoveAll(filepath.Dir(lbdBin))
	}
	os.Exit(code)
}
